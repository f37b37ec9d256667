"""How this program is run again (program.py), from source and frozen, in-process: for the
background refresh and for the link ``configure --kubelet`` makes."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, cast

import pytest

from docker_credential_ecr import program
from docker_credential_ecr.commands import kubeletsetup

if TYPE_CHECKING:
    from docker_credential_ecr.commands.context import Context

LAUNCHER = "_DOCKER_CREDENTIAL_ECR_LAUNCHER"


def frozen(monkeypatch: pytest.MonkeyPatch, launcher_in_process: str | None = None) -> None:
    """Run as the built executable would: frozen, with (or without) a launcher in os.environ."""
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    if launcher_in_process is None:
        monkeypatch.delenv(LAUNCHER, raising=False)
    else:
        monkeypatch.setenv(LAUNCHER, launcher_in_process)


def test_from_source_this_program_is_this_python_with_its_package() -> None:
    assert program.command({LAUNCHER: "/usr/bin/x"}) == [
        sys.executable,
        "-m",
        "docker_credential_ecr",
    ]


def test_built_this_program_is_the_launcher_the_environment_given_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frozen(monkeypatch, launcher_in_process="/process/docker-credential-ecr")
    assert program.command({LAUNCHER: "/given/docker-credential-ecr"}) == [
        "/given/docker-credential-ecr"
    ]
    assert program.command({}) == [sys.executable]


def context(environ: dict[str, str]) -> Context:
    return cast("Context", SimpleNamespace(environ=environ))


def test_the_kubelet_links_the_launcher_that_runs_this_program(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frozen(monkeypatch)
    given = {LAUNCHER: "/opt/bin/docker-credential-ecr", "PATH": "/nonexistent"}
    assert kubeletsetup._this_executable(context(given)) == "/opt/bin/docker-credential-ecr"


def test_the_kubelet_never_links_a_bundle_run_without_its_launcher(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    frozen(monkeypatch)
    installed = tmp_path / "docker-credential-ecr"
    installed.write_text("#!/bin/sh\n")
    installed.chmod(0o755)
    monkeypatch.setattr(sys, "argv", ["/bundle/docker-credential-ecr.bin"])
    assert kubeletsetup._this_executable(context({"PATH": str(tmp_path)})) == str(installed)
