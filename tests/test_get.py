"""``get``: a miss fetches once, however many ask at a time; a hit answers from the cache.

Every private registry form reaches its region, over HTTPS with the configured CA bundle
too; ECR Public without credentials or with AWS failing is anonymous; a host that is not
ECR's is not found.

The installed ``docker-credential-ecr`` (script and binary) run as Docker runs it, against
a local AWS endpoint.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakeaws import FakeAWS
from support.environ import TEST_KEY_ID, clean_env
from support.helper import NOT_FOUND, Runner, get, run_concurrently, secret_of
from support.hosts import ECR_HOST


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
