"""Faults, crashes, hostile input and hostile filesystems: the helper keeps answering truthfully.

docs/reliability.md lists each fault, what the helper does, and the test here
that proves it.
"""

from __future__ import annotations

import json
import os
import random
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from docker_credential_ecr.cache import decode, encode
from docker_credential_ecr.token import AuthToken
from fakeaws import FAULTS, FakeAWS
from support.helper import Runner, built_binary, get
from support.hosts import ECR_HOST
from support.mounts import with_var_cache
from support.tokens import cache_entry, seed

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare"
)
WARNING = "docker-credential-ecr: warning: "
FAILED = f"docker-credential-ecr: cannot get an ECR token for {ECR_HOST}: "


def snapshot(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


# ---- faults at the AWS endpoint ----


@pytest.mark.parametrize("fault", FAULTS)
def test_fault_with_a_valid_cached_token_serves_it_and_warns(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, fault: str
) -> None:
    seed(env, requested_ago=11 * 3600, expires_in=3600)
    fake_aws.sticky_fault = fault
    env.update({"DOCKER_CREDENTIAL_ECR_READ_TIMEOUT": "1", "DOCKER_CREDENTIAL_ECR_DEADLINE": "6"})
    # Refresh before answering: the behaviour under test.  In the background
    # (the default) the same failure is reported by the next get instead:
    # tests/test_refresh.py::test_failed_background_refresh_is_reported_by_the_next_get.
    env["DOCKER_CREDENTIAL_ECR_BACKGROUND_REFRESH"] = "false"
    proc = get(runner, env, timeout=30)
    assert proc.returncode == 0, proc.stdout
    assert json.loads(proc.stdout)["Secret"] == "seeded"
    (line,) = proc.stderr.splitlines()
    assert line.startswith(WARNING)
    assert line.endswith(f"; serving the cached token for {ECR_HOST}")


@pytest.mark.parametrize("fault", FAULTS)
def test_fault_without_a_token_fails_within_the_deadline_in_one_line(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, fault: str
) -> None:
    fake_aws.sticky_fault = fault
    env.update({"DOCKER_CREDENTIAL_ECR_READ_TIMEOUT": "2", "DOCKER_CREDENTIAL_ECR_DEADLINE": "8"})
    proc = get(runner, env, timeout=8 + 12)  # the subprocess timeout is the deadline's proof
    assert proc.returncode == 1
    assert proc.stdout.startswith(FAILED)
    assert proc.stdout.count("\n") == 1
    assert "Traceback" not in proc.stdout + proc.stderr


def test_throttling_backs_off_between_attempts(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    fake_aws.sticky_fault = "throttle"
    env["DOCKER_CREDENTIAL_ECR_MAX_ATTEMPTS"] = "4"
    proc = get(runner, env, timeout=40)
    assert proc.stdout == f"{FAILED}ThrottlingException: Rate exceeded\n"
    times = [r["time"] for r in fake_aws.requests]
    assert len(times) == 4
    # Standard retry mode sleeps random(0, 1) * 2**attempt: about 3.5 s expected in all;
    # under 50 ms would mean retrying without backing off.
    assert times[-1] - times[0] > 0.05


@needs_root
@pytest.mark.parametrize(
    ("endpoint", "why"),
    [("http://127.0.0.1:9", "no route"), ("http://ecr.invalid", "no name resolution")],
)
def test_no_network_at_all_fails_fast_or_serves_the_cache(
    runner: Runner, env: dict[str, str], endpoint: str, why: str
) -> None:
    """In a network namespace whose only interface is down: nothing is reachable."""
    env["AWS_ENDPOINT_URL_ECR"] = endpoint
    cmd = ["unshare", "--net", *runner.command, "get"]
    proc = subprocess.run(
        cmd, input=ECR_HOST, env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == 1, why
    assert proc.stdout.startswith(FAILED)
    assert proc.stdout.count("\n") == 1
    seed(env, requested_ago=11 * 3600, expires_in=3600)
    proc = subprocess.run(
        cmd, input=ECR_HOST, env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert (proc.returncode, json.loads(proc.stdout)["Secret"]) == (0, "seeded")


# ---- crashes ----


def test_kill_9_during_refresh_leaves_no_lock_and_a_parseable_cache(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    """Kill the refreshing process at the moment its request reaches AWS, and at random points."""
    rng = random.Random(20261128)
    request = tmp_path / "request"
    request.write_text(ECR_HOST)
    env["DOCKER_CREDENTIAL_ECR_LOG_LEVEL"] = "DEBUG"  # says whether the lock was free
    kills = 0
    for i in range(16):
        entry = cache_entry(env)
        if entry.exists():
            entry.unlink()  # force a refresh
        fake_aws.delay = rng.uniform(0.05, 0.3)
        with request.open("rb") as stdin:
            proc = subprocess.Popen(
                [*runner.command, "get"],
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
            )
        if i % 2 == 0:
            # Deterministic: while it holds the lock, mid-request.
            fake_aws.on_request = lambda _record, p=proc: p.send_signal(signal.SIGKILL)
            proc.communicate(timeout=60)
        else:
            # Anywhere in its life, start-up and cache write included.
            try:
                proc.wait(timeout=rng.uniform(0.0, 0.6))
            except subprocess.TimeoutExpired:
                proc.kill()
            proc.communicate(timeout=60)
        fake_aws.on_request = None
        kills += proc.returncode == -signal.SIGKILL
        fake_aws.delay = 0.0
        env_check = {**env, "DOCKER_CREDENTIAL_ECR_LOCK_TIMEOUT": "2"}
        after = runner.run(["get"], ECR_HOST, env_check)
        assert after.returncode == 0, after.stdout
        assert "busy" not in after.stderr  # the dead process's lock died with it
        for path in Path(env["AWS_ECR_CACHE_DIR"]).glob("*.token"):
            assert decode(path.read_bytes()) is not None
    assert kills >= 8


# ---- hostile input ----

# Seeded, so that every pytest-xdist worker collects the same test ids.
_NOISE = random.Random(20261201).randbytes(5 * 1024 * 1024)
BAD_INPUTS: list[tuple[list[str], bytes]] = [
    (["get"], b""),
    (["erase"], b""),
    (["store"], b""),
    (["get"], b"\xff\xfe\x00garbage"),
    (["store"], b'{"ServerURL": "r.example", "Username": "u", "Secret": "s"'),
    (["store"], b'{"ServerURL": ["x"], "Username": "u", "Secret": "s"}'),
    (["store"], b'{"ServerURL": "", "Username": "u", "Secret": "s"}'),
    (["store"], b'{"ServerURL": "r.example", "Username": "", "Secret": "s"}'),
    (["store"], b"null"),
    (["store"], b"\xff" * 100),
    (["get"], _NOISE),
    (["store"], _NOISE[::-1]),
    (["erase"], _NOISE[1:] + _NOISE[:1]),
    (["frobnicate"], b""),
    (["get", "--extra"], ECR_HOST.encode()),
    (["list", "extra"], b""),
]


@pytest.mark.parametrize(("args", "data"), BAD_INPUTS, ids=lambda v: repr(v)[:40])
def test_bad_input_is_one_line_exit_1_and_leaves_the_cache_alone(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, args: list[str], data: bytes
) -> None:
    seed(env, requested_ago=0, expires_in=3600)
    cache = Path(env["AWS_ECR_CACHE_DIR"])
    before = snapshot(cache)
    started = time.monotonic()
    proc = runner.run(args, data, env, timeout=30)
    assert proc.returncode == 1
    assert proc.stdout.count("\n") == 1, proc.stdout
    assert proc.stdout.startswith(
        (
            "docker-credential-ecr: ",
            "no credentials",
            "request on stdin",
            "store expects",
            "ServerURL, Username",
            "credentials not found",
        )
    )
    assert "Traceback" not in proc.stdout + proc.stderr
    assert snapshot(cache) == before
    assert fake_aws.total_calls() == 0
    assert time.monotonic() - started < 20


# ---- hostile filesystems ----


def test_umask_000_still_gives_private_files(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    cmd = ["sh", "-c", 'umask 000; exec "$@"', "sh", *runner.command, "get"]
    proc = subprocess.run(
        cmd, input=ECR_HOST, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stdout
    cache = Path(env["AWS_ECR_CACHE_DIR"])
    assert cache.stat().st_mode & 0o777 == 0o700
    for path in cache.iterdir():
        if path.is_file():
            assert path.stat().st_mode & 0o777 == 0o600, path


def _kept_only_where_trusted(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path, why: str
) -> None:
    """The configured cache fails the trusted-path rule: nothing goes there, and the
    token is kept in root's own cache (root) or not at all (anyone else), with a warning."""
    cache = Path(env["AWS_ECR_CACHE_DIR"])
    before = sorted(cache.iterdir())
    var_cache = tmp_path / "var-cache"
    prefix = with_var_cache(var_cache) if os.geteuid() == 0 else None
    proc = runner.run(["get"], ECR_HOST, env, prefix=prefix)
    assert proc.returncode == 0, proc.stdout
    assert json.loads(proc.stdout)["Secret"] == fake_aws.issued[-1]
    assert sorted(cache.iterdir()) == before
    kept = sorted(p.name for p in var_cache.rglob("*.token"))
    if os.geteuid() == 0:
        assert proc.stderr.startswith(f"{WARNING}not keeping tokens in {cache}: {why}; "), proc
        assert "; using /var/cache/docker-credential-ecr\n" in proc.stderr
        assert len(kept) == 1
    else:
        assert proc.stderr.startswith(f"{WARNING}tokens are not cached: {cache}: {why}; ")
        assert kept == []


def test_loose_cache_directory_is_not_used_nor_changed(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    cache = Path(env["AWS_ECR_CACHE_DIR"])
    cache.mkdir(mode=0o777)
    cache.chmod(0o777)
    why = f"{cache} is writable by group and others (mode 777)"
    _kept_only_where_trusted(runner, env, fake_aws, tmp_path, why)
    assert cache.stat().st_mode & 0o777 == 0o777


@needs_root
def test_cache_directory_owned_by_someone_else_is_not_used(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    cache = Path(env["AWS_ECR_CACHE_DIR"])
    cache.mkdir(mode=0o755)
    os.chown(cache, 54321, 54321)
    _kept_only_where_trusted(runner, env, fake_aws, tmp_path, f"{cache} is owned by uid 54321")


@needs_root
def test_home_of_another_user_is_not_roots_cache(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    # sudo -E keeps the user's HOME: root must not keep tokens where that user can write.
    home = tmp_path / "alice"
    home.mkdir()
    os.chown(home, 54321, 54321)
    del env["AWS_ECR_CACHE_DIR"]
    env["HOME"] = str(home)
    var_cache = tmp_path / "var-cache"
    proc = runner.run(["get"], ECR_HOST, env, prefix=with_var_cache(var_cache))
    assert proc.returncode == 0, proc.stdout
    assert list(home.iterdir()) == []
    assert len(list((var_cache / "docker-credential-ecr").glob("*.token"))) == 1


def test_symlinked_cache_directory_is_used_where_it_leads(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    Path(env["AWS_ECR_CACHE_DIR"]).symlink_to(target)
    proc = get(runner, env)
    assert proc.returncode == 0, proc.stdout
    assert proc.stderr == ""
    assert len(list(target.glob("*.token"))) == 1


def test_cache_entry_replaced_by_a_symlink_never_overwrites_its_target(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    victim.chmod(0o600)
    entry = cache_entry(env)
    entry.parent.mkdir(mode=0o700, parents=True)
    entry.symlink_to(victim)
    proc = get(runner, env)
    assert proc.returncode == 0
    assert victim.read_text() == "precious"
    assert not entry.is_symlink()
    assert decode(entry.read_bytes()) is not None


@pytest.mark.parametrize("garbage", [b"", b"\x00" * 64, b"docker-credential-ecr token v1\nnan\n"])
def test_garbage_entry_counts_as_empty_and_is_rewritten(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, garbage: bytes
) -> None:
    seed(env, 0, 3600)
    cache_entry(env).write_bytes(garbage)
    assert get(runner, env).returncode == 0
    assert decode(cache_entry(env).read_bytes()) is not None
    assert fake_aws.calls["ecr"] == 1


def in_mount_namespace(
    runner: Runner, env: dict[str, str], setup: str, after: str = "true"
) -> subprocess.CompletedProcess[str]:
    """Run ``get`` in a private mount namespace after ``setup``, then ``after``."""
    script = (
        f'set -e; mount --make-rprivate /; {setup}; set +e; "$@"; status=$?; {after}; exit $status'
    )
    cmd = ["unshare", "--mount", "sh", "-c", script, "sh", *runner.command, "get"]
    return subprocess.run(
        cmd, input=ECR_HOST, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def stale_seed(tmp_path: Path) -> Path:
    path = tmp_path / "seed"
    now = time.time()
    path.write_bytes(
        encode(AuthToken("AWS", "seeded", "https://h", now - 7 * 3600, now + 5 * 3600))
    )
    return path


@needs_root
def test_read_only_cache_still_answers_and_keeps_the_old_entry(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    entry = cache_entry(env)
    entry.parent.mkdir(mode=0o700, parents=True)
    shutil.copy(stale_seed(tmp_path), entry)
    entry.chmod(0o600)
    cache = shlex.quote(str(entry.parent))
    proc = in_mount_namespace(
        runner, env, f"mount --bind {cache} {cache}; mount -o remount,bind,ro {cache}"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["Secret"] == fake_aws.issued[0]
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"{WARNING}cannot use the token cache (")
    assert decode(entry.read_bytes()).secret == "seeded"  # type: ignore[union-attr]


@needs_root
def test_full_disk_still_answers_and_keeps_the_old_entry(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    env["DOCKER_CREDENTIAL_ECR_BACKGROUND_REFRESH"] = "false"  # the write under test is ours
    entry = cache_entry(env)
    entry.parent.mkdir(mode=0o700, parents=True)
    q = shlex.quote
    cache, kept = q(str(entry.parent)), tmp_path / "entry-after"
    setup = (
        f"mount -t tmpfs -o size=16k,mode=0700 tmpfs {cache}; "
        f"cp {q(str(stale_seed(tmp_path)))} {q(str(entry))}; chmod 600 {q(str(entry))}; "
        f"dd if=/dev/zero of={cache}/filler bs=1k count=64 2>/dev/null || true"
    )
    proc = in_mount_namespace(runner, env, setup, after=f"cp {q(str(entry))} {q(str(kept))}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["Secret"] == fake_aws.issued[0]
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"{WARNING}cannot write the token cache (")
    assert decode(kept.read_bytes()).secret == "seeded"  # type: ignore[union-attr]


# ---- the clock ----


def faketime_library() -> str | None:
    for path in (
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/faketime/libfaketime.so.1",
    ):
        if Path(path).exists():
            return path
    return None


def faketime_prefix(offset: str) -> list[str]:
    """A command prefix running the helper with its clock shifted by an offset ("+13h").

    libfaketime keeps state in /dev/shm; a private mount namespace with its own
    /dev/shm keeps that inside the test (and away from other tests running meanwhile).
    """
    library = faketime_library()
    if library is None:
        pytest.skip("libfaketime is not installed (Debian package faketime)")
    script = 'mount --make-rprivate / && mount -t tmpfs tmpfs /dev/shm && exec env "$@"'
    return ["unshare", "--mount", "sh", "-c", script, "sh",
            f"LD_PRELOAD={library}", f"FAKETIME={offset}"]  # fmt: skip


@pytest.fixture
def faketime(runner: Runner) -> Callable[[str], list[str]]:
    """faketime_prefix, for the tests of a cache hit: the package only."""
    if runner.name == "binary":
        pytest.skip(
            "the static launcher cannot be faked; the native path's clock rule is "
            "covered by tests/test_fastpath.py with tokens of every age"
        )
    return faketime_prefix


def shifted_get(
    runner: Runner, env: dict[str, str], prefix: list[str]
) -> subprocess.CompletedProcess[str]:
    """``get`` for ECR_HOST with the clock the prefix sets."""
    return runner.run(["get"], ECR_HOST + "\n", env, prefix=prefix)


def test_clock_jumped_past_expiry_never_serves_the_cached_token(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, faketime: Callable[[str], list[str]]
) -> None:
    seed(env, requested_ago=60, expires_in=12 * 3600)
    fake_aws.sticky_fault = "5xx"
    proc = shifted_get(runner, env, faketime("+13h"))
    assert proc.returncode == 1
    assert "seeded" not in proc.stdout + proc.stderr
    assert proc.stdout.startswith(FAILED)


@pytest.mark.parametrize(("offset", "says"), [("+13h", "13h00m ahead of"), ("-6h", "6h00m behind")])
def test_a_skewed_host_fetches_once_per_token_lifetime(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, offset: str, says: str
) -> None:
    """The lifetime is measured on AWS's clock and cached on the host's: one call, not five.

    With the executable, the fake clock reaches the frozen program (where the token is
    fetched and timed) but not the static launcher, which reads the cache by the real
    clock: the token it finds must be fresh by that clock too.
    """
    prefix = faketime_prefix(offset)
    answers = [shifted_get(runner, env, prefix) for _ in range(5)]
    assert [a.returncode for a in answers] == [0] * 5, answers[0].stderr
    assert {json.loads(a.stdout)["Secret"] for a in answers} == {fake_aws.issued[0]}
    assert fake_aws.total_calls() == 1
    (warning,) = answers[0].stderr.splitlines()
    assert warning.startswith(f"{WARNING}this host's clock is {says} AWS's")
    assert "NTP" in warning
    assert [a.stderr for a in answers[1:]] == [""] * 4  # a cache hit does not measure
    cached = decode(cache_entry(env).read_bytes())
    assert cached is not None
    assert abs(cached.expires_at - cached.requested_at - fake_aws.lifetime) < 60


def test_an_endpoint_refusing_a_skewed_signature_is_answered_with_the_clock(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    """AWS's refusal names no clock; the failure says which is off, by how much, and the fix."""
    fake_aws.signature_window = 300.0
    proc = shifted_get(runner, env, faketime_prefix("+13h"))
    assert proc.returncode == 1
    (line,) = proc.stdout.splitlines()
    assert line.startswith(f"{FAILED}InvalidSignatureException: Signature not yet current")
    assert line.endswith("(this host's clock is 13h00m ahead of AWS's: set the clock, with NTP)")
    assert not cache_entry(env).exists()


def test_an_endpoint_checking_signatures_accepts_a_right_clock(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    """The refusal above comes from the clock: the same endpoint answers an unshifted get."""
    fake_aws.signature_window = 300.0
    proc = get(runner, env)
    assert (proc.returncode, proc.stderr) == (0, "")


def test_clock_jumped_back_still_serves_a_valid_token(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, faketime: Callable[[str], list[str]]
) -> None:
    seed(env, requested_ago=60, expires_in=12 * 3600)
    proc = shifted_get(runner, env, faketime("-2h"))
    assert (proc.returncode, json.loads(proc.stdout)["Secret"]) == (0, "seeded")
    assert fake_aws.total_calls() == 0


# ---- many processes at once, for a while ----


@pytest.mark.slow
def test_soak_many_processes_short_lived_tokens(
    env: dict[str, str], fake_aws: FakeAWS, runner: Runner, tmp_path: Path
) -> None:
    if runner.name == "script" and built_binary() is not None:
        pytest.skip("soaked once, with the binary")
    seconds = float(os.environ.get("SOAK_SECONDS", "60"))
    workers = int(os.environ.get("SOAK_WORKERS", "64"))
    lifetime = 12.0
    fake_aws.lifetime = lifetime
    hosts = [
        ECR_HOST,
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
        "210987654321.dkr.ecr.us-west-2.amazonaws.com",
    ]
    cache = Path(env["AWS_ECR_CACHE_DIR"])
    worker = Path(__file__).with_name("soak_worker.py")
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            ["python3", str(worker), json.dumps(runner.command), str(seconds), str(i), *hosts],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        for i in range(workers)
    ]
    torn = 0
    reads = 0
    while any(p.poll() is None for p in procs):
        # The cache must parse at every moment: writes are atomic.
        for path in cache.glob("*.token"):
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue
            reads += 1
            torn += decode(data) is None
    elapsed = time.monotonic() - started
    stats: list[dict[str, Any]] = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err.decode()[-2000:]
        stats.append(json.loads(out))
    calls = sum(s["calls"] for s in stats)
    failures = [f for s in stats for f in s["failures"]]
    worst = max(s["worst"] for s in stats)
    refreshes_allowed = len(hosts) * (int(elapsed / (lifetime / 2)) + 2)
    summary = {
        "workers": workers,
        "seconds": round(elapsed, 1),
        "helper_calls": calls,
        "failures": len(failures),
        "worst_call_s": round(worst, 2),
        "api_calls": fake_aws.calls["ecr"],
        "api_calls_allowed": refreshes_allowed,
        "cache_reads": reads,
        "torn_reads": torn,
    }
    print("soak:", json.dumps(summary))
    Path(os.environ.get("SOAK_REPORT", tmp_path / "soak.json")).write_text(
        json.dumps(summary) + "\n"
    )
    assert failures == []
    assert torn == 0
    assert reads > 0
    assert 0 < fake_aws.calls["ecr"] <= refreshes_allowed
