"""A due token's refresh in another process, in-process (how this program is run again
is in test_program.py)."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, cast

import pytest

from docker_credential_ecr import background
from docker_credential_ecr.registry import Registry, parse
from support.hosts import ECR_HOST

if TYPE_CHECKING:
    from docker_credential_ecr.cache import Cache

LAUNCHER = "_DOCKER_CREDENTIAL_ECR_LAUNCHER"


class Cache_:
    """Just what a background refresh asks of the cache: is one already running?"""

    def __init__(self, running: bool | OSError) -> None:
        self.running = running

    def refreshing(self, key: str) -> bool:
        if isinstance(self.running, OSError):
            raise self.running
        return self.running


def cache(running: bool | OSError) -> Cache:
    return cast("Cache", Cache_(running))


class Spawns:
    """Stands in for os.posix_spawn: records each call, or fails as told."""

    def __init__(self, fail: OSError | None = None) -> None:
        self.fail = fail
        self.calls: list[tuple[str, list[str], object, dict[str, object]]] = []

    def __call__(self, path: str, argv: list[str], env: object, **options: object) -> int:
        if self.fail is not None:
            raise self.fail
        self.calls.append((path, argv, env, options))
        return 12345


@pytest.fixture
def spawns(monkeypatch: pytest.MonkeyPatch) -> Spawns:
    found = Spawns()
    monkeypatch.setattr(os, "posix_spawn", found)
    return found


def ecr_registry() -> Registry:
    found = parse(ECR_HOST)
    assert found is not None
    return found


REGISTRY = ecr_registry()


def test_a_refresh_already_running_is_not_started_again(spawns: Spawns) -> None:
    assert background.refresh(cache(True), REGISTRY, "key", {}) is True
    assert spawns.calls == []


def test_a_cache_that_cannot_say_starts_nothing(spawns: Spawns) -> None:
    assert background.refresh(cache(OSError("gone")), REGISTRY, "key", {}) is False
    assert spawns.calls == []


def test_the_refresh_runs_this_program_detached_with_the_environment_given(
    spawns: Spawns,
) -> None:
    given = {"AWS_PROFILE": "puller", "PATH": "/usr/bin"}
    assert background.refresh(cache(False), REGISTRY, "key", given) is True
    ((path, argv, env, options),) = spawns.calls
    assert path == sys.executable
    assert argv == [sys.executable, "-m", "docker_credential_ecr", "refresh", ECR_HOST]
    assert env is given
    assert options["setsid"] is True
    actions = cast("list[tuple[int, int, int]]", options["file_actions"])
    assert [(kind, fd) for kind, _null, fd in actions] == [
        (os.POSIX_SPAWN_DUP2, 0),
        (os.POSIX_SPAWN_DUP2, 1),
        (os.POSIX_SPAWN_DUP2, 2),
    ]


def test_a_refresh_that_cannot_start_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "posix_spawn", Spawns(OSError("no such file")))
    assert background.refresh(cache(False), REGISTRY, "key", {}) is False
