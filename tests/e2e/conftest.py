"""Fixtures for end-to-end tests: one hermetic world for the package, one client per test.

The helper under test is the pip-installed console script and the built single-file
executable (``$DOCKER_CREDENTIAL_ECR_BIN`` or ``dist/docker-credential-ecr``; skipped
when there is none).  Clients find it as ``docker-credential-ecr`` first on ``PATH``.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from e2e.world import (
    DOCKER,
    ECR_IMAGE,
    PLAIN_IMAGE,
    SYSTEM_PATH,
    World,
    missing_requirements,
)
from support.helper import Runner, built_binary

E2E_KEY_ID = "AKIDE2ETESTCLIENT001"
E2E_SECRET_KEY = "e2e-secret-access-key-never-shown"


@pytest.fixture(scope="package")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The namespace with the AWS endpoint, two registries and dockerd, for these tests."""
    reason = missing_requirements()
    if reason:
        pytest.skip(reason)
    started = World(tmp_path_factory.mktemp("world")).start()
    yield started
    started.stop()


def script_helper() -> list[str]:
    """The pip-installed console script (the ``runner`` fixture's "script")."""
    return Runner.script().command


def binary_helper() -> list[str] | None:
    """The single-file executable: ``$DOCKER_CREDENTIAL_ECR_BIN`` or ``dist/``'s, if built."""
    binary = built_binary()
    return [binary] if binary and os.access(binary, os.X_OK) else None


@pytest.fixture(params=["script", "binary"])
def helper(request: pytest.FixtureRequest) -> list[str]:
    """The command of the helper under test."""
    found = script_helper() if request.param == "script" else binary_helper()
    if found is None:
        pytest.skip(
            f"no {request.param} helper to test (build dist/docker-credential-ecr "
            "or set DOCKER_CREDENTIAL_ECR_BIN)"
        )
    return found


class Client:
    """A user of Docker inside the world: a home, a Docker config dir and the helper on PATH."""

    def __init__(self, world: World, helper: list[str], tmp: Path) -> None:
        self.world = world
        self.tmp = tmp
        self.home = tmp / "home"
        self.config_dir = self.home / ".docker"
        self.config_dir.mkdir(parents=True)
        self.bin = tmp / "bin"
        self.bin.mkdir()
        # Anything a client or the single file would put in /tmp stays in the test's own.
        (tmp / "tmp").mkdir()
        install_helper(helper, self.bin)
        self.env = {
            "PATH": f"{self.bin}:{SYSTEM_PATH}",
            "LANG": "C.UTF-8",
            "TMPDIR": str(tmp / "tmp"),
            "HOME": str(self.home),
            "DOCKER_CONFIG": str(self.config_dir),
            "DOCKER_HOST": f"unix://{world.socket}",
            "AWS_ACCESS_KEY_ID": E2E_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": E2E_SECRET_KEY,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CA_BUNDLE": str(world.ca),
            "SSL_CERT_FILE": str(world.ca),
        }

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.json"

    @property
    def cache_dir(self) -> Path:
        return self.home / ".cache" / "docker-credential-ecr"

    def configure(self, config: Mapping[str, object]) -> None:
        """Write the Docker client's config.json."""
        self.config_file.write_text(json.dumps(config))

    def run(
        self,
        argv: list[str],
        stdin: str | None = None,
        env: dict[str, str] | None = None,
        passwd: Path | None = None,
        etc: Mapping[str, Path] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a client program in the world, optionally with ``passwd`` as /etc/passwd
        and each file of ``etc`` over /etc's of that name, in a mount namespace of its own."""
        files = {**({"passwd": passwd} if passwd else {}), **(etc or {})}
        if files:
            binds = [f'mount --bind "$1" /etc/{name} && shift && ' for name in files]
            nested = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c"]
            sources = [str(source) for source in files.values()]
            argv = [*nested, "".join(binds) + 'exec "$@"', "sh", *sources, *argv]
        return self.world.run(argv, self.env if env is None else env, stdin=stdin)

    def docker(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.run([DOCKER, *args], stdin=stdin)

    def helper(self, action: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """Run the helper itself as a client would, found on PATH."""
        return self.run([str(self.bin / "docker-credential-ecr"), action], stdin=stdin)

    def python(
        self, code: str, *args: str, env: dict[str, str] | None = None, passwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run Python code (with docker-py available) in the world."""
        return self.run([sys.executable, "-c", code, *args], env=env, passwd=passwd)


def install_helper(helper: list[str], directory: Path) -> None:
    """Make ``directory/docker-credential-ecr`` run ``helper``."""
    target = directory / "docker-credential-ecr"
    if len(helper) == 1:
        target.symlink_to(helper[0])
        return
    target.write_text(f'#!/bin/sh\nexec {shlex.join(helper)} "$@"\n')
    target.chmod(0o755)


@pytest.fixture
def client(world: World, helper: list[str], tmp_path: Path) -> Client:
    """A fresh client; the endpoint's counts and faults and dockerd's images are reset."""
    assert world.fake is not None
    world.fake.reset()
    made = Client(world, helper, tmp_path)
    removed = made.docker("image", "rm", "--force", ECR_IMAGE, PLAIN_IMAGE)
    assert removed.returncode == 0 or "No such image" in removed.stderr, removed.stderr
    return made
