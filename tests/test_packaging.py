"""The systemd units in packaging/: valid for systemd, and their commands valid for the helper."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, helper_command

UNITS = sorted((ROOT / "packaging" / "systemd").iterdir())
INSTALLED = "/usr/local/bin/docker-credential-ecr"


def exec_starts(unit: Path) -> list[list[str]]:
    return [
        line.split("=", 1)[1].split()
        for line in unit.read_text().splitlines()
        if line.startswith("ExecStart=")
    ]


@pytest.mark.parametrize("unit", [u for u in UNITS if u.suffix == ".service"], ids=lambda u: u.name)
def test_service_runs_a_real_command(unit: Path, tmp_path: Path) -> None:
    (command,) = exec_starts(unit)
    assert command[0] == INSTALLED
    proc = subprocess.run(
        [*helper_command(), *command[1:], "--help"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith(f"usage: docker-credential-ecr {command[1]}")


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)
def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    program = tmp_path / "docker-credential-ecr"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    for unit in UNITS:
        (tmp_path / unit.name).write_text(unit.read_text().replace(INSTALLED, str(program)))
    proc = subprocess.run(
        ["systemd-analyze", "verify", *(str(tmp_path / u.name) for u in UNITS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "error" not in proc.stderr.lower()
