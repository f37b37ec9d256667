"""Shared fixtures: a local AWS endpoint, a clean environment, and a way to run the helper."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from pack import debian_arch

from docker_credential_ecr.cache import encode
from docker_credential_ecr.registry import PUBLIC_HOSTS, private_forms
from docker_credential_ecr.token import AuthToken
from fakeaws import FakeAWS, make_certificate

ECR_HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
TEST_KEY_ID = "AKIDTESTHELPER000001"
TEST_SECRET_KEY = "test-secret-access-key-never-logged"


ROOT = Path(__file__).resolve().parent.parent


# Places a test run must leave as it found them: tests write only under their temporary
# directories.  /tmp itself is shared with everything else on the machine, so only the
# names the helper would use there are watched.
_WATCHED = ("/", "/opt", "/var/lib", "/var/cache", "/var/tmp", "/etc", "/run", "/dev/shm")
_WATCHED_IN_HOME = (".cache", ".config", ".docker", ".aws", ".local/share")


def _entries(directory: str) -> set[str]:
    try:
        return set(os.listdir(directory))
    except OSError:
        return set()


def _snapshot() -> dict[str, set[str]]:
    home = os.path.expanduser("~")
    places = [*_WATCHED, home, *(os.path.join(home, d) for d in _WATCHED_IN_HOME)]
    found = {place: _entries(place) for place in places}
    found["/tmp"] = {n for n in _entries("/tmp") if n.startswith("docker-credential-ecr")}
    return found


@pytest.fixture(autouse=True)
def _writes_only_under_temporary_directories() -> Iterator[None]:
    """Fail a test that left anything new outside its temporary directories."""
    before = _snapshot()
    yield
    after = _snapshot()
    left = sorted(
        os.path.join(place, name)
        for place, names in after.items()
        for name in names - before[place]
    )
    assert not left, f"the tests left files outside their temporary directories: {left}"


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


@pytest.fixture(scope="session")
def runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One directory for the binary to unpack into, shared by the whole session."""
    return str(tmp_path_factory.mktemp("runtime"))


@pytest.fixture(params=["script", "binary"])
def flavour(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, runtime_dir: str
) -> str:
    """Run the test against the pip-installed script and against the built single file."""
    if request.param == "binary":
        binary = built_binary()
        if binary is None:
            pytest.skip("no built binary: run scripts/build-binary")
        monkeypatch.setenv("DOCKER_CREDENTIAL_ECR_BIN", binary)
        monkeypatch.setenv("DOCKER_CREDENTIAL_ECR_RUNTIME_DIR", runtime_dir)
    else:
        monkeypatch.delenv("DOCKER_CREDENTIAL_ECR_BIN", raising=False)
        monkeypatch.delenv("DOCKER_CREDENTIAL_ECR_RUNTIME_DIR", raising=False)
    return str(request.param)


def helper_command() -> list[str]:
    """The helper under test: ``$DOCKER_CREDENTIAL_ECR_BIN`` (a built binary) or the script."""
    binary = os.environ.get("DOCKER_CREDENTIAL_ECR_BIN")
    if binary:
        return [binary]
    script = Path(sys.executable).with_name("docker-credential-ecr")
    if script.exists():
        return [str(script)]
    found = shutil.which("docker-credential-ecr")
    if found:
        return [found]
    return [sys.executable, "-m", "docker_credential_ecr"]


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str]:
    """A throw-away CA and a certificate for localhost: (ca, cert, key)."""
    ca, cert, key = make_certificate(tmp_path_factory.mktemp("tls"), ["localhost"], ("127.0.0.1",))
    return str(ca), str(cert), str(key)


@pytest.fixture
def other_user_dir() -> Iterator[Path]:
    """A fresh directory that any user can read and write (mode 1777), removed afterwards.

    pytest's own temporary directories sit under a 0700 directory of this user,
    so a test that runs something as another uid puts what that uid needs here.
    """
    path = Path(tempfile.mkdtemp(prefix="dce-other-user-"))
    path.chmod(0o1777)
    yield path
    shutil.rmtree(path)


@pytest.fixture
def fake_aws() -> Iterator[FakeAWS]:
    """A plain-HTTP local AWS endpoint, stopped after the test."""
    fake = FakeAWS().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_aws_tls(tls_files: tuple[str, str, str]) -> Iterator[FakeAWS]:
    """An HTTPS local AWS endpoint whose CA is ``tls_files[0]``."""
    fake = FakeAWS(tls=(tls_files[1], tls_files[2])).start()
    yield fake
    fake.stop()


def clean_env(tmp_path: Path, fake: FakeAWS | None) -> dict[str, str]:
    """An environment with every AWS variable set explicitly and nothing from the machine's.

    It sets none of the helper's own DOCKER_CREDENTIAL_ECR_* settings: any of them
    would turn off the executable's native cache-hit answer, which the tests run
    against the executable must exercise too.
    """
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": str(home),
        "AWS_ECR_CACHE_DIR": str(tmp_path / "cache"),
        "AWS_ACCESS_KEY_ID": TEST_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": TEST_SECRET_KEY,
        "AWS_CONFIG_FILE": str(home / "aws-config-absent"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials-absent"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt",
        "AWS_RETRY_MODE": "standard",
    }
    if "DOCKER_CREDENTIAL_ECR_RUNTIME_DIR" in os.environ:
        env["DOCKER_CREDENTIAL_ECR_RUNTIME_DIR"] = os.environ["DOCKER_CREDENTIAL_ECR_RUNTIME_DIR"]
    # Under scripts/test's coverage run, the helper's own processes are measured too.
    env.update({k: v for k, v in os.environ.items() if k.startswith("COVERAGE_")})
    if fake is not None:
        for service in ("ECR", "ECR_PUBLIC", "STS"):
            env[f"AWS_ENDPOINT_URL_{service}"] = fake.url
    return env


# Run as another user: swap two paths (RENAME_EXCHANGE) as fast as the kernel allows,
# to race whatever root resolves by name.  It says "swapping" once it has begun.
SWAPPER = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
a, b = (p.encode() for p in sys.argv[1:3])
print("swapping", flush=True)
while True:
    libc.renameat2(-100, a, -100, b, 2)  # RENAME_EXCHANGE
"""


OTHER = 54321
AS_OTHER = ["setpriv", f"--reuid={OTHER}", f"--regid={OTHER}", "--clear-groups"]


def their_python() -> str:
    """A Python the other user can run: the system's (a Python built under root's 0700
    home, as pyenv's, may not load its library for them)."""
    return next((p for p in ("/usr/bin/python3",) if os.access(p, os.X_OK)), sys.executable)


@contextlib.contextmanager
def as_other(script: str, *args: str, ready: bytes) -> Iterator[None]:
    """Run a Python ``script`` as the other user until the block ends; it has begun once it
    has printed ``ready``."""
    proc = subprocess.Popen([*AS_OTHER, their_python(), "-c", script, *args],
                            stdout=subprocess.PIPE)  # fmt: skip
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline() == ready
        yield
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


CLOSED_ENDPOINT = "http://127.0.0.1:9"


def offline_env(tmp_path: Path) -> dict[str, str]:
    """A clean environment whose AWS endpoints refuse connections: nothing leaves the machine."""
    env = clean_env(tmp_path, None)
    for service in ("ECR", "ECR_PUBLIC", "STS"):
        env[f"AWS_ENDPOINT_URL_{service}"] = CLOSED_ENDPOINT
    return env


@pytest.fixture
def env(tmp_path: Path, fake_aws: FakeAWS) -> dict[str, str]:
    """A clean environment pointed at the plain-HTTP endpoint."""
    return clean_env(tmp_path, fake_aws)


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


def cache_entry(env: dict[str, str], host: str = ECR_HOST) -> Path:
    """Where the helper keeps ``host``'s token for the identity ``env`` selects."""
    from docker_credential_ecr.cache import SUFFIX, key
    from docker_credential_ecr.config import Settings

    settings = Settings(env)
    tag = settings.identity_tag(settings.file.for_host(host).identity())
    return Path(settings.cache_dir) / (key(host, tag) + SUFFIX)


def make_token(
    secret: str = "seeded",
    age: float = 60.0,
    lifetime: float = 43200.0,
    user: str = "AWS",
    endpoint: str = f"https://{ECR_HOST}",
) -> AuthToken:
    """A token requested ``age`` seconds ago that lives ``lifetime`` seconds in all."""
    now = time.time()
    return AuthToken(user, secret, endpoint, now - age, now - age + lifetime)


def seed(
    env: dict[str, str],
    requested_ago: float,
    expires_in: float,
    secret: str = "seeded",
    host: str = ECR_HOST,
) -> Path:
    """Put a token in the cache as an earlier run would have; return its file."""
    path = cache_entry(env, host)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    token = make_token(secret, requested_ago, requested_ago + expires_in)
    path.write_bytes(encode(token))
    path.chmod(0o600)
    return path


def get(
    env: dict[str, str], url: str = ECR_HOST, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``get`` for ``url``, as Docker asks it."""
    return run_helper(["get"], url + "\n", env, timeout=timeout)


def secret_of(proc: subprocess.CompletedProcess[str]) -> str:
    """The secret of a successful ``get``'s answer (failing the test if it did not succeed)."""
    assert proc.returncode == 0, proc.stdout + proc.stderr
    answer = json.loads(proc.stdout)
    assert answer["Username"] == "AWS"
    return str(answer["Secret"])


def with_own(directory: Path, mountpoint: str) -> list[str]:
    """A command prefix (root only): run in a private mount namespace with ``directory``
    on ``mountpoint``, so that what the command writes there lands in the test's own
    temporary directory and no other process, this run's other worker included, sees it.
    """
    directory.mkdir(mode=0o755, exist_ok=True)
    # -n: libmount would otherwise record the bind in /run/mount/utab, making /run/mount
    # on a host that lacks it (and with ``mountpoint`` /run, before the bind hides it).
    script = 'mount -n --make-rprivate / && mount -n --bind "$0" "$1" && shift && exec "$@"'
    return ["unshare", "--mount", "sh", "-c", script, str(directory), mountpoint]


def with_var_cache(directory: Path) -> list[str]:
    """A command prefix: run in a private mount namespace with ``directory`` on /var/cache.

    Root's last-resort cache is /var/cache/docker-credential-ecr; tests that make it
    needed see it, for real, in their own temporary directory.
    """
    return with_own(directory, "/var/cache")


def run_helper(
    args: list[str],
    stdin: str | bytes,
    env: dict[str, str],
    timeout: float = 60,
    prefix: list[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the helper as Docker does (after ``prefix``, if any) and return what it printed."""
    data = stdin.encode() if isinstance(stdin, str) else stdin
    proc = subprocess.run(
        (prefix or []) + helper_command() + args,
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


def every_host_form() -> list[str]:
    """One host of each form registry.parse knows, built from its own tables."""
    hosts = sorted(PUBLIC_HOSTS)
    return hosts + [
        f"123456789012.{form.prefix}us-east-1.{suffix}" for form, suffix in private_forms()
    ]
