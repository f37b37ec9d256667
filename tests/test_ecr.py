"""The AWS seam: which API endpoint each registry form selects (no network involved)."""

from __future__ import annotations

import boto3.session
import botocore.config
import pytest

from docker_credential_ecr.ecr import client_for
from docker_credential_ecr.registry import parse

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
