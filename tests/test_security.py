"""Attacks on the built executable, each done for real, each against the defence that stops it.

The executable runs as root on every ``docker pull``.  Here a second user (uid 54321,
through ``setpriv``) plants code where root might run it and races root with renames;
shared directories, upgrades, ``kill -9`` during the first run, damaged copies,
non-blocking stdin, FIFOs and set-user-ID installs are tried.  docs/security.md lists
each threat with its defence and the test here that proves it.
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import shutil
import signal
import stat
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from pack import loader_name

from docker_credential_ecr.errors import NOT_FOUND
from fakeaws import FakeAWS
from support.environ import clean_env
from support.helper import built_binary, run_concurrently, unpack_folder
from support.hosts import ECR_HOST
from support.mounts import with_var_cache
from support.paths import ROOT
from support.tokens import seed
from support.users import AS_OTHER, OTHER, SWAPPER, as_other

BINARY = built_binary() or ""
pytestmark = [
    pytest.mark.skipif(not BINARY, reason="no built binary: run scripts/build-binary"),
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("setpriv") is None or shutil.which("unshare") is None,
        reason="needs root, setpriv and unshare",
    ),
]
LOADER = "_internal/glibc/" + loader_name()


def build_id(binary: str | Path) -> str:
    """The build id in a single file's trailer: the name of its runtime copy."""
    with open(binary, "rb") as f:
        f.seek(-64, os.SEEK_END)
        return f.read(64)[24:56].rstrip(b"\0").decode()


def run(
    cmd: list[str], env: dict[str, str], stdin: str = ECR_HOST, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, input=stdin, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def with_runtime(tmp_path: Path, fake: FakeAWS | None) -> tuple[dict[str, str], Path]:
    """A clean environment with its own runtime directory, and the private one inside it."""
    env = clean_env(tmp_path, fake)
    env["DOCKER_CREDENTIAL_ECR_RUNTIME_DIR"] = str(tmp_path / "rt")
    return env, tmp_path / "rt" / f"docker-credential-ecr-{os.geteuid()}"


def holds_only_this_build(private: Path) -> bool:
    """Nothing but the build and its lock: no temporary, damaged or other copies."""
    build = build_id(BINARY)
    return sorted(p.name for p in private.iterdir()) == sorted([build, f"{build}.lock"])


def plant_build(runtime: Path, build: str, marker: Path) -> None:
    """What a local attacker leaves where root might run it: a 'build' whose loader is a
    script that proves it ran, with a manifest that says it is whole."""
    copy = runtime / build
    (copy / "_internal" / "glibc").mkdir(parents=True)
    loader = copy / LOADER
    loader.write_text(f"#!/bin/sh\ntouch {marker}\n")
    program = copy / "docker-credential-ecr.bin"
    program.write_text("")
    for path in (loader, program):
        path.chmod(0o755)
    manifest = f"B 0 {build}\nF {loader.stat().st_size} {LOADER}\nF 0 docker-credential-ecr.bin\n"
    (copy / ".docker-credential-ecr-build").write_text(manifest)
    (copy.parent / f"{build}.lock").write_text("")


def test_root_never_runs_or_unpacks_in_another_users_tree(
    tmp_path: Path, fake_aws: FakeAWS, other_user_dir: Path
) -> None:
    """sudo -E keeps alice's HOME: root must not run what alice put there, nor unpack there,
    however alice swaps her directories while root looks (finding 1 of issue 10)."""
    home = other_user_dir / "alice"
    runtime = home / ".cache" / "docker-credential-ecr" / "runtime"
    runtime.parent.mkdir(parents=True)
    marker = other_user_dir / "pwned"
    # Alice's copy, swapped in and out of the place where root would make its runtime
    # directory (in the same parent: moving root's directory elsewhere would need root's).
    evil = runtime.parent / "evil"
    plant_build(evil, build_id(BINARY), marker)
    for path in [home, *home.rglob("*")]:
        os.lchown(path, OTHER, OTHER)
    with as_other(SWAPPER, str(runtime), str(evil), ready=b"swapping\n"):
        env = clean_env(tmp_path, fake_aws)
        del env["AWS_ECR_CACHE_DIR"]
        env["HOME"] = str(home)
        var_cache = tmp_path / "var-cache"
        for _ in range(20):
            fake_aws.reset()  # a cache miss every time: the whole program runs
            for token in (var_cache / "docker-credential-ecr").glob("*.token"):
                token.unlink()
            proc = run([*with_var_cache(var_cache), str(BINARY), "get"], env)
            assert proc.returncode == 0, proc.stdout + proc.stderr
            assert fake_aws.calls["ecr"] == 1
    assert not marker.exists()
    assert "not running from " in proc.stderr  # said why, once per run
    owned = [p for p in home.rglob("*") if p.lstat().st_uid != OTHER]
    assert owned == []  # root created nothing in alice's tree
    assert (var_cache / "docker-credential-ecr" / "runtime" / build_id(BINARY)).is_dir()


def test_a_shared_runtime_dir_keeps_its_mode_and_every_entry(
    tmp_path: Path, fake_aws: FakeAWS
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    (shared / "0123456789abcdef").mkdir()  # named like a build, but not ours
    (shared / "notes.txt").write_text("keep me")
    env = clean_env(tmp_path, fake_aws)
    env["DOCKER_CREDENTIAL_ECR_RUNTIME_DIR"] = str(shared)
    proc = run([str(BINARY), "get"], env)
    assert proc.returncode == 0, proc.stdout
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    assert sorted(p.name for p in shared.iterdir()) == [
        "0123456789abcdef",
        f"docker-credential-ecr-{os.geteuid()}",
        "notes.txt",
    ]
    private = shared / f"docker-credential-ecr-{os.geteuid()}"
    assert stat.S_IMODE(private.stat().st_mode) == 0o700


def test_a_runtime_dir_that_others_can_write_is_refused_with_the_reason(tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    loose.mkdir()
    loose.chmod(0o777)
    env = clean_env(tmp_path, None)
    env["DOCKER_CREDENTIAL_ECR_RUNTIME_DIR"] = str(loose / "rt")
    proc = run([str(BINARY), "get"], env)
    assert (proc.returncode, proc.stdout) == (
        1,
        f"docker-credential-ecr: DOCKER_CREDENTIAL_ECR_RUNTIME_DIR={loose}/rt cannot be used: "
        f"{loose} is writable by group and others (mode 777)\n",
    )
    assert list(loose.iterdir()) == []


def repacked(tmp_path: Path, salt: str) -> Path:
    """Another build of the same program: the bundle with one file added, packed again."""
    tree = ROOT / "build" / "tree" / "docker-credential-ecr"
    launcher = ROOT / "build" / "launcher"
    if not tree.is_dir() or not launcher.exists():
        pytest.skip("no build/tree or build/launcher: run scripts/build-binary")
    copy = tmp_path / f"tree-{salt}"
    shutil.copytree(tree, copy, symlinks=True)
    (copy / "_internal" / "salt.txt").write_text(salt)
    out = tmp_path / f"docker-credential-ecr-{salt}"
    subprocess.run(
        [sys.executable, str(ROOT / "packaging" / "pack.py"), "single", str(copy),
         str(launcher), str(out)],
        check=True, capture_output=True,
    )  # fmt: skip
    return out


@pytest.mark.slow
def test_an_upgrade_never_deletes_a_build_that_is_running(
    tmp_path: Path, fake_aws: FakeAWS
) -> None:
    old, new, newer = (repacked(tmp_path, s) for s in ("old", "new", "newer"))
    env, private = with_runtime(tmp_path, fake_aws)
    fake_aws.delay = 3.0
    seen: list[bool] = []
    fake_aws.on_request = lambda record: seen.append(True)
    request = tmp_path / "request"
    request.write_text(ECR_HOST)
    with request.open("rb") as stdin:
        running = subprocess.Popen(
            [str(old), "get"],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
    deadline = time.monotonic() + 60
    while not seen:  # the old build is mid-request: past start-up, with more to import
        assert running.poll() is None
        assert time.monotonic() < deadline
        time.sleep(0.01)
    # As if the old build had last been used two days ago: only the lock protects it now.
    two_days_ago = time.time() - 2 * 86400
    os.utime(private / f"{build_id(old)}.lock", (two_days_ago, two_days_ago))
    first_new = run([str(new), "version"], env)
    assert first_new.returncode == 0, first_new.stdout
    out, err = running.communicate(timeout=60)
    assert running.returncode == 0, out + err
    assert json.loads(out)["Secret"] == fake_aws.issued[0]
    assert (private / build_id(old)).is_dir()
    # Not running any more and unused for a day: the next new build's first run removes it,
    # and keeps the one used a moment ago.
    os.utime(private / f"{build_id(old)}.lock", (two_days_ago, two_days_ago))
    assert run([str(newer), "version"], env).returncode == 0
    assert sorted(p.name for p in private.iterdir() if p.is_dir()) == sorted(
        [build_id(new), build_id(newer)]
    )


def test_two_builds_used_in_turn_each_unpack_once(tmp_path: Path, fake_aws: FakeAWS) -> None:
    one, two = repacked(tmp_path, "one"), repacked(tmp_path, "two")
    env, private = with_runtime(tmp_path, fake_aws)
    stamps = []
    for binary in (one, two, one, two, one):
        assert run([str(binary), "version"], env).returncode == 0
        stamps.append({p.name: p.stat().st_ino for p in private.iterdir() if p.is_dir()})
    assert stamps[-1] == stamps[1]  # the same two copies since both were first unpacked
    assert len(stamps[-1]) == 2


def test_killed_first_runs_leave_nothing_after_the_next_run(
    tmp_path: Path, fake_aws: FakeAWS
) -> None:
    env, private = with_runtime(tmp_path, fake_aws)
    rng = random.Random(7)
    killed_mid_unpack = 0
    for _ in range(3):
        proc = subprocess.Popen(
            [str(BINARY), "version"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        # Wait until it is unpacking (its temporary directory exists), then a random moment.
        deadline = time.monotonic() + 30
        while not (private.is_dir() and any(p.name.startswith(".") for p in private.iterdir())):
            assert proc.poll() is None
            assert time.monotonic() < deadline
        time.sleep(rng.uniform(0, 0.2))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed_mid_unpack += not (private / build_id(BINARY)).exists()
    assert killed_mid_unpack >= 1  # at least one was really cut short
    proc_ok = run([str(BINARY), "get"], env)
    assert proc_ok.returncode == 0, proc_ok.stdout
    assert holds_only_this_build(private)


def test_a_damaged_runtime_copy_is_detected_and_unpacked_again(
    tmp_path: Path, fake_aws: FakeAWS
) -> None:
    env, private = with_runtime(tmp_path, fake_aws)
    assert run([str(BINARY), "version"], env).returncode == 0
    loader = private / build_id(BINARY) / LOADER
    size = loader.stat().st_size
    with loader.open("r+b") as f:
        f.truncate(size // 2)  # what a crash before the data reached the disk leaves
    proc = run([str(BINARY), "get"], env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "is damaged; unpacking it again" in proc.stderr
    assert loader.stat().st_size == size
    assert holds_only_this_build(private)


def test_a_request_on_nonblocking_stdin_in_two_parts_is_answered_whole(
    tmp_path: Path, runtime_dir: str
) -> None:
    env = clean_env(tmp_path, None)
    seed(env, 60, 43000, "cached-secret")
    env["DOCKER_CREDENTIAL_ECR_RUNTIME_DIR"] = runtime_dir
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    proc = subprocess.Popen(
        [str(BINARY), "get"], stdin=read_end, stdout=subprocess.PIPE, env=env, text=True
    )
    os.close(read_end)
    os.write(write_end, b"https://evil.example/")
    deadline = time.monotonic() + 30
    while struct.unpack("i", fcntl.ioctl(write_end, termios.FIONREAD, b"\0" * 4))[0]:
        assert time.monotonic() < deadline  # until the helper has read the first part
    os.write(write_end, ECR_HOST.encode())
    os.close(write_end)
    out, _ = proc.communicate(timeout=30)
    # The whole request names evil.example: not the ECR host whose token is cached.
    assert (proc.returncode, out) == (1, NOT_FOUND + "\n")


@pytest.mark.parametrize("native", [True, False])
def test_a_fifo_at_the_token_path_does_not_hang(
    tmp_path: Path, fake_aws: FakeAWS, runtime_dir: str, native: bool
) -> None:
    env = clean_env(tmp_path, fake_aws)
    fifo = seed(env, 60, 43000, "unused")
    fifo.unlink()
    os.mkfifo(fifo, 0o600)
    env["DOCKER_CREDENTIAL_ECR_RUNTIME_DIR"] = runtime_dir
    if not native:
        env["DOCKER_CREDENTIAL_ECR_FASTPATH"] = "off"
    proc = run([str(BINARY), "get"], env, timeout=30)
    assert proc.returncode == 0, proc.stdout
    assert json.loads(proc.stdout)["Secret"] == fake_aws.issued[0]


def test_the_folder_form_runs_only_from_a_trusted_directory(
    tmp_path: Path, other_user_dir: Path
) -> None:
    program = unpack_folder(other_user_dir / "opt")
    env = clean_env(tmp_path, None)
    assert run([str(program), "version"], env, "").returncode == 0
    os.chown(other_user_dir / "opt", OTHER, OTHER)  # now another user could swap its files
    proc = run([str(program), "version"], env, "")
    assert (proc.returncode, proc.stdout) == (
        1,
        f"docker-credential-ecr: not running the program in {program.parent}: "
        f"{other_user_dir / 'opt'} is owned by uid {OTHER}; install it where only root can write\n",
    )


def test_a_setuid_install_refuses_to_run(tmp_path: Path, other_user_dir: Path) -> None:
    installed = other_user_dir / "docker-credential-ecr"
    shutil.copy(str(BINARY), installed)
    installed.chmod(0o4755)
    proc = run([*AS_OTHER, str(installed), "version"], clean_env(tmp_path, None), "")
    assert (proc.returncode, proc.stdout) == (
        1,
        "docker-credential-ecr: refusing to run set-user-ID or set-group-ID; "
        "install it with mode 0755\n",
    )


def test_concurrent_first_runs_share_one_copy_and_leave_no_leftovers(
    tmp_path: Path, fake_aws: FakeAWS
) -> None:
    env, private = with_runtime(tmp_path, fake_aws)
    results = run_concurrently([str(BINARY), "get"], 8, ECR_HOST.encode(), env, tmp_path)
    assert [r.returncode for r in results] == [0] * 8, [r.stdout for r in results]
    assert holds_only_this_build(private)
