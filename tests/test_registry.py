"""Every registry host form the helper must recognise, and the ones it must not."""

from __future__ import annotations

import pytest

from docker_credential_ecr.registry import Registry, host_of, parse

A = "123456789012"

PRIVATE = [
    # (server URL as Docker or a user may spell it, region, suffix, fips, dualstack)
    (f"{A}.dkr.ecr.us-east-1.amazonaws.com", "us-east-1", "amazonaws.com", False, False),
    (f"https://{A}.dkr.ecr.eu-west-1.amazonaws.com/", "eu-west-1", "amazonaws.com", False, False),
    (
        f"https://{A}.dkr.ecr.us-west-2.amazonaws.com/v2/repo",
        "us-west-2",
        "amazonaws.com",
        False,
        False,
    ),
    (f"{A}.dkr.ecr.ap-south-1.amazonaws.com:443", "ap-south-1", "amazonaws.com", False, False),
    (f"  {A}.DKR.ECR.US-EAST-1.AMAZONAWS.COM \n", "us-east-1", "amazonaws.com", False, False),
    (
        f"{A}.dkr.ecr-fips.us-gov-west-1.amazonaws.com",
        "us-gov-west-1",
        "amazonaws.com",
        True,
        False,
    ),
    (f"{A}.dkr.ecr-fips.us-east-1.amazonaws.com", "us-east-1", "amazonaws.com", True, False),
    (f"{A}.dkr-ecr.us-east-1.on.aws", "us-east-1", "on.aws", False, True),
    (f"{A}.dkr-ecr-fips.us-gov-east-1.on.aws", "us-gov-east-1", "on.aws", True, True),
    (f"{A}.dkr.ecr.cn-north-1.amazonaws.com.cn", "cn-north-1", "amazonaws.com.cn", False, False),
    (
        f"{A}.dkr-ecr.cn-northwest-1.on.amazonwebservices.com.cn",
        "cn-northwest-1",
        "on.amazonwebservices.com.cn",
        False,
        True,
    ),
    (f"{A}.dkr.ecr.us-iso-east-1.c2s.ic.gov", "us-iso-east-1", "c2s.ic.gov", False, False),
    (f"{A}.dkr.ecr.us-isob-east-1.sc2s.sgov.gov", "us-isob-east-1", "sc2s.sgov.gov", False, False),
    (
        f"{A}.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk",
        "eu-isoe-west-1",
        "cloud.adc-e.uk",
        False,
        False,
    ),
    (
        f"{A}.dkr.ecr.us-isof-south-1.csp.hci.ic.gov",
        "us-isof-south-1",
        "csp.hci.ic.gov",
        False,
        False,
    ),
    (f"{A}.dkr.ecr.eusc-de-east-1.amazonaws.eu", "eusc-de-east-1", "amazonaws.eu", False, False),
    (f"http://{A}.dkr.ecr.us-east-1.amazonaws.com.", "us-east-1", "amazonaws.com", False, False),
]

NOT_ECR = [
    "",
    "docker.io",
    "https://index.docker.io/v1/",
    "localhost:5000",
    "registry.example.com",
    f"{A}.dkr.ecr.us-east-1.amazonaws.com.evil.example",
    f"{A}.dkr.ecr.us-east-1.amazonaws.com-evil.example",
    f"evil.{A}.dkr.ecr.us-east-1.amazonaws.com",
    f"{A[:-1]}.dkr.ecr.us-east-1.amazonaws.com",  # 11 digits
    f"{A}0.dkr.ecr.us-east-1.amazonaws.com",  # 13 digits
    "abcdefghijkl.dkr.ecr.us-east-1.amazonaws.com",
    f"{A}.dkr.ecr.amazonaws.com",  # no region
    f"{A}.dkr.ecr.useast1.amazonaws.com",  # not region-shaped
    f"{A}.dkr.ecr.-us-east-1.amazonaws.com",
    f"{A}.dkr.ecr.us_east_1.amazonaws.com",
    f"{A}.dkr-ecr.us-east-1.amazonaws.com",  # dual-stack label under an IPv4 suffix
    f"{A}.dkr.ecr.us-east-1.on.aws",  # IPv4 labels under a dual-stack suffix
    f"{A}.ecr.us-east-1.amazonaws.com",
    f"{A}.dkr.ecr.us-east-1.amazonaws.org",
    "ecr.us-east-1.amazonaws.com",
    "public.ecr.aws.evil.example",
    "evil-public.ecr.aws",
    "[::1]:5000",
]


@pytest.mark.parametrize(("url", "region", "suffix", "fips", "dualstack"), PRIVATE)
def test_private_registry_forms(
    url: str, region: str, suffix: str, fips: bool, dualstack: bool
) -> None:
    host = url.strip().split("://")[-1].split("/")[0].split(":")[0].rstrip(".").lower()
    assert parse(url) == Registry(
        host, account=A, region=region, suffix=suffix, fips=fips, dualstack=dualstack
    )


@pytest.mark.parametrize(
    "url",
    [
        "public.ecr.aws",
        "https://public.ecr.aws/",
        "PUBLIC.ECR.AWS",
        "ecr-public.aws.com",
        "public.ecr.aws/v2/library/nginx",
    ],
)
def test_public_registry_forms(url: str) -> None:
    reg = parse(url)
    assert reg is not None
    assert reg.public
    assert reg.region == "us-east-1"
    assert reg.account == ""


@pytest.mark.parametrize("url", NOT_ECR)
def test_not_ecr(url: str) -> None:
    assert parse(url) is None


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://user@host.example:8443/path", "host.example"),
        ("HOST.example.", "host.example"),
        ("[::1]:5000", "[::1]"),
    ],
)
def test_host_of(url: str, host: str) -> None:
    assert host_of(url) == host


def test_registry_equality_and_repr() -> None:
    a = parse(f"{A}.dkr.ecr.us-east-1.amazonaws.com")
    b = parse(f"https://{A}.dkr.ecr.us-east-1.amazonaws.com/")
    assert a == b
    assert hash(a) == hash(b)
    assert a != parse(f"{A}.dkr.ecr.us-east-2.amazonaws.com")
    assert "us-east-1" in repr(a)
