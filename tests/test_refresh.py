"""A token due for refresh: refreshed before the answer, or served at once and refreshed
behind by one background process whose failure the next ``get`` reports; an expired
token is never served.

The installed ``docker-credential-ecr`` (script and binary) run as Docker runs it, against
a local AWS endpoint.  The refresh process in-process
is in test_background.py.
"""

from __future__ import annotations

import json
from pathlib import Path

from fakeaws import FakeAWS
from support.helper import Runner, get, run_concurrently, secret_of
from support.hosts import ECR_HOST
from support.refresh import wait_for_background_refreshes
from support.tokens import seed


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
