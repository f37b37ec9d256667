"""Clean environments for the helper: nothing from the machine's, the test identity's keys."""

from __future__ import annotations

import os
from pathlib import Path

from fakeaws import FakeAWS
from support.helper import Runner

TEST_KEY_ID = "AKIDTESTHELPER000001"
TEST_SECRET_KEY = "test-secret-access-key-never-logged"

CLOSED_ENDPOINT = "http://127.0.0.1:9"


def clean_env(tmp_path: Path, fake: FakeAWS | None, runner: Runner | None = None) -> dict[str, str]:
    """An environment with every AWS variable set explicitly and nothing from the machine's,
    for ``runner`` if given.

    It sets none of the helper's own DOCKER_CREDENTIAL_ECR_* settings but the binary
    runner's runtime directory: any other would turn off the executable's native
    cache-hit answer, which the tests run against the executable must exercise too.
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
    if runner is not None and runner.runtime_dir is not None:
        env["DOCKER_CREDENTIAL_ECR_RUNTIME_DIR"] = runner.runtime_dir
    # Under scripts/test's coverage run, the helper's own processes are measured too.
    env.update({k: v for k, v in os.environ.items() if k.startswith("COVERAGE_")})
    if fake is not None:
        for service in ("ECR", "ECR_PUBLIC", "STS"):
            env[f"AWS_ENDPOINT_URL_{service}"] = fake.url
    return env


def offline_env(tmp_path: Path) -> dict[str, str]:
    """A clean environment whose AWS endpoints refuse connections: nothing leaves the machine."""
    env = clean_env(tmp_path, None)
    for service in ("ECR", "ECR_PUBLIC", "STS"):
        env[f"AWS_ENDPOINT_URL_{service}"] = CLOSED_ENDPOINT
    return env
