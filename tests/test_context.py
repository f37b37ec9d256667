"""What every operator command shares (commands/context.py), in-process: the registries a
command acts on by default, names resolved to targets, mistakes as one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from docker_credential_ecr.commands.context import Parser, known_hosts, targets, when
from docker_credential_ecr.errors import InputError
from support.services import ALIAS, HOST, OTHER, World, context

THIRD = "333333333333.dkr.ecr.ap-south-1.amazonaws.com"


@pytest.fixture
def w(tmp_path: Path) -> World:
    return World(tmp_path)


def test_known_hosts_are_the_configured_the_aliased_and_the_cached(
    w: World, tmp_path: Path
) -> None:
    ctx = context(w, tmp_path)
    # Configured: OTHER; an alias's target: HOST.  Nothing cached yet.
    assert known_hosts(ctx) == sorted([HOST, OTHER])
    w.put(THIRD)
    assert known_hosts(ctx) == sorted([HOST, OTHER, THIRD])


def test_a_token_cached_under_another_identity_is_not_a_known_host(
    w: World, tmp_path: Path
) -> None:
    w.put(THIRD, tag="0123456789abcdef")
    assert THIRD not in known_hosts(context(w, tmp_path))


def test_targets_resolve_aliases_and_default_to_the_known_hosts(w: World, tmp_path: Path) -> None:
    ctx = context(w, tmp_path)
    assert [t.host for t in targets(ctx, [ALIAS, f"https://{OTHER}/v2/"])] == [HOST, OTHER]
    assert [t.host for t in targets(ctx, [])] == sorted([HOST, OTHER])


def test_a_name_not_ecrs_is_one_line(w: World, tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        targets(context(w, tmp_path), [HOST, "docker.io"])
    assert str(caught.value) == (
        "docker-credential-ecr: docker.io is not an ECR registry (nor an alias of one)"
    )


def test_an_argument_mistake_is_an_input_error_not_an_exit() -> None:
    parser = Parser(prog="docker-credential-ecr status")
    parser.add_argument("--json", action="store_true")
    with pytest.raises(InputError) as caught:
        parser.parse_args(["--yaml"])
    assert str(caught.value) == (
        "docker-credential-ecr status: unrecognized arguments: --yaml (see --help)"
    )


def test_when_is_utc_to_the_second() -> None:
    assert when(1_800_000_000.9) == "2027-01-15T08:00:00Z"
