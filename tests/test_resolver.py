"""The resolver's decisions, driven through a real cache with a fake clock and fetcher."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from docker_credential_ecr.cache import NullCache, TokenCache
from docker_credential_ecr.errors import TokenError
from docker_credential_ecr.fileconfig import RegistryConfig
from docker_credential_ecr.registry import Registry, parse
from docker_credential_ecr.resolver import Resolver, Target
from docker_credential_ecr.token import AuthToken

_parsed = parse("123456789012.dkr.ecr.us-east-1.amazonaws.com")
assert _parsed is not None
REG: Registry = _parsed
KEY = "123456789012.dkr.ecr.us-east-1.amazonaws.com~default"
T0 = 1_800_000_000.0
LIFE = 43200.0


class Harness:
    """A resolver with a cache on disk, a scripted fetcher and a clock the test moves."""

    def __init__(self, tmp_path: Path) -> None:
        self.now = T0
        self.calls = 0
        self.fail: TokenError | None = None
        self.lifetime = LIFE
        self.warnings: list[str] = []
        self.cache = TokenCache(str(tmp_path / "cache"))

    def clock(self) -> float:
        return self.now

    def fetch(self, registry: Registry, config: RegistryConfig) -> AuthToken:
        assert registry == REG
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        return AuthToken(
            "AWS", f"secret-{self.calls}", "https://e", self.now, self.now + self.lifetime
        )

    def resolver(self, *, cached: bool = True) -> Resolver:
        return Resolver(
            self.cache if cached else NullCache(), self.fetch, self.clock, self.warnings.append, 1.0
        )

    def get(self, *, cached: bool = True) -> str:
        return self.resolver(cached=cached).get(Target(REG, RegistryConfig(), KEY)).secret


@pytest.fixture
def w(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def test_miss_fetches_once_then_hits(w: Harness) -> None:
    assert w.get() == "secret-1"
    w.now += LIFE / 2 - 1
    assert w.get() == "secret-1"
    assert w.calls == 1
    assert w.warnings == []


def test_refresh_at_half_life(w: Harness) -> None:
    w.get()
    w.now += LIFE / 2
    assert w.get() == "secret-2"
    assert w.calls == 2
    cached = w.cache.read(KEY)
    assert cached is not None
    assert cached.secret == "secret-2"


def test_failed_refresh_serves_valid_cached_token_with_warning(w: Harness) -> None:
    w.get()
    w.now += LIFE - 600
    w.fail = TokenError(REG.host, "ThrottlingException: Rate exceeded")
    assert w.get() == "secret-1"
    assert w.warnings == [
        "ThrottlingException: Rate exceeded; serving the cached token for " + REG.host
    ]


def test_expired_token_is_never_served(w: Harness) -> None:
    w.get()
    w.now += LIFE - 299  # inside the clock-skew margin
    w.fail = TokenError(REG.host, "boom")
    with pytest.raises(TokenError, match="boom"):
        w.get()
    w.now += 10_000
    with pytest.raises(TokenError, match="boom"):
        w.get()


def test_token_already_expired_on_arrival_is_passed_once_not_cached(w: Harness) -> None:
    w.lifetime = -60  # the host clock is ahead of AWS's
    assert w.get() == "secret-1"
    assert w.cache.read(KEY) is None
    assert len(w.warnings) == 1
    assert "check the clock" in w.warnings[0]
    assert w.get() == "secret-2"


def test_unwritable_cache_still_answers_and_warns(w: Harness, tmp_path: Path) -> None:
    (tmp_path / "cache").write_text("a file where the directory should be")
    assert w.get() == "secret-1"
    assert len(w.warnings) == 1
    assert "cannot use the token cache" in w.warnings[0]


def test_write_failure_after_locking_warns_once(w: Harness, tmp_path: Path) -> None:
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / f"{KEY}.token").mkdir()  # a directory where the entry goes
    assert w.get() == "secret-1"
    assert len(w.warnings) == 1
    assert "cannot write the token cache" in w.warnings[0]


def test_disabled_cache_fetches_every_time(w: Harness) -> None:
    assert w.get(cached=False) == "secret-1"
    assert w.get(cached=False) == "secret-2"
    assert not (Path(w.cache.directory)).exists()


def test_lock_timeout_fetches_without_the_lock(w: Harness) -> None:
    release = w.cache.acquire(KEY, 1)
    code = (
        "import sys\n"
        "from docker_credential_ecr.cache import NullCache, TokenCache\n"
        "from docker_credential_ecr.registry import parse\n"
        "from docker_credential_ecr.resolver import Resolver, Target\n"
        "from docker_credential_ecr.token import AuthToken\n"
        "w=[]\n"
        "r=Resolver(TokenCache(sys.argv[1]), lambda reg, c: AuthToken('AWS','other','e',0,4e9), "
        "lambda: 1.8e9, w.append, 0.2)\n"
        "from docker_credential_ecr.fileconfig import RegistryConfig\n"
        "print(r.get(Target(parse(sys.argv[2]), RegistryConfig(), sys.argv[3])).secret, w)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, w.cache.directory, REG.host, KEY],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    release()
    assert out.startswith("other [")
    assert "refreshing without it" in out


def test_a_registry_configured_with_cache_false_is_fetched_every_time(w: Harness) -> None:
    uncached = RegistryConfig({"cache": False})
    resolver = w.resolver()
    assert resolver.get(Target(REG, uncached, KEY)).secret == "secret-1"
    assert resolver.get(Target(REG, uncached, KEY)).secret == "secret-2"
    assert w.cache.read(KEY) is None
    assert resolver.get(Target(REG, RegistryConfig(), KEY)).secret == "secret-3"
    assert resolver.get(Target(REG, RegistryConfig(), KEY)).secret == "secret-3"  # cached now
