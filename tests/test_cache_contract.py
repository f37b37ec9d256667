"""What every token cache must do (seams.Cache and the rest of TokenCache's methods),
run against each cache the helper has, as keyring's backend tests run against every
keyring.  A cache that keeps tokens keeps them; one that keeps nothing says so by
``enabled``, and every method still works."""

from __future__ import annotations

from pathlib import Path

import pytest

from docker_credential_ecr.cache import Cache, NullCache, TokenCache
from docker_credential_ecr.token import AuthToken

HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
KEY = f"{HOST}~default"
OTHER_IDENTITY = f"{HOST}~0123456789abcdef"
NOW = 1_800_000_000.0


def token(secret: str, expires_in: float = 43200) -> AuthToken:
    """A token issued now."""
    return AuthToken("AWS", secret, f"https://{HOST}", NOW, NOW + expires_in)


class CacheContract:
    """The behaviour every cache shares; ``keeps`` is whether it holds what it is given."""

    keeps: bool

    @pytest.fixture
    def cache(self, tmp_path: Path) -> Cache:
        raise NotImplementedError

    def test_what_is_written_is_read_back(self, cache: Cache) -> None:
        assert cache.read(KEY) is None
        cache.write(KEY, token("one"), NOW)
        assert cache.read(KEY) == (token("one") if self.keeps else None)
        assert cache.enabled is self.keeps

    def test_entries_list_every_identity_of_a_host_and_erase_takes_them_all(
        self, cache: Cache
    ) -> None:
        cache.write(KEY, token("one"), NOW)
        cache.write(OTHER_IDENTITY, token("two"), NOW)
        expected = {KEY, OTHER_IDENTITY} if self.keeps else set()
        assert {key for key, _token in cache.entries()} == expected
        cache.erase_host(HOST)
        assert cache.entries() == []

    def test_a_failure_is_remembered_until_the_next_write(self, cache: Cache) -> None:
        cache.note_failure(KEY, "AccessDeniedException: no")
        assert cache.last_failure(KEY) == ("AccessDeniedException: no" if self.keeps else None)
        cache.write(KEY, token("one"), NOW)
        assert cache.last_failure(KEY) is None

    def test_the_lock_is_taken_released_and_taken_again(self, cache: Cache) -> None:
        release = cache.acquire(KEY, 1.0)
        release()
        cache.acquire(KEY, 1.0)()
        assert cache.refreshing(KEY) is False

    def test_a_write_drops_other_expired_entries(self, cache: Cache) -> None:
        cache.write(OTHER_IDENTITY, token("old", expires_in=10), NOW)
        cache.write(KEY, token("new"), NOW + 60)
        assert [key for key, _token in cache.entries()] == ([KEY] if self.keeps else [])


class TestTokenCache(CacheContract):
    keeps = True

    @pytest.fixture
    def cache(self, tmp_path: Path) -> Cache:
        return TokenCache(str(tmp_path / "cache"))


class TestNullCache(CacheContract):
    keeps = False

    @pytest.fixture
    def cache(self, tmp_path: Path) -> Cache:
        return NullCache()
