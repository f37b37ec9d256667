"""The helper under test: where it is, how to run it as Docker does, and what it answered."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from pack import debian_arch

from support.hosts import ECR_HOST
from support.paths import ROOT

# The answer, on stdout, to a get the helper has no credentials for, as Docker expects it.
NOT_FOUND = "credentials not found in native keychain\n"


def built_binary() -> str | None:
    """The single-file executable to test: ``$DOCKER_CREDENTIAL_ECR_BIN`` or ``dist/``'s, if any."""
    binary = os.environ.get("DOCKER_CREDENTIAL_ECR_BIN")
    if binary:
        return binary
    path = ROOT / "dist" / "docker-credential-ecr"
    return str(path) if path.exists() else None


def unpack_folder(into: Path) -> Path:
    """Unpack the one-folder tarball built with the binary under test; return its program."""
    from docker_credential_ecr import __version__

    binary = built_binary()
    # The tarball built with the binary: named after it, or this machine's architecture's.
    name = Path(binary).name if binary else ""
    if not name.startswith(f"docker-credential-ecr-{__version__}-linux-"):
        name = f"docker-credential-ecr-{__version__}-linux-{debian_arch()}"
    places = ([Path(binary).parent] if binary else []) + [ROOT / "dist"]
    tarballs = [place / f"{name}.tar.gz" for place in places if (place / f"{name}.tar.gz").exists()]
    if not tarballs:
        pytest.skip("no one-folder tarball: run scripts/build-binary")
    into.mkdir(parents=True, exist_ok=True)
    # tar(1), as an operator would: TarFile.extractall's filter needs Python 3.11.4.
    subprocess.run(["tar", "-xzf", str(tarballs[0]), "-C", str(into)], check=True)
    return into / "docker-credential-ecr" / "docker-credential-ecr"


@dataclass(frozen=True)
class Runner:
    """One way to run the helper under test: the pip-installed script or the built binary.

    The ``runner`` fixture gives a test each in turn; a test that runs the helper one way
    only takes ``Runner.script()``.
    """

    name: str  # "script" or "binary": the test id's part
    command: list[str]
    # Where the binary unpacks itself (None for the script): once for the whole session,
    # not once in each test's cache directory.
    runtime_dir: str | None = None

    @classmethod
    def script(cls) -> Runner:
        """The pip-installed console script (or ``python -m`` where there is none)."""
        script = Path(sys.executable).with_name("docker-credential-ecr")
        if script.exists():
            return cls("script", [str(script)])
        found = shutil.which("docker-credential-ecr")
        if found:
            return cls("script", [found])
        return cls("script", [sys.executable, "-m", "docker_credential_ecr"])

    @classmethod
    def binary(cls, path: str, runtime_dir: str) -> Runner:
        """The built single file at ``path``, unpacking into ``runtime_dir``."""
        return cls("binary", [path], runtime_dir)

    def run(
        self,
        args: list[str],
        stdin: str | bytes,
        env: dict[str, str],
        timeout: float = 60,
        prefix: list[str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run the helper as Docker does (after ``prefix``, if any) and return what it printed."""
        data = stdin.encode() if isinstance(stdin, str) else stdin
        proc = subprocess.run(
            [*(prefix or []), *self.command, *args],
            input=data,
            env=env,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        return subprocess.CompletedProcess(
            proc.args,
            proc.returncode,
            proc.stdout.decode(errors="replace"),
            proc.stderr.decode(errors="replace"),
        )


def get(
    runner: Runner, env: dict[str, str], url: str = ECR_HOST, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``get`` for ``url``, as Docker asks it."""
    return runner.run(["get"], url + "\n", env, timeout=timeout)


def secret_of(proc: subprocess.CompletedProcess[str]) -> str:
    """The secret of a successful ``get``'s answer (failing the test if it did not succeed)."""
    assert proc.returncode == 0, proc.stdout + proc.stderr
    answer = json.loads(proc.stdout)
    assert answer["Username"] == "AWS"
    return str(answer["Secret"])


def run_concurrently(
    cmd: list[str], n: int, stdin: bytes, env: dict[str, str], tmp_path: Path
) -> list[subprocess.CompletedProcess[bytes]]:
    """Start ``n`` copies of ``cmd`` at once, each reading ``stdin`` from a file, and wait for all.

    The request comes from a file, not a pipe this process writes to one child
    at a time: that would let each child finish before the next one starts.
    """
    request = tmp_path / "concurrent-request"
    request.write_bytes(stdin)
    procs = []
    for _ in range(n):
        with request.open("rb") as f:
            procs.append(
                subprocess.Popen(
                    cmd, stdin=f, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
                )
            )
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return done
