"""Logging: no secret at debug level on stderr, in the log file or in any file; a log file
that cannot be opened is one warning and the answer still comes.

The installed ``docker-credential-ecr`` (script and binary) run as Docker runs it, against
a local AWS endpoint.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from fakeaws import FakeAWS, make_password
from support.environ import TEST_SECRET_KEY
from support.helper import Runner, get, secret_of
from support.hosts import ECR_HOST
from support.tokens import seed


def test_unopenable_log_file_warns_and_answers(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    env["DOCKER_CREDENTIAL_ECR_LOG_FILE"] = "/nonexistent-dir/helper.log"
    proc = get(runner, env)
    assert secret_of(proc) == fake_aws.issued[0]
    (line,) = proc.stderr.splitlines()
    assert line.startswith("docker-credential-ecr: warning: cannot open the log file: ")


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
