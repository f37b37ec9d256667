"""The systemd units in packaging/: valid for systemd, and their commands valid for the helper."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from support.helper import Runner
from support.mounts import with_own
from support.paths import ROOT

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
        [*Runner.script().command, *command[1:], "--help"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith(f"usage: docker-credential-ecr {command[1]}")


def analyze_verify(tmp_path: Path, program_exists: bool) -> subprocess.CompletedProcess[str]:
    """``systemd-analyze verify`` on the units, with their program at a path in ``tmp_path``.

    Run as root, systemd-analyze (252, and later) sets up a test manager that makes
    /run/systemd and touches /run/systemd/systemd-units-load, whatever --root says: the
    path is built in, and no option or variable moves it.  On a host that has never run
    systemd, such as a fresh root, that is a new directory in the host's /run.  So root
    runs it with a /run of the test's own (an empty one: no runtime units of this host
    to shadow the units under test either).  Anyone else cannot write to /run, and
    runs it as it is.
    """
    program = tmp_path / "docker-credential-ecr"
    if program_exists:
        program.write_text("#!/bin/sh\n")
        program.chmod(0o755)
    units = tmp_path / "units"
    units.mkdir()
    for unit in UNITS:
        (units / unit.name).write_text(unit.read_text().replace(INSTALLED, str(program)))
    prefix = with_own(tmp_path / "run", "/run") if os.geteuid() == 0 else []
    return subprocess.run(
        [*prefix, "systemd-analyze", "verify", *(str(units / u.name) for u in UNITS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)


@needs_systemd_analyze
def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    proc = analyze_verify(tmp_path, program_exists=True)
    assert proc.returncode == 0, proc.stderr
    assert "error" not in proc.stderr.lower()


@needs_systemd_analyze
def test_systemd_analyze_verify_fails_a_unit_whose_program_is_missing(tmp_path: Path) -> None:
    # However it is run, the check above must still be able to fail.
    proc = analyze_verify(tmp_path, program_exists=False)
    assert proc.returncode != 0, proc.stderr
    assert f"{tmp_path / 'docker-credential-ecr'}" in proc.stderr
