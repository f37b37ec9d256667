"""The Docker store (backend.DockerStore) in-process, over a real cache on disk.

Its contract (``StoreContract``) runs against the store over each cache the helper has,
as keyring's backend tests run against every keyring.  The fetcher is the one fake
(support.services.World): the seam where ecr.py would call AWS.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from docker_credential_ecr.backend import DockerStore
from docker_credential_ecr.cache import NullCache
from docker_credential_ecr.errors import CacheError, CredentialsNotFound
from support.services import ALIAS, HOST, OTHER, T0, World

# What list names before any token: World's configured registry and its alias.
CONFIGURED = {f"https://{OTHER}": "AWS", f"https://{ALIAS}": "AWS"}


@pytest.fixture
def w(tmp_path: Path) -> World:
    return World(tmp_path)


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
        assert store.store.list() == {f"https://{HOST}": "AWS", **CONFIGURED}


class TestStoreOverNoCache(StoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> World:
        return World(tmp_path, NullCache())

    def test_every_get_fetches(self, store: World) -> None:
        store.store.get(HOST)
        store.store.get(HOST)
        assert len(store.asked) == 2
        assert store.store.list() == CONFIGURED


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


def login_secret(expires: float) -> str:
    """A password as ECR issues it: base64 of a payload naming its expiry."""
    return base64.b64encode(json.dumps({"expiration": int(expires)}).encode()).decode()


def test_an_expired_login_for_an_ecr_host_is_not_kept(w: World) -> None:
    w.store.add(HOST, "AWS", login_secret(T0 - 1))
    assert w.warnings == [f"the password given for {HOST} has expired; not keeping it"]
    assert w.store.list() == CONFIGURED


def test_a_login_through_an_alias_is_kept_as_the_registrys_token(w: World) -> None:
    secret = login_secret(T0 + 3600)
    w.store.add(f"https://{ALIAS}/v2/", "AWS", secret)
    assert w.store.get(HOST) == ("AWS", secret)
    w.store.delete(ALIAS)  # erasing the alias forgets the registry's token
    assert w.store.list() == CONFIGURED
    assert w.asked == []


def test_list_leaves_out_expired_tokens(w: World) -> None:
    w.store.get(HOST)
    w.now = T0 + 43200
    assert w.store.list() == CONFIGURED


def test_ignoring_storage_keeps_and_erases_nothing(tmp_path: Path) -> None:
    w = World(tmp_path)
    ignoring = DockerStore(
        w.tokens, w.cache, w.logins, w.clock, w.warnings.append, ignore_storage=True
    )
    w.store.add("quay.io", "robot", "pw")
    ignoring.add("r.example", "robot", "pw")
    ignoring.delete("quay.io")
    assert w.store.list() == {"quay.io": "robot", **CONFIGURED}


def test_list_names_the_configured_registries_without_calling_aws(tmp_path: Path) -> None:
    config = (
        f'[registries."*.dkr.ecr.eu-west-1.amazonaws.com"]\n[aliases]\n"a.example" = "{HOST}"\n'
    )
    w = World(tmp_path, config=config)
    assert w.store.list() == {"https://a.example": "AWS"}  # a glob names no registry
    assert w.asked == []
