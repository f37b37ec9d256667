"""The command line: the actions, version and help, ``python -m``, and how the process ends.

The installed ``docker-credential-ecr`` (script and binary) run as Docker runs it, against
a local AWS endpoint.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from support.helper import NOT_FOUND, Runner

# Each test here has a script and a binary id, those that run no helper (python -m,
# exit_now) too: so it always was, and the ids stay as they were.
pytestmark = pytest.mark.usefixtures("runner")


@pytest.mark.parametrize(
    ("args", "status", "start"),
    [
        (
            ["version"],
            0,
            "docker-credential-ecr (github.com/docker-credential-ecr/docker-credential-ecr) ",
        ),
        (["--version"], 0, "docker-credential-ecr (github.com/"),
        (["-v"], 0, "docker-credential-ecr (github.com/"),
        (["--help"], 0, "Usage: docker-credential-ecr <get|store|erase|list|version>"),
        (["-h"], 0, "Usage: docker-credential-ecr"),
        ([], 1, "Usage: docker-credential-ecr"),
        (["frobnicate"], 1, "docker-credential-ecr: unknown action: frobnicate\n"),
        (["get", "extra"], 1, "docker-credential-ecr: get takes no arguments"),
    ],
)
def test_command_line(
    runner: Runner, env: dict[str, str], args: list[str], status: int, start: str
) -> None:
    proc = runner.run(args, "", env)
    assert proc.returncode == status
    assert proc.stdout.startswith(start)
    assert proc.stderr == ""


def test_version_matches_package(runner: Runner, env: dict[str, str]) -> None:
    from docker_credential_ecr import __version__

    assert runner.run(["version"], "", env).stdout.rstrip().endswith(" " + __version__)


def test_python_dash_m_runs_the_same_cli(env: dict[str, str]) -> None:
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "docker_credential_ecr", "get"],
        input="docker.io",
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert (proc.returncode, proc.stdout) == (1, NOT_FOUND)


def test_exit_now_runs_the_exit_handlers_and_flushes_before_ending() -> None:
    code = (
        "import atexit, sys\n"
        "from docker_credential_ecr.cli import exit_now\n"
        "atexit.register(lambda: print('handler ran'))\n"
        "sys.stdout.write('answer; ')\n"
        "exit_now(3)\n"
        "print('not reached')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, "answer; handler ran\n", "")


def test_exit_now_ends_quietly_when_nobody_reads_the_answer() -> None:
    code = (
        "import os, sys\n"
        "from docker_credential_ecr.cli import exit_now\n"
        "sys.stdout.write('answer')\n"
        "os.close(1)\n"
        "exit_now(4)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert (proc.returncode, proc.stderr) == (4, "")
