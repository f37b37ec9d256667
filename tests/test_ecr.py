"""The AWS seam: which API endpoint each registry form selects (no network involved), and
what a failed fetch from the local AWS endpoint is labelled."""

from __future__ import annotations

import time
from pathlib import Path

import boto3.session
import botocore.config
import pytest

from docker_credential_ecr.config import Options
from docker_credential_ecr.ecr import client_for, make_fetcher
from docker_credential_ecr.errors import TokenError
from docker_credential_ecr.fileconfig import RegistryConfig
from docker_credential_ecr.registry import parse
from fakeaws import FakeAWS
from support.environ import clean_env

A = "123456789012"


@pytest.mark.parametrize(
    ("host", "endpoint"),
    [
        (f"{A}.dkr.ecr.us-east-1.amazonaws.com", "https://api.ecr.us-east-1.amazonaws.com"),
        (f"{A}.dkr.ecr-fips.us-east-1.amazonaws.com", "https://ecr-fips.us-east-1.amazonaws.com"),
        (
            f"{A}.dkr.ecr-fips.us-gov-west-1.amazonaws.com",
            "https://ecr-fips.us-gov-west-1.amazonaws.com",
        ),
        (f"{A}.dkr-ecr.us-east-1.on.aws", "https://ecr.us-east-1.api.aws"),
        (f"{A}.dkr-ecr-fips.us-east-1.on.aws", "https://ecr-fips.us-east-1.api.aws"),
        (f"{A}.dkr.ecr.cn-north-1.amazonaws.com.cn", "https://api.ecr.cn-north-1.amazonaws.com.cn"),
        ("public.ecr.aws", "https://api.ecr-public.us-east-1.amazonaws.com"),
    ],
)
def test_endpoint_follows_the_registry_host(
    host: str, endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_ECR",
        "AWS_ENDPOINT_URL_ECR_PUBLIC",
        "AWS_USE_FIPS_ENDPOINT",
        "AWS_USE_DUALSTACK_ENDPOINT",
        "AWS_PROFILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    reg = parse(host)
    assert reg is not None
    session = boto3.session.Session(aws_access_key_id="AKID", aws_secret_access_key="s")
    client = client_for(session, reg, botocore.config.Config())
    assert client.meta.endpoint_url == endpoint
    assert client.meta.region_name == reg.region


@pytest.mark.parametrize(
    ("fault", "read_timeout", "code"),
    [
        ("deny", 5.0, "AccessDeniedException"),
        ("reset", 5.0, "ConnectionClosedError"),
        ("hang", 0.2, "ReadTimeoutError"),
        ("hang", 5.0, "DeadlineExceeded"),
        ("badtoken", 5.0, "Other"),
    ],
)
def test_a_failed_fetch_names_its_code_for_the_metrics(
    fault: str,
    read_timeout: float,
    code: str,
    tmp_path: Path,
    fake_aws: FakeAWS,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The failures counter's code label: AWS's code, botocore's error, the deadline, else Other."""
    for name, value in clean_env(tmp_path, fake_aws).items():
        monkeypatch.setenv(name, value)
    fake_aws.sticky_fault = fault
    reg = parse(f"{A}.dkr.ecr.us-east-1.amazonaws.com")
    assert reg is not None
    fetch = make_fetcher(Options(1.0, read_timeout, 1, 1.0), time.time)
    with pytest.raises(TokenError) as caught:
        fetch(reg, RegistryConfig())
    assert caught.value.code == code
