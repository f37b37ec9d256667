"""The token service and the Docker store, in-process, over a real cache on disk.

The fetcher is the one fake (support.services.World): the seam where ecr.py would
call AWS.  The store's contract (``StoreContract``) runs against the store over each
cache the helper has, as keyring's backend tests run against every keyring.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from docker_credential_ecr.cache import NullCache
from docker_credential_ecr.errors import CacheError, CredentialsNotFound, TokenError
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


class StoreContract:
    """What every Docker store must do, whatever cache it keeps tokens in."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> World:
        raise NotImplementedError

    def test_an_ecr_host_gets_a_token(self, store: World) -> None:
        user, secret = store.store.get(f"https://{HOST}")
        assert (user, secret) == ("AWS", "s1")

    def test_a_host_not_ecrs_gets_its_stored_login_or_nothing(self, store: World) -> None:
        with pytest.raises(CredentialsNotFound):
            store.store.get("quay.io")
        store.store.add("quay.io", "robot", "pw")
        assert store.store.get("quay.io") == ("robot", "pw")
        assert store.store.list()["quay.io"] == "robot"
        store.store.delete("quay.io")
        with pytest.raises(CredentialsNotFound):
            store.store.get("quay.io")

    def test_a_login_for_an_ecr_host_is_its_token_while_valid(self, store: World) -> None:
        payload = json.dumps({"expiration": int(T0 + 3600)}).encode()
        secret = base64.b64encode(payload).decode()
        store.store.add(HOST, "AWS", secret)
        if store.cache.enabled:
            assert store.store.get(HOST) == ("AWS", secret)
            assert store.asked == []
        else:
            assert store.warnings == [f"caching is disabled, so the login for {HOST} is not kept"]

    def test_erase_forgets_the_cached_token(self, store: World) -> None:
        store.store.get(HOST)
        store.store.delete(HOST)
        store.store.get(HOST)
        assert len(store.asked) == 2


class TestStoreOverTheTokenCache(StoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> World:
        return World(tmp_path)

    def test_list_shows_the_cached_token(self, store: World) -> None:
        store.store.get(HOST)
        assert store.store.list() == {f"https://{HOST}": "AWS"}


class TestStoreOverNoCache(StoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> World:
        return World(tmp_path, NullCache())

    def test_every_get_fetches(self, store: World) -> None:
        store.store.get(HOST)
        store.store.get(HOST)
        assert len(store.asked) == 2
        assert store.store.list() == {}


def test_a_login_that_cannot_be_kept_is_one_line_naming_the_server(
    tmp_path: Path,
) -> None:
    # Where the cache and the logins should be, a file: nothing can be written there.
    (tmp_path / "cache").write_text("")
    (tmp_path / "logins").write_text("")
    w = World(tmp_path)
    payload = json.dumps({"expiration": int(T0 + 3600)}).encode()
    for server in (HOST, "quay.io"):
        with pytest.raises(CacheError, match=re.escape(f"cannot store the login for {server}: ")):
            w.store.add(server, "AWS", base64.b64encode(payload).decode())
    with pytest.raises(CacheError, match=re.escape("cannot erase quay.io: ")):
        w.store.delete("quay.io")
