"""The installed ``docker-credential-ecr`` run as Docker runs it, against a local AWS endpoint."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from docker_credential_ecr.cache import decode
from fakeaws import FakeAWS, make_password
from support.environ import TEST_KEY_ID, TEST_SECRET_KEY, clean_env
from support.helper import Runner, get, run_concurrently, secret_of
from support.hosts import ECR_HOST
from support.tokens import seed

# Each test here has a script and a binary id, those that run no helper (python -m,
# exit_now) too: so it always was, and the ids stay as they were.
pytestmark = pytest.mark.usefixtures("runner")

NOT_FOUND = "credentials not found in native keychain\n"
CLOSED_PORT = "http://127.0.0.1:9"


def test_get_fetches_once_then_answers_from_cache(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    first = runner.run(["get"], f"  https://{ECR_HOST}/ \n", env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert json.loads(first.stdout) == {
        "ServerURL": f"https://{ECR_HOST}/",
        "Username": "AWS",
        "Secret": fake_aws.issued[0],
    }
    assert first.stderr == ""
    (request,) = fake_aws.requests
    assert request["api"] == "ecr"
    assert request["region"] == "us-east-1"
    assert request["key_id"] == TEST_KEY_ID
    assert json.loads(request["body"]) == {"registryIds": ["123456789012"]}
    second = get(runner, env)
    assert secret_of(second) == fake_aws.issued[0]
    assert fake_aws.calls["ecr"] == 1


def test_cache_hit_uses_no_network_and_loads_no_aws_or_lock_modules(
    env: dict[str, str], fake_aws: FakeAWS, runner: Runner
) -> None:
    secret = secret_of(get(runner, env))
    offline = {
        **env,
        "AWS_ENDPOINT_URL_ECR": CLOSED_PORT,
        "DOCKER_CREDENTIAL_ECR_LOG_LEVEL": "DEBUG",
    }
    hit = get(runner, offline)
    assert secret_of(hit) == secret
    assert hit.stderr.rstrip().endswith("get exited 0; heavy modules loaded: none")
    miss = get(
        runner, {**offline, "AWS_ENDPOINT_URL_ECR": fake_aws.url, "AWS_ECR_CACHE_DIR": env["HOME"]}
    )
    assert "heavy modules loaded: boto3, botocore, filelock, urllib3" in miss.stderr
    # Where a miss spends its time, for scripts/bench and operators.
    assert re.search(r"imported boto3 in [0-9.]+ ms", miss.stderr), miss.stderr
    assert re.search(
        r"fetched [^:]+: credentials [0-9.]+ ms, client [0-9.]+ ms, request [0-9.]+ ms",
        miss.stderr,
    )


def test_cache_hit_imports_nothing_heavy_per_import_profile(
    env: dict[str, str], runner: Runner
) -> None:
    """Every module a cache hit imports, from a source checkout with ``python -S``.

    Without site nothing is imported before the helper, so the profile is the
    helper's own cost (the frozen interpreter ignores PYTHONPROFILEIMPORTTIME).
    """
    if runner.name == "binary":
        pytest.skip("one check of the code is enough; the binary's is in the test above")
    seed(env, requested_ago=0, expires_in=3600)
    root = str(Path(__file__).resolve().parent.parent / "helper")
    hit = subprocess.run(
        [sys.executable, "-S", "-X", "importtime", "-m", "docker_credential_ecr", "get"],
        input=ECR_HOST,
        env={**env, "PYTHONPATH": root},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (
        secret_of(subprocess.CompletedProcess(hit.args, hit.returncode, hit.stdout, "")) == "seeded"
    )
    imported = {
        line.split("|")[-1].strip().split(".")[0] for line in hit.stderr.splitlines() if "|" in line
    }
    assert "docker_credential_ecr" in imported, (
        "import profiling did not run; the check would prove nothing"
    )
    heavy = {"boto3", "botocore", "filelock", "platformdirs", "urllib3", "logging", "fnmatch", "re",
             "enum", "pathlib", "tomllib", "json", "argparse", "hashlib", "_hashlib", "subprocess",
             "dataclasses", "typing"}  # fmt: skip
    assert imported.isdisjoint(heavy), sorted(imported & heavy)


def test_an_edited_aws_profile_is_a_new_identity(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    config = tmp_path / "aws-config"
    config.write_text("[profile puller]\nregion = us-east-1\n")
    env.update({"AWS_CONFIG_FILE": str(config), "AWS_PROFILE": "puller"})
    first = secret_of(get(runner, env))
    assert secret_of(get(runner, env)) == first  # a hit
    assert fake_aws.calls["ecr"] == 1
    # The profile now means something else: the token cached for what it meant is not served.
    config.write_text("[profile puller]\nregion = us-east-1\nrole_session_name = other\n")
    assert secret_of(get(runner, env)) == fake_aws.issued[1]
    assert fake_aws.calls["ecr"] == 2


def test_https_endpoint_verified_with_ca_bundle(
    runner: Runner, tmp_path: Path, fake_aws_tls: FakeAWS, tls_files: tuple[str, str, str]
) -> None:
    env = clean_env(tmp_path, fake_aws_tls, runner)
    env["AWS_CA_BUNDLE"] = tls_files[0]
    assert secret_of(get(runner, env)) == fake_aws_tls.issued[0]
    # The system's CA bundle does not know the test CA; a cache of its own forces a fetch.
    untrusted = {
        **env,
        "AWS_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt",
        "AWS_ECR_CACHE_DIR": str(tmp_path / "other-cache"),
    }
    failed = get(runner, untrusted)
    assert failed.returncode == 1
    assert failed.stdout.startswith(
        f"docker-credential-ecr: cannot get an ECR token for {ECR_HOST}: "
    )
    assert "SSL" in failed.stdout or "certificate" in failed.stdout


def test_every_registry_form_reaches_its_region(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    for host, region in [
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "eu-west-1"),
        ("210987654321.dkr-ecr.ap-southeast-2.on.aws", "ap-southeast-2"),
        ("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com", "us-gov-west-1"),
    ]:
        assert secret_of(get(runner, env, host)) == fake_aws.issued[-1]
        assert fake_aws.requests[-1]["region"] == region
        assert json.loads(fake_aws.requests[-1]["body"])["registryIds"] == [host.split(".")[0]]


def test_ecr_public(runner: Runner, env: dict[str, str], fake_aws: FakeAWS) -> None:
    assert secret_of(get(runner, env, "public.ecr.aws")) == fake_aws.issued[0]
    assert fake_aws.calls == {"ecr-public": 1}
    assert fake_aws.requests[0]["region"] == "us-east-1"


@pytest.mark.parametrize("fault", ["deny", "5xx"])
def test_ecr_public_failure_means_anonymous(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, fault: str
) -> None:
    fake_aws.sticky_fault = fault
    proc = get(runner, env, "public.ecr.aws")
    assert (proc.returncode, proc.stdout) == (1, NOT_FOUND)


def test_ecr_public_without_credentials_means_anonymous(
    runner: Runner, env: dict[str, str]
) -> None:
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    proc = get(runner, env, "public.ecr.aws")
    assert (proc.returncode, proc.stdout) == (1, NOT_FOUND)


@pytest.mark.parametrize(
    "url",
    ["docker.io", "https://index.docker.io/v1/", "localhost:5000", f"{ECR_HOST}.evil.example"],
)
def test_foreign_host_is_not_found(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, url: str
) -> None:
    proc = get(runner, env, url)
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, NOT_FOUND, "")
    assert fake_aws.total_calls() == 0


def test_store_get_list_erase_for_a_plain_registry(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    login = {"ServerURL": "registry.example:5000", "Username": "bob", "Secret": 'pa$$ "word"'}
    stored = runner.run(["store"], json.dumps(login), env)
    assert (stored.returncode, stored.stdout) == (0, "")
    assert json.loads(get(runner, env, "registry.example:5000").stdout) == login
    assert json.loads(runner.run(["list"], "", env).stdout) == {"registry.example:5000": "bob"}
    logins = Path(env["AWS_ECR_CACHE_DIR"], "logins")
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in logins.iterdir())
    erased = runner.run(["erase"], "https://registry.example:5000/\n", env)
    assert (erased.returncode, erased.stdout) == (0, "")
    assert get(runner, env, "registry.example:5000").stdout == NOT_FOUND
    assert json.loads(runner.run(["list"], "", env).stdout) == {}
    assert fake_aws.total_calls() == 0


def test_docker_login_token_for_ecr_is_used_until_erased(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    password = make_password(time.time() + 12 * 3600)
    stored = runner.run(
        ["store"], json.dumps({"ServerURL": ECR_HOST, "Username": "AWS", "Secret": password}), env
    )
    assert (stored.returncode, stored.stdout) == (0, "")
    assert secret_of(get(runner, env, f"https://{ECR_HOST}")) == password
    assert fake_aws.total_calls() == 0
    assert runner.run(["erase"], ECR_HOST, env).returncode == 0
    assert secret_of(get(runner, env)) == fake_aws.issued[0]
    assert fake_aws.calls["ecr"] == 1


def test_docker_login_token_is_kept_until_its_own_expiry(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    # A password minted 11 hours ago has an hour left.  Its expiry comes from the
    # password itself; its refresh window from the time of the store.
    expiry = int(time.time() + 3600)
    password = make_password(expiry)
    runner.run(
        ["store"], json.dumps({"ServerURL": ECR_HOST, "Username": "AWS", "Secret": password}), env
    )
    assert secret_of(get(runner, env)) == password
    assert fake_aws.total_calls() == 0
    (entry,) = Path(env["AWS_ECR_CACHE_DIR"]).glob("*.token")
    token = decode(entry.read_bytes())
    assert token is not None
    assert token.expires_at == expiry


def test_docker_login_with_an_expired_password_is_not_kept(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    password = make_password(time.time() - 60)
    stored = runner.run(
        ["store"], json.dumps({"ServerURL": ECR_HOST, "Username": "AWS", "Secret": password}), env
    )
    assert (stored.returncode, stored.stdout) == (0, "")
    assert stored.stderr == (
        f"docker-credential-ecr: warning: the password given for {ECR_HOST} has expired; "
        "not keeping it\n"
    )
    assert secret_of(get(runner, env)) == fake_aws.issued[0]


def test_ignore_creds_storage_makes_store_and_erase_no_ops(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    env["AWS_ECR_IGNORE_CREDS_STORAGE"] = "true"
    login = json.dumps({"ServerURL": "registry.example", "Username": "u", "Secret": "s"})
    assert runner.run(["store"], login, env).returncode == 0
    assert get(runner, env, "registry.example").stdout == NOT_FOUND
    assert not Path(env["AWS_ECR_CACHE_DIR"]).exists()
    assert runner.run(["erase"], "registry.example", env).returncode == 0


def test_erase_of_nothing_succeeds(runner: Runner, env: dict[str, str]) -> None:
    for url in (ECR_HOST, "https://index.docker.io/v1/", "nothing.example"):
        proc = runner.run(["erase"], url, env)
        assert (proc.returncode, proc.stdout) == (0, "")


def test_list_is_local_only(runner: Runner, env: dict[str, str], fake_aws: FakeAWS) -> None:
    secret_of(get(runner, env))
    runner.run(
        ["store"], json.dumps({"ServerURL": "r.example", "Username": "u", "Secret": "s"}), env
    )
    offline = {**env, "AWS_ENDPOINT_URL_ECR": CLOSED_PORT}
    listed = runner.run(["list"], "", offline)
    assert listed.returncode == 0
    assert json.loads(listed.stdout) == {f"https://{ECR_HOST}": "AWS", "r.example": "u"}


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


def test_access_denied_is_one_truthful_line(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    fake_aws.sticky_fault = "deny"
    proc = get(runner, env)
    assert proc.returncode == 1
    assert proc.stdout == (
        f"docker-credential-ecr: cannot get an ECR token for {ECR_HOST}: AccessDeniedException: "
        "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: "
        "ecr:GetAuthorizationToken on resource: *\n"
    )
    assert proc.stderr == proc.stdout  # Docker shows the stderr of a failed get, not its stdout
    assert fake_aws.calls["ecr"] == 1  # access denied is not retried


def test_no_credentials_says_how_to_provide_them(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    env.pop("AWS_EC2_METADATA_DISABLED")
    env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = CLOSED_PORT
    proc = runner.run(["get"], ECR_HOST, env, timeout=15)
    assert proc.returncode == 1
    assert proc.stdout.startswith(
        f"docker-credential-ecr: cannot get an ECR token for {ECR_HOST}: no AWS credentials found"
    )
    assert "AWS_PROFILE" in proc.stdout
    assert fake_aws.total_calls() == 0


def test_no_credentials_with_a_silent_metadata_service_ends_in_seconds(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    # A metadata address that accepts connections and never answers, like a
    # firewall that drops the replies: the credential chain must give up quickly.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_EC2_METADATA_DISABLED"]
        env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        proc = runner.run(["get"], ECR_HOST, env, timeout=20)
        elapsed = time.monotonic() - started
    assert proc.returncode == 1
    assert "no AWS credentials found" in proc.stdout
    assert elapsed < 10, f"took {elapsed:.1f}s to report missing credentials"
    assert fake_aws.total_calls() == 0


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


def test_throttling_is_retried(runner: Runner, env: dict[str, str], fake_aws: FakeAWS) -> None:
    fake_aws.faults = ["throttle", "5xx"]
    assert secret_of(get(runner, env)) == fake_aws.issued[0]
    assert fake_aws.calls["ecr"] == 3


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("5xx", "ServerException: internal failure"),
        ("throttle", "ThrottlingException: Rate exceeded"),
    ],
)
def test_persistent_server_errors_end_after_bounded_retries(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, fault: str, reason: str
) -> None:
    fake_aws.sticky_fault = fault
    env["DOCKER_CREDENTIAL_ECR_MAX_ATTEMPTS"] = "2"
    proc = get(runner, env)
    assert proc.returncode == 1
    assert (
        proc.stdout == f"docker-credential-ecr: cannot get an ECR token for {ECR_HOST}: {reason}\n"
    )
    assert fake_aws.calls["ecr"] == 2


@pytest.mark.parametrize("fault", ["reset", "garbage"])
def test_broken_connections_are_one_line(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, fault: str
) -> None:
    fake_aws.sticky_fault = fault
    proc = get(runner, env)
    assert proc.returncode == 1
    assert proc.stdout.startswith(
        f"docker-credential-ecr: cannot get an ECR token for {ECR_HOST}: "
    )
    assert proc.stdout.count("\n") == 1
    assert "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("badtoken", "AWS returned a malformed authorization token"),
        ("noexpiry", "AWS returned a token without an expiry"),
    ],
)
def test_malformed_answers_from_aws_are_one_truthful_line(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, fault: str, reason: str
) -> None:
    fake_aws.sticky_fault = fault
    proc = get(runner, env)
    assert (proc.returncode, proc.stdout) == (
        1,
        f"docker-credential-ecr: cannot get an ECR token for {ECR_HOST}: {reason}\n",
    )
    assert not list(Path(env["AWS_ECR_CACHE_DIR"]).glob("*.token"))


def test_unopenable_log_file_warns_and_answers(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    env["DOCKER_CREDENTIAL_ECR_LOG_FILE"] = "/nonexistent-dir/helper.log"
    proc = get(runner, env)
    assert secret_of(proc) == fake_aws.issued[0]
    (line,) = proc.stderr.splitlines()
    assert line.startswith("docker-credential-ecr: warning: cannot open the log file: ")


def test_hanging_endpoint_hits_the_read_timeout(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    fake_aws.sticky_fault = "hang"
    env.update(
        {"DOCKER_CREDENTIAL_ECR_READ_TIMEOUT": "0.5", "DOCKER_CREDENTIAL_ECR_MAX_ATTEMPTS": "2"}
    )
    proc = runner.run(["get"], ECR_HOST, env, timeout=20)
    assert proc.returncode == 1
    assert "Read timeout" in proc.stdout
    assert fake_aws.calls["ecr"] == 2


def test_deadline_bounds_the_whole_get(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    fake_aws.sticky_fault = "hang"
    env.update(
        {"DOCKER_CREDENTIAL_ECR_READ_TIMEOUT": "60", "DOCKER_CREDENTIAL_ECR_DEADLINE": "1.5"}
    )
    proc = runner.run(["get"], ECR_HOST, env, timeout=20)
    assert (proc.returncode, proc.stdout) == (
        1,
        f"docker-credential-ecr: cannot get an ECR token for {ECR_HOST}: "
        "no answer from AWS within 1.5s\n",
    )


def test_refresh_failure_serves_the_still_valid_token(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    env["DOCKER_CREDENTIAL_ECR_BACKGROUND_REFRESH"] = "false"  # refresh before answering
    seed(env, requested_ago=11 * 3600, expires_in=3600)
    fake_aws.sticky_fault = "deny"
    proc = get(runner, env)
    assert secret_of(proc) == "seeded"
    assert proc.stderr.startswith("docker-credential-ecr: warning: AccessDeniedException: ")
    assert proc.stderr.endswith(f"; serving the cached token for {ECR_HOST}\n")
    assert fake_aws.calls["ecr"] == 1


def test_stale_token_is_refreshed_when_aws_answers(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    env["DOCKER_CREDENTIAL_ECR_BACKGROUND_REFRESH"] = "false"  # refresh before answering
    seed(env, requested_ago=7 * 3600, expires_in=5 * 3600)
    assert secret_of(get(runner, env)) == fake_aws.issued[0]
    assert secret_of(get(runner, env)) == fake_aws.issued[0]
    assert fake_aws.calls["ecr"] == 1


def background_refreshes(env: dict[str, str]) -> list[int]:
    """Pids of refresh processes started for this test's cache (they run detached)."""
    marker = f"AWS_ECR_CACHE_DIR={env['AWS_ECR_CACHE_DIR']}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker in environ and b"refresh" in cmdline:
            found.append(int(proc.name))
    return found


def wait_for_background_refreshes(env: dict[str, str], fake_aws: FakeAWS, calls: int) -> None:
    """Wait (bounded) until ``calls`` API calls were made and no refresh process is left."""
    deadline = time.monotonic() + 60
    while fake_aws.total_calls() < calls or background_refreshes(env):
        assert time.monotonic() < deadline, (fake_aws.calls, background_refreshes(env))
        time.sleep(0.05)  # polling a condition, bounded by the deadline above


def test_token_in_its_refresh_window_is_served_at_once_and_refreshed_behind(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    seed(env, requested_ago=7 * 3600, expires_in=5 * 3600)
    fake_aws.delay = 1.0
    first = get(runner, env)
    assert secret_of(first) == "seeded"  # answered without waiting for AWS
    assert first.stderr == ""
    wait_for_background_refreshes(env, fake_aws, calls=1)
    assert secret_of(get(runner, env)) == fake_aws.issued[0]
    assert fake_aws.calls["ecr"] == 1


def test_many_gets_in_the_refresh_window_make_one_call(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    seed(env, requested_ago=7 * 3600, expires_in=5 * 3600)
    fake_aws.delay = 0.5
    results = run_concurrently([*runner.command, "get"], 16, ECR_HOST.encode(), env, tmp_path)
    assert [r.returncode for r in results] == [0] * 16
    assert {json.loads(r.stdout)["Secret"] for r in results} <= {"seeded", *fake_aws.issued}
    wait_for_background_refreshes(env, fake_aws, calls=1)
    assert fake_aws.calls["ecr"] == 1


def test_failed_background_refresh_is_reported_by_the_next_get(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    seed(env, requested_ago=7 * 3600, expires_in=5 * 3600)
    fake_aws.sticky_fault = "deny"
    assert secret_of(get(runner, env)) == "seeded"
    wait_for_background_refreshes(env, fake_aws, calls=1)
    second = get(runner, env)
    assert secret_of(second) == "seeded"
    assert second.stderr.startswith("docker-credential-ecr: warning: AccessDeniedException: ")
    assert second.stderr.endswith(f"; serving the cached token for {ECR_HOST}\n")
    wait_for_background_refreshes(env, fake_aws, calls=2)


def test_expired_token_is_never_served(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    seed(env, requested_ago=12 * 3600 - 60, expires_in=60)
    fake_aws.sticky_fault = "5xx"
    proc = get(runner, env)
    assert proc.returncode == 1
    assert "seeded" not in proc.stdout + proc.stderr


def test_corrupt_cache_is_rewritten(runner: Runner, env: dict[str, str], fake_aws: FakeAWS) -> None:
    seed(env, requested_ago=0, expires_in=3600)
    entry = next(Path(env["AWS_ECR_CACHE_DIR"]).glob("*.token"))
    entry.write_bytes(b"\x00garbage")
    assert secret_of(get(runner, env)) == fake_aws.issued[0]
    assert secret_of(get(runner, env)) == fake_aws.issued[0]
    assert fake_aws.calls["ecr"] == 1


def test_unwritable_cache_still_answers_and_warns(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    (tmp_path / "not-a-dir").write_text("")
    env["AWS_ECR_CACHE_DIR"] = str(tmp_path / "not-a-dir" / "cache")
    proc = get(runner, env)
    assert secret_of(proc) == fake_aws.issued[0]
    (line,) = proc.stderr.splitlines()  # warned once
    assert line.startswith("docker-credential-ecr: warning: cannot use the token cache (")


def test_disabled_cache_calls_aws_every_time(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    env["AWS_ECR_DISABLE_CACHE"] = "1"
    secret_of(get(runner, env))
    secret_of(get(runner, env))
    assert fake_aws.calls["ecr"] == 2
    assert not Path(env["AWS_ECR_CACHE_DIR"]).exists()


def test_identities_do_not_share_tokens(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    first = secret_of(get(runner, env))
    other = {**env, "AWS_ACCESS_KEY_ID": "AKIDOTHERIDENTITY001"}
    second = secret_of(get(runner, other))
    assert first != second
    assert [r["key_id"] for r in fake_aws.requests] == [TEST_KEY_ID, "AKIDOTHERIDENTITY001"]
    assert secret_of(get(runner, env)) == first
    assert fake_aws.calls["ecr"] == 2


def test_assumed_role_profile_is_cached_without_resolving_credentials(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    config = tmp_path / "aws-config"
    config.write_text(
        "[profile base]\naws_access_key_id = AKIDBASEPROFILE00001\n"
        "aws_secret_access_key = base-secret\n\n"
        "[profile puller]\nrole_arn = arn:aws:iam::123456789012:role/puller\n"
        "source_profile = base\n"
    )
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    env.update({"AWS_CONFIG_FILE": str(config), "AWS_PROFILE": "puller"})
    for _ in range(3):
        assert secret_of(get(runner, env)) == fake_aws.issued[0]
    assert fake_aws.calls == {"sts:AssumeRole": 1, "ecr": 1}
    assert fake_aws.requests[0]["key_id"] == "AKIDBASEPROFILE00001"
    assert fake_aws.requests[1]["key_id"].startswith("ASIA")


def test_concurrent_cold_gets_make_one_call(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    fake_aws.delay = 1.0
    env["DOCKER_CREDENTIAL_ECR_LOG_LEVEL"] = "DEBUG"
    results = run_concurrently([*runner.command, "get"], 32, ECR_HOST.encode(), env, tmp_path)
    assert [r.returncode for r in results] == [0] * 32, [r.stdout for r in results if r.returncode]
    assert {json.loads(r.stdout)["Secret"] for r in results} == {fake_aws.issued[0]}
    assert fake_aws.calls["ecr"] == 1
    # Proof that they overlapped: processes that missed the cache, waited for the
    # lock and then found the token another process had fetched meanwhile.
    waited = sum(b"refreshed by another process" in r.stderr for r in results)
    assert waited >= 1


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


def test_no_secret_in_any_output_or_file_at_debug_level(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    log_file = tmp_path / "helper.log"
    env.update(
        {
            "DOCKER_CREDENTIAL_ECR_LOG_LEVEL": "DEBUG",
            "DOCKER_CREDENTIAL_ECR_LOG_FILE": str(log_file),
        }
    )
    stderr_env = {**env}
    del stderr_env["DOCKER_CREDENTIAL_ECR_LOG_FILE"]
    outputs: list[str] = []
    login = json.dumps(
        {"ServerURL": "r.example", "Username": "u", "Secret": "plain-registry-password"}
    )
    ecr_login = json.dumps(
        {"ServerURL": ECR_HOST, "Username": "AWS", "Secret": make_password(time.time() + 3600)}
    )
    for e in (env, stderr_env):
        steps = [
            (["get"], ECR_HOST),
            (["get"], ECR_HOST),
            (["get"], "public.ecr.aws"),
            (["store"], login),
            (["get"], "r.example"),
            (["list"], ""),
            (["store"], ecr_login),
            (["get"], ECR_HOST),
            (["erase"], ECR_HOST),
            (["erase"], "r.example"),
        ]
        for args, data in steps:
            proc = runner.run(args, data, e)
            outputs.append(proc.stderr)
            if args != ["get"]:
                outputs.append(proc.stdout)
        fake_aws.sticky_fault = "deny"
        seed(e, 11 * 3600, 3600, secret="seeded-secret")
        outputs += [get(runner, e).stderr, get(runner, e, "public.ecr.aws").stderr]
        fake_aws.sticky_fault = None
    logged = log_file.read_text()
    assert "DEBUG" in logged, "debug logging did not run"
    assert "cache hit" in logged
    assert any("DEBUG" in o for o in outputs)
    secrets = [
        *fake_aws.issued,
        TEST_SECRET_KEY,
        "plain-registry-password",
        "seeded-secret",
        "Authorization:",
        "AWS4-HMAC-SHA256",
        "Signature=",
    ]
    haystack = "\n".join(outputs) + logged
    for secret in secrets:
        assert secret not in haystack
    home_files = [p for p in Path(env["HOME"]).rglob("*") if p.is_file()]
    assert all(s not in p.read_text(errors="ignore") for p in home_files for s in secrets)


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv"
)
def test_no_home_and_no_passwd_entry_says_what_to_set(
    env: dict[str, str], runner: Runner, other_user_dir: Path
) -> None:
    del env["HOME"], env["AWS_ECR_CACHE_DIR"]
    # The binary unpacks as that user, by default into $TMPDIR/docker-credential-ecr-54321.
    env.pop("DOCKER_CREDENTIAL_ECR_RUNTIME_DIR", None)
    env["TMPDIR"] = str(other_user_dir)
    as_user = ["setpriv", "--reuid=54321", "--regid=54321", "--clear-groups"]
    command = runner.command
    if runner.name == "binary":
        # The checkout may be where uid 54321 cannot read (under /root, mode 0700).
        command = [str(shutil.copy(command[0], other_user_dir / "docker-credential-ecr"))]
    else:
        probe = [*as_user, *command, "version"]
        if subprocess.run(probe, env=env, capture_output=True, check=False).returncode:
            pytest.skip(f"uid 54321 cannot run {command[0]} (a checkout it cannot read)")
    proc = subprocess.run(
        [*as_user, *command, "get"],
        input=ECR_HOST,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert (proc.returncode, proc.stdout) == (
        1,
        "docker-credential-ecr: no home directory for uid 54321; set AWS_ECR_CACHE_DIR or HOME\n",
    )


def test_home_unset_uses_the_passwd_home(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    del env["HOME"], env["AWS_ECR_CACHE_DIR"]
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    assert secret_of(get(runner, env)) == fake_aws.issued[0]
    assert list((tmp_path / "xdg" / "docker-credential-ecr").glob("*.token"))
