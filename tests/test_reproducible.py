"""Two builds of one commit give the same bytes (scripts/build-binary, scripts/package).

The checkout's HEAD is cloned twice, at paths of different lengths, and built (in the
pinned Debian build root, as scripts/release builds) and packaged in each for this
machine; the second build runs under another umask and time zone.  The single file, the
folder tarball, the .deb and the .rpm must be the same, byte for byte.  Uncommitted
changes are not in the clones, so commit first.

Building twice takes a few minutes, so these tests run only when
DOCKER_CREDENTIAL_ECR_REPRO_TESTS is set; they need what scripts/build-binary and
scripts/package need (root on a host that lacks their Debian packages).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest
from pack import ARCHES, debian_arch

from docker_credential_ecr import __version__
from support.paths import ROOT

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("reproducible"),
    pytest.mark.skipif(
        not os.environ.get("DOCKER_CREDENTIAL_ECR_REPRO_TESTS"),
        reason="builds twice, for minutes: set DOCKER_CREDENTIAL_ECR_REPRO_TESTS=1",
    ),
]

NAME = "docker-credential-ecr"


def artifacts() -> list[str]:
    """The names in dist/ of the four artifacts of this machine's architecture."""
    arch = debian_arch()
    single = f"{NAME}-{__version__}-linux-{arch}"
    return [
        single,
        f"{single}.tar.gz",
        f"{NAME}_{__version__}_{arch}.deb",
        f"{NAME}-{__version__}-1.{ARCHES[arch]}.rpm",
    ]


def build(checkout: Path, umask: int, zone: str) -> dict[str, str]:
    """Clone HEAD to ``checkout``, build and package it there; name -> sha256 of each."""
    subprocess.run(["git", "clone", "-q", str(ROOT), str(checkout)], umask=umask, check=True)
    # The commit's time, not the caller's: a SOURCE_DATE_EPOCH would be the builds' time.
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"} | {"TZ": zone}
    arch = debian_arch()
    # As scripts/release builds: in the pinned Debian build root.
    build = ["scripts/build-binary", "--arch", arch, "--in-root"]
    for command in (build, ["scripts/package", "--arch", arch]):
        subprocess.run(command, cwd=checkout, env=env, umask=umask, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
    dist = checkout / "dist"
    return {name: hashlib.sha256((dist / name).read_bytes()).hexdigest() for name in artifacts()}


def test_two_builds_of_one_commit_are_the_same(tmp_path: Path) -> None:
    first = build(tmp_path / "a", 0o022, "UTC")
    second = build(tmp_path / "a-longer-path" / "b", 0o077, "Asia/Kathmandu")
    assert first == second
