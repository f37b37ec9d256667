"""AWS refusing, failing, throttling, hanging or out of reach: bounded retries and timeouts,
then one truthful line.

The installed ``docker-credential-ecr`` (script and binary) run as Docker runs it, against
a local AWS endpoint.  More faults, with a valid cached token and on hostile filesystems,
are in test_reliability.py.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from fakeaws import FakeAWS
from support.environ import CLOSED_ENDPOINT as CLOSED_PORT
from support.helper import Runner, get, secret_of
from support.hosts import ECR_HOST


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
