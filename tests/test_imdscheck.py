"""doctor on a host whose SDK found no credentials (commands/imdscheck.py): it tells the
metadata service turned off, absent or blocked, silent after IMDSv2's token request
(the hop-limit symptom), and present with no role apart, each with its fix; against the
local endpoint's metadata service."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from docker_credential_ecr.commands import imdscheck
from fakeaws import FakeAWS
from support.environ import CLOSED_ENDPOINT
from support.helper import Runner
from support.hosts import ECR_HOST


def no_keys(env: dict[str, str], endpoint: str | None) -> dict[str, str]:
    """``env`` without keys; the metadata service asked at ``endpoint`` (None: turned off)."""
    found = {
        k: v for k, v in env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    }
    if endpoint is not None:
        del found["AWS_EC2_METADATA_DISABLED"]
        found["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = endpoint
    return found


def problem(env: dict[str, str], prefix: list[str] | None = None) -> tuple[str, str]:
    """doctor's line about the registry's credentials, and its fix.

    In a process of its own: the AWS SDK reads its process's environment, which must be
    ``env`` and nothing of the test runner's.
    """
    proc = Runner.script().run(["doctor", ECR_HOST], "", env, prefix=prefix)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if "no AWS credentials found" in line)
    return lines[at], lines[at + 1]


@pytest.fixture
def env(tmp_path: Path, fake_aws: FakeAWS) -> dict[str, str]:
    from support.environ import clean_env

    return clean_env(tmp_path, fake_aws)


def test_turned_off(env: dict[str, str]) -> None:
    line, fix = problem(no_keys(env, None))
    assert line.endswith(
        "; the instance metadata service is not asked (AWS_EC2_METADATA_DISABLED=true)"
    )
    assert "unset AWS_EC2_METADATA_DISABLED" in fix


def test_nothing_answers(env: dict[str, str]) -> None:
    line, fix = problem(no_keys(env, CLOSED_ENDPOINT))
    assert f"; no instance metadata service answers at {CLOSED_ENDPOINT}/ (" in line
    assert "Connection refused" in line
    assert "set AWS_PROFILE or keys" in fix


@pytest.mark.skipif(
    os.geteuid() != 0 or not all(map(shutil.which, ("unshare", "ip", "iptables"))),
    reason="needs root, unshare, ip and iptables",
)
def test_a_blocked_endpoint_is_not_taken_for_the_hop_limit(env: dict[str, str]) -> None:
    # In a network namespace of its own, a firewall that drops every packet to the
    # endpoint: the connection is never accepted, unlike the hop limit's symptom.
    firewall = (
        f"{shutil.which('ip')} link set lo up && {shutil.which('iptables')}"
        ' -A OUTPUT -d 127.0.0.2 -j DROP && exec "$@"'
    )
    endpoint = "http://127.0.0.2:8080"
    prefix = ["unshare", "--net", "sh", "-c", firewall, "sh"]
    line, fix = problem(no_keys(env, endpoint), prefix)
    assert line.endswith(
        f"; nothing accepts a connection to the metadata service at {endpoint}/ within 1 s"
        " (a firewall drops it, or this is not EC2)"
    )
    assert "hop limit" not in fix
    assert "set AWS_PROFILE or keys" in fix


def test_the_token_request_goes_unanswered(env: dict[str, str], fake_aws: FakeAWS) -> None:
    fake_aws.imds_silent = True
    line, fix = problem(no_keys(env, fake_aws.url))
    assert line.endswith("did not answer IMDSv2's token request within 1 s")
    assert fix == f"         fix: {imdscheck.HOP_LIMIT_FIX}"


def test_no_role(env: dict[str, str], fake_aws: FakeAWS) -> None:
    fake_aws.instance_role = ""
    line, fix = problem(no_keys(env, fake_aws.url))
    assert line.endswith("; the instance has no role (no instance profile is attached)")
    assert "attach an instance profile" in fix
    assert fake_aws.calls["imds:token"] >= 1


def test_a_proxy_in_the_environment_is_not_used_for_the_link_local_service(
    fake_aws: FakeAWS,
) -> None:
    fake_aws.instance_role = ""
    environ = {"AWS_EC2_METADATA_SERVICE_ENDPOINT": fake_aws.url, "http_proxy": CLOSED_ENDPOINT}
    assert (
        imdscheck.explain(environ)[0]
        == "the instance has no role (no instance profile is attached)"
    )
