"""What a cache hit loads: no network and no heavy module (boto3, botocore, typing, ...),
by the helper's own report and by an import profile; where a miss spends its time.

The installed ``docker-credential-ecr`` (script and binary) run as Docker runs it, against
a local AWS endpoint.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from fakeaws import FakeAWS
from support.environ import CLOSED_ENDPOINT as CLOSED_PORT
from support.helper import Runner, get, secret_of
from support.hosts import ECR_HOST
from support.tokens import seed


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
             "dataclasses", "typing", "prometheus_client"}  # fmt: skip
    assert imported.isdisjoint(heavy), sorted(imported & heavy)
