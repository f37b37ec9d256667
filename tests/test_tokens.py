"""The token service in-process, over a real cache on disk (the Docker store over it is
in test_backend.py).

The fetcher is the one fake (support.services.World): the seam where ecr.py would
call AWS.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from docker_credential_ecr.errors import CredentialsNotFound, TokenError
from docker_credential_ecr.fileconfig import WebIdentity
from support.services import ALIAS, HOST, OTHER, T0, World, tag


@pytest.fixture
def w(tmp_path: Path) -> World:
    return World(tmp_path)


def test_a_target_is_resolved_once_through_its_alias(w: World) -> None:
    target = w.tokens.target(f"https://{ALIAS}/v2/")
    assert target is not None
    assert (target.host, target.key) == (HOST, f"{HOST}~default")
    assert w.tokens.target("index.docker.io") is None


def test_a_configured_identity_is_the_key_and_what_the_fetch_is_given(w: World) -> None:
    target = w.tokens.target(OTHER)
    assert target is not None
    assert target.config.profile == "puller"
    assert target.key == f"{OTHER}~{tag(target.config.identity())}"
    w.tokens.token(target)
    assert w.asked == [(OTHER, target.config)]


def test_a_web_identity_is_another_key(w: World) -> None:
    plain = w.tokens.target(HOST)
    role = w.tokens.target(HOST, WebIdentity("arn:aws:iam::1:role/pod", "jwt", "d1"))
    assert plain is not None
    assert role is not None
    assert role.key != plain.key
    assert role.config.web_identity is not None


def test_a_token_is_fetched_once_then_served_from_the_cache(w: World) -> None:
    target = w.tokens.target(HOST)
    assert target is not None
    assert w.tokens.cached(target) is None
    first = w.tokens.token(target)
    assert w.tokens.token(target) == first
    assert w.tokens.cached(target) == first
    assert len(w.asked) == 1
    assert w.tokens.token(target, force=True).secret == "s2"


def test_lease_gives_the_token_and_the_start_of_its_refresh_window(w: World) -> None:
    leased = w.tokens.lease(HOST)
    assert leased is not None
    token, refresh_at = leased
    assert refresh_at == token.refresh_at(None)
    assert T0 < refresh_at < token.expires_at
    assert w.tokens.lease("quay.io") is None


def test_a_failed_fetch_for_ecr_public_lets_the_client_go_anonymous(w: World) -> None:
    w.fail = True
    with pytest.raises(CredentialsNotFound):
        w.tokens.lease("public.ecr.aws")
    with pytest.raises(TokenError, match="AccessDeniedException"):
        w.tokens.lease(HOST)


def test_cached_entries_say_which_identity_is_current(w: World) -> None:
    target = w.tokens.target(HOST)
    assert target is not None
    w.tokens.token(target)
    w.cache.write(f"{HOST}~0123456789abcdef", w.fetch(target.registry, target.config), w.now)
    found = {(e.host, e.tag, e.current) for e in w.tokens.cached_entries()}
    assert found == {(HOST, "default", True), (HOST, "0123456789abcdef", False)}
