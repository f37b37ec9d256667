"""The deliveries of refresh in-process (commands/deliver.py): sent when their document
changed, retried with backoff when they fail, recorded for status, and, in the watch,
sent again after the refresh of a token they carry."""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import pytest

from docker_credential_ecr.commands import refresh
from docker_credential_ecr.commands.context import Context
from docker_credential_ecr.commands.deliver import Deliverer, refreshed, usable
from docker_credential_ecr.errors import InputError
from support.services import CONFIG, HOST, OTHER, World, context, output


def configured(tmp_path: Path, deliveries: str) -> tuple[World, Context]:
    """A world configured with these delivery sections too, and a command context over it."""
    w = World(tmp_path, config=CONFIG + deliveries)
    ctx = context(w, tmp_path)
    ctx.cache = type(ctx.cache)(str(tmp_path / "cache"), True, True, [])
    return w, ctx


def to_file(tmp_path: Path, name: str = "out", registries: str = "") -> str:
    path = tmp_path / f"{name}.json"
    return f'\n[deliveries.{name}]\nformat = "dockerconfigjson"\nfile = "{path}"\n' + (
        f"registries = [{registries}]\n" if registries else ""
    )


def passwords(path: Path) -> dict[str, str]:
    auths = json.loads(path.read_text())["auths"]
    return {host: entry["password"] for host, entry in auths.items()}


def test_a_pass_sends_each_delivery_once_until_its_tokens_change(tmp_path: Path) -> None:
    w, ctx = configured(tmp_path, to_file(tmp_path))
    deliverer = Deliverer(ctx, refreshed(ctx), lambda n: 2.0**n)
    assert deliverer.tick(w.now) == (None, 0)
    assert passwords(tmp_path / "out.json") == {HOST: "s1", OTHER: "s2"}
    assert (
        output(ctx)
        == "delivery out: delivered 2 registries to " + str(tmp_path / "out.json") + "\n"
    )
    (tmp_path / "out.json").write_text("changed by hand")
    again = Deliverer(ctx, refreshed(ctx), lambda n: 2.0**n)  # a later pass: the ledger says
    assert again.tick(w.now) == (None, 0)
    assert (tmp_path / "out.json").read_text() == "changed by hand"
    assert again.tick(w.now, force=True) == (None, 0)  # --all sends it anyway
    assert passwords(tmp_path / "out.json") == {HOST: "s1", OTHER: "s2"}
    assert len(w.asked) == 2


def test_a_delivery_carries_only_its_registries(tmp_path: Path) -> None:
    w, ctx = configured(tmp_path, to_file(tmp_path, registries='"*.eu-west-1.amazonaws.com"'))
    Deliverer(ctx, refreshed(ctx), lambda n: 1.0).tick(w.now)
    assert passwords(tmp_path / "out.json") == {OTHER: "s1"}
    assert [host for host, _ in w.asked] == [OTHER]


def test_a_failing_delivery_backs_off_and_holds_up_no_other(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    bad = f'\n[deliveries.bad]\nformat = "dockerconfigjson"\nfile = "{shared}/x.json"\n'
    w, ctx = configured(tmp_path, bad + to_file(tmp_path, "good"))
    deliverer = Deliverer(ctx, refreshed(ctx), lambda n: 10.0 * n)
    assert deliverer.tick(w.now) == (w.now + 10.0, 1)
    assert (tmp_path / "good.json").exists()
    assert "delivery bad: failed: " in output(ctx)
    assert "retrying in 10s" in output(ctx)
    assert deliverer.tick(w.now + 5) == (w.now + 10.0, 0)  # not yet due: not tried
    assert deliverer.tick(w.now + 10) == (w.now + 30.0, 1)  # the second failure waits longer
    (record,) = [r for n, r in deliverer.ledger.read().items() if n == "bad"]
    assert (record.last_success, record.last_failure) == (None, w.now + 10)
    assert "writable" in record.reason
    assert "s1" not in json.dumps(record.as_dict())


def test_a_registry_without_a_token_is_left_out_and_said(tmp_path: Path) -> None:
    w, ctx = configured(tmp_path, to_file(tmp_path))
    w.fail = True
    assert Deliverer(ctx, refreshed(ctx), lambda n: 1.0).tick(w.now) == (w.now + 1.0, 1)
    assert f"{HOST}: failed: AccessDeniedException: no" in output(ctx)
    assert f"delivery out: failed: no token for {HOST}, {OTHER}" in output(ctx)
    assert not (tmp_path / "out.json").exists()


def test_refresh_deliver_needs_deliveries_and_names_no_hosts(tmp_path: Path) -> None:
    _, ctx = configured(tmp_path, "")
    options = argparse.Namespace(hosts=[], all=False, deliver=True, watch=False)
    with pytest.raises(InputError, match="the configuration has no \\[deliveries\\]"):
        refresh.main(options, ctx)
    _, ctx = configured(tmp_path, to_file(tmp_path))
    options.hosts = [HOST]
    with pytest.raises(InputError, match="each delivery names its registries"):
        refresh.main(options, ctx)
    options.hosts = []
    assert refresh.main(options, ctx) == 0


def test_the_watch_delivers_again_after_it_refreshes_a_token(tmp_path: Path) -> None:
    w, ctx = configured(tmp_path, to_file(tmp_path, registries=f'"{HOST}"'))
    rng = random.Random(1)
    deliverer = Deliverer(ctx, usable(ctx), lambda n: 1.0)
    watch = refresh.Watch(ctx, [], 300.0, rng, deliverer)
    watch.tick()
    first = passwords(tmp_path / "out.json")
    w.now += 43200 * 0.9  # well into the token's refresh window
    watch.tick()
    second = passwords(tmp_path / "out.json")
    assert second[HOST] != first[HOST]
    lines = output(ctx).splitlines()
    delivered = f"delivery out: delivered 1 registries to {tmp_path / 'out.json'}"
    assert lines.count(delivered) == 2
    # The report names registries and places: each line is one of these, never a secret.
    assert all(line == delivered or ": refreshed, expires " in line for line in lines), lines


def test_a_delivery_naming_a_host_not_ecrs_fails_alone(tmp_path: Path) -> None:
    sections = to_file(tmp_path, "typo", registries='"docker.io"') + to_file(tmp_path, "good")
    w, ctx = configured(tmp_path, sections)
    watch = refresh.Watch(
        ctx, [], 300.0, random.Random(1), Deliverer(ctx, usable(ctx), lambda n: 5.0)
    )
    assert watch.tick() == w.now + 5.0  # the failed delivery's retry comes first
    assert "delivery typo: failed: docker-credential-ecr: docker.io is not an ECR registry" in (
        output(ctx)
    )
    assert (tmp_path / "good.json").exists()


def test_a_file_its_format_cannot_merge_into_fails_and_is_left_as_it_was(tmp_path: Path) -> None:
    target = tmp_path / "registries.yaml"
    target.write_text("- not a mapping\n")
    section = f'\n[deliveries.rke2]\nformat = "registries-yaml"\nfile = "{target}"\n'
    w, ctx = configured(tmp_path, section)
    assert Deliverer(ctx, refreshed(ctx), lambda n: 7.0).tick(w.now) == (w.now + 7.0, 1)
    assert f"delivery rke2: failed: {target}: the file is not a mapping" in output(ctx)
    assert target.read_text() == "- not a mapping\n"


def test_a_file_too_large_to_read_whole_is_not_merged_into(tmp_path: Path) -> None:
    from docker_credential_ecr import files

    target = tmp_path / "registries.yaml"
    original = "# " + "x" * files.READ_LIMIT + "\nmirrors: {}\n"
    target.write_text(original)
    section = f'\n[deliveries.rke2]\nformat = "registries-yaml"\nfile = "{target}"\n'
    w, ctx = configured(tmp_path, section)
    assert Deliverer(ctx, refreshed(ctx), lambda n: 7.0).tick(w.now)[1] == 1
    assert "not merging into it" in output(ctx)
    assert target.read_text() == original  # nothing of it lost
