"""The built single file: self-contained, unpacks once, copes with noexec temp dirs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fakeaws import FakeAWS
from support.environ import clean_env
from support.helper import built_binary, run_concurrently, unpack_folder
from support.hosts import ECR_HOST
from support.tokens import cache_entry

BINARY = built_binary()
pytestmark = pytest.mark.skipif(BINARY is None, reason="no built binary: run scripts/build-binary")
needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare"
)


def run(
    cmd: list[str], env: dict[str, str], stdin: str = ECR_HOST
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, input=stdin, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def unpacked(directory: Path) -> list[str]:
    """The builds unpacked in a runtime directory (beside them: their lock files)."""
    return sorted(p.name for p in directory.iterdir() if p.is_dir())


def leftovers(directory: Path) -> list[str]:
    """Anything in a runtime directory that is neither a build nor a build's lock file."""
    builds = unpacked(directory)
    return sorted(
        p.name
        for p in directory.iterdir()
        if p.name not in builds and p.name.removesuffix(".lock") not in builds
    )


def test_version_is_embedded(tmp_path: Path) -> None:
    from docker_credential_ecr import __version__

    env = clean_env(tmp_path, None)
    proc = run([str(BINARY), "version"], env, "")
    assert proc.returncode == 0
    assert proc.stdout.rstrip().endswith(" " + __version__)


def test_unpacks_once_beside_the_cache_and_reuses_it(tmp_path: Path, fake_aws: FakeAWS) -> None:
    env = clean_env(tmp_path, fake_aws)
    env.pop("DOCKER_CREDENTIAL_ECR_RUNTIME_DIR", None)
    first = run([str(BINARY), "get"], env)
    assert first.returncode == 0, first.stdout + first.stderr
    runtime = Path(env["AWS_ECR_CACHE_DIR"]) / "runtime"
    (build,) = unpacked(runtime)
    assert (runtime / build).stat().st_mode & 0o777 == 0o700
    stamp = (runtime / build / "docker-credential-ecr.bin").stat().st_mtime_ns
    second = run([str(BINARY), "get"], env)
    assert json.loads(second.stdout) == json.loads(first.stdout)
    assert unpacked(runtime) == [build]
    assert (runtime / build / "docker-credential-ecr.bin").stat().st_mtime_ns == stamp
    assert fake_aws.calls["ecr"] == 1


def test_concurrent_first_runs_unpack_one_copy(tmp_path: Path, fake_aws: FakeAWS) -> None:
    env = clean_env(tmp_path, fake_aws)
    env["DOCKER_CREDENTIAL_ECR_RUNTIME_DIR"] = str(tmp_path / "rt")
    results = run_concurrently([str(BINARY), "get"], 12, ECR_HOST.encode(), env, tmp_path)
    assert [r.returncode for r in results] == [0] * 12, [r.stdout for r in results if r.returncode]
    assert len(unpacked(tmp_path / "rt")) == 1  # no leftover temporary copies
    assert fake_aws.calls["ecr"] == 1


def test_truncated_file_fails_with_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "docker-credential-ecr"
    data = Path(str(BINARY)).read_bytes()
    broken.write_bytes(data[: len(data) - 100])
    broken.chmod(0o755)
    proc = run([str(broken), "get"], clean_env(tmp_path, None))
    assert (proc.returncode, proc.stdout) == (
        1,
        f"docker-credential-ecr: {broken} is damaged: its bundled program is missing or "
        "truncated\n",
    )


@needs_root
def test_unreadable_file_says_so_not_truncated(tmp_path: Path, other_user_dir: Path) -> None:
    private = other_user_dir / "docker-credential-ecr"
    shutil.copy(str(BINARY), private)
    private.chmod(0o711)  # others may execute it but not read it
    env = clean_env(tmp_path, None)
    env["TMPDIR"] = str(other_user_dir)
    proc = run(["setpriv", "--reuid=54321", "--regid=54321", "--clear-groups", str(private)], env)
    assert (proc.returncode, proc.stdout) == (
        1,
        f"docker-credential-ecr: cannot read {private}, which this user must be able to read "
        "to run it: Permission denied\n",
    )


def test_runtime_dir_of_another_user_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to make a directory owned by someone else")
    foreign = tmp_path / "foreign"
    foreign.mkdir(mode=0o777)
    os.chown(foreign, 54321, 54321)
    env = clean_env(tmp_path, None)
    env["DOCKER_CREDENTIAL_ECR_RUNTIME_DIR"] = str(foreign)
    proc = run([str(BINARY), "get"], env)
    assert (proc.returncode, proc.stdout) == (
        1,
        f"docker-credential-ecr: DOCKER_CREDENTIAL_ECR_RUNTIME_DIR={foreign} cannot be used: "
        f"{foreign} is owned by uid 54321\n",
    )
    assert list(foreign.iterdir()) == []


def test_folder_form_runs_through_a_symlink_on_path(tmp_path: Path, fake_aws: FakeAWS) -> None:
    program = unpack_folder(tmp_path / "opt")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "docker-credential-ecr").symlink_to(program)
    env = clean_env(tmp_path, fake_aws)
    env["PATH"] = f"{tmp_path / 'bin'}:{env['PATH']}"
    proc = run(["docker-credential-ecr", "get"], env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["Secret"] == fake_aws.issued[0]
    assert not (Path(env["AWS_ECR_CACHE_DIR"]) / "runtime").exists()  # nothing unpacked


@needs_root
@pytest.mark.parametrize("form", ["single-file", "folder"])
def test_runs_in_an_empty_root(
    tmp_path: Path, fake_aws_tls: FakeAWS, tls_files: tuple[str, str, str], form: str
) -> None:
    """No libc, no Python, no /proc, no /etc: only the program, a CA bundle and a temp dir."""
    root = tmp_path / "root"
    (root / "tmp").mkdir(parents=True)
    (root / "tmp").chmod(0o1777)
    if form == "single-file":
        shutil.copy2(str(BINARY), root / "docker-credential-ecr")
    else:
        unpack_folder(tmp_path / "folder")
        shutil.copytree(tmp_path / "folder" / "docker-credential-ecr", root / "app", symlinks=True)
        (root / "docker-credential-ecr").symlink_to("app/docker-credential-ecr")
    shutil.copy2(tls_files[0], root / "ca.pem")
    port = fake_aws_tls.url.rsplit(":", 1)[1]
    env = {
        "PATH": "/",
        "TMPDIR": "/tmp",
        "AWS_ECR_CACHE_DIR": "/tmp/cache",
        "AWS_CA_BUNDLE": "/ca.pem",
        "AWS_ACCESS_KEY_ID": "AKIDEMPTYROOT0000001",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL_ECR": f"https://127.0.0.1:{port}",
        # Named, so that the key computed here (outside the root, where ~ has a home and
        # perhaps an ~/.aws) is the one computed in there.
        "AWS_CONFIG_FILE": "/aws-config-absent",
        "AWS_SHARED_CREDENTIALS_FILE": "/aws-credentials-absent",
    }
    expected = ["ca.pem", "docker-credential-ecr", "tmp"] + (["app"] if form == "folder" else [])
    assert sorted(p.name for p in root.iterdir()) == sorted(expected)
    cmd = [shutil.which("chroot") or "/usr/sbin/chroot", str(root), "/docker-credential-ecr", "get"]
    cold = run(cmd, env)
    assert cold.returncode == 0, cold.stdout + cold.stderr
    assert json.loads(cold.stdout)["Secret"] == fake_aws_tls.issued[0]
    hot = run(cmd, env)
    assert json.loads(hot.stdout) == json.loads(cold.stdout)
    assert fake_aws_tls.calls["ecr"] == 1
    assert (root / cache_entry(env).relative_to("/")).exists()


# The binary is copied to an exec tmpfs at /mnt first: the checkout itself may
# live under /tmp, which the noexec mount hides.
NOEXEC_WORLD = """
set -e
mount --make-rprivate /
mount -t tmpfs -o mode=0755 tmpfs /mnt
mkdir -p /mnt/bin /mnt/home
cp "$1" /mnt/bin/docker-credential-ecr
shift
for d in /tmp /var/tmp /dev/shm /var/cache; do
  mount -t tmpfs -o noexec,nosuid,nodev tmpfs "$d"
done
mkdir -p /tmp/home
set +e
/mnt/bin/docker-credential-ecr "$@"
"""


def in_noexec_world(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the binary with ``args`` where /tmp, /var/tmp, /dev/shm and /var/cache are noexec."""
    return run(["unshare", "--mount", "sh", "-c", NOEXEC_WORLD, "sh", str(BINARY), *args], env)


@needs_root
def test_noexec_temp_dirs_and_home_give_one_line_saying_what_to_set(tmp_path: Path) -> None:
    env = clean_env(tmp_path, None)
    for name in ("AWS_ECR_CACHE_DIR", "DOCKER_CREDENTIAL_ECR_RUNTIME_DIR", "TMPDIR"):
        env.pop(name, None)
    env["HOME"] = "/tmp/home"
    proc = in_noexec_world(env, "get")
    assert proc.returncode == 1
    assert proc.stdout == (
        "docker-credential-ecr: no directory to unpack into that allows running programs and "
        "that only this user and root can write (tried /tmp/home/.cache/docker-credential-ecr/"
        "runtime, /var/cache/docker-credential-ecr/runtime, /tmp/docker-credential-ecr-0, "
        "/var/tmp/docker-credential-ecr-0, /dev/shm/docker-credential-ecr-0); "
        "set DOCKER_CREDENTIAL_ECR_RUNTIME_DIR to one, e.g. /var/lib/docker-credential-ecr\n"
    )


@needs_root
@pytest.mark.parametrize("where", ["home", "runtime-dir"])
def test_noexec_tmp_still_works_with_an_exec_home_or_runtime_dir(
    tmp_path: Path, fake_aws: FakeAWS, where: str
) -> None:
    env = clean_env(tmp_path, fake_aws)
    for name in ("AWS_ECR_CACHE_DIR", "DOCKER_CREDENTIAL_ECR_RUNTIME_DIR"):
        env.pop(name, None)
    env["TMPDIR"] = "/tmp"
    if where == "home":
        env["HOME"] = "/mnt/home"
    else:
        env["HOME"] = "/tmp/home"
        env["DOCKER_CREDENTIAL_ECR_RUNTIME_DIR"] = "/mnt/runtime"
    proc = in_noexec_world(env, "get")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["Secret"] == fake_aws.issued[0]


def test_python_is_not_needed_on_path(tmp_path: Path, fake_aws: FakeAWS) -> None:
    env = clean_env(tmp_path, fake_aws)
    env["PATH"] = str(tmp_path / "empty")
    proc = run([str(BINARY), "get"], env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sys.executable not in proc.stderr
    assert proc.stderr == ""
    assert json.loads(proc.stdout)["Secret"] == fake_aws.issued[0]


@needs_root
def test_full_runtime_directory_fails_in_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    env = clean_env(tmp_path, None)
    env["DOCKER_CREDENTIAL_ECR_RUNTIME_DIR"] = "/mnt/rt"
    script = (
        "set -e; mount --make-rprivate /; mount -t tmpfs -o size=1m tmpfs /mnt; "
        "mkdir -m 700 /mnt/rt; "
        'set +e; "$@"; status=$?; '
        'echo "left: $(ls -A /mnt/rt/docker-credential-ecr-0)" >&2; exit $status'
    )
    proc = run(["unshare", "--mount", "sh", "-c", script, "sh", str(BINARY), "get"], env)
    assert proc.returncode == 1
    assert proc.stdout.startswith(
        "docker-credential-ecr: cannot unpack into /mnt/rt/docker-credential-ecr-0: cannot write "
    )
    assert proc.stdout.endswith(": No space left on device\n")
    assert proc.stdout.count("\n") == 1
    (left,) = proc.stderr.splitlines()
    assert left.endswith(".lock")  # the partial copy was removed; only the build's lock is left
