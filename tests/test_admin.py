"""Operator commands through the real executable: refresh, status, policy, configure, export."""

from __future__ import annotations

import base64
import json
import os
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

from fakeaws import FakeAWS
from support.environ import TEST_SECRET_KEY
from support.helper import Runner
from support.hosts import ECR_HOST
from support.mounts import with_var_cache

EU_HOST = "210987654321.dkr.ecr.eu-west-1.amazonaws.com"


def cmd(runner: Runner, env: dict[str, str], *args: str) -> tuple[int, str]:
    proc = runner.run(list(args), "", env)
    assert "Traceback" not in proc.stdout + proc.stderr
    return proc.returncode, proc.stdout


def fail(runner: Runner, env: dict[str, str], *args: str) -> str:
    """A command that must fail: what it said, which is on stderr and is one line."""
    proc = runner.run(list(args), "", env)
    assert proc.returncode == 1, proc
    assert not proc.stdout, "a command's error belongs on stderr, not in its output"
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stderr


def warm(runner: Runner, env: dict[str, str], *hosts: str) -> None:
    for host in hosts:
        assert runner.run(["get"], host, env).returncode == 0


def test_policy(runner: Runner, tmp_path: Path, runtime_dir: str) -> None:
    # No cache, no configuration, no AWS: policy needs nothing but the program.
    bare = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path / "absent"),
        "DOCKER_CREDENTIAL_ECR_RUNTIME_DIR": runtime_dir,
    }
    code, out = cmd(runner, bare, "policy")
    policy = json.loads(out)
    assert code == 0
    assert policy["Statement"][0]["Action"] == [
        "ecr:GetAuthorizationToken",
        "ecr-public:GetAuthorizationToken",
        "sts:GetServiceBearerToken",
    ]
    pull = json.loads(cmd(runner, bare, "policy", "--pull")[1])
    assert pull["Statement"][1]["Action"] == [
        "ecr:BatchCheckLayerAvailability",
        "ecr:GetDownloadUrlForLayer",
        "ecr:BatchGetImage",
    ]


def test_status_shows_tokens_and_logins_never_secrets(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    warm(runner, env, ECR_HOST)
    runner.run(
        ["store"],
        json.dumps({"ServerURL": "r.example", "Username": "bob", "Secret": "pw-xyz"}),
        env,
    )
    code, out = cmd(runner, env, "status")
    assert code == 0
    assert ECR_HOST in out
    assert "fresh" in out
    assert "login: r.example as bob" in out
    code, out = cmd(runner, env, "status", "--json")
    status = json.loads(out)
    assert status["tokens"][0]["registry"] == ECR_HOST
    assert status["tokens"][0]["state"] == "fresh"
    assert status["logins"] == [{"server": "r.example", "user": "bob"}]
    for secret in (*fake_aws.issued, "pw-xyz"):
        assert secret not in cmd(runner, env, "status")[1] + out


def test_refresh_skips_fresh_tokens_unless_all(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    warm(runner, env, ECR_HOST, EU_HOST)
    code, out = cmd(runner, env, "refresh")
    assert code == 0
    lines = sorted(out.splitlines())
    assert [line.split(": ")[0] for line in lines] == sorted([ECR_HOST, EU_HOST])
    assert all(": fresh until " in line for line in lines)
    assert fake_aws.calls["ecr"] == 2
    code, out = cmd(runner, env, "refresh", "--all")
    assert code == 0
    assert all(": refreshed, expires " in line for line in out.splitlines())
    assert fake_aws.calls["ecr"] == 4
    # The refreshed tokens are what get now answers.
    assert json.loads(runner.run(["get"], ECR_HOST, env).stdout)["Secret"] in fake_aws.issued[2:]


def test_refresh_failure_is_one_line_per_registry_and_exit_1(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    fake_aws.sticky_fault = "deny"
    code, out = cmd(runner, env, "refresh", ECR_HOST, "public.ecr.aws")
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{ECR_HOST}: failed: AccessDeniedException: ")


@pytest.mark.parametrize(
    "args", [["refresh", "docker.io"], ["refresh", "--bogus"], ["export", "registry.example"]]
)
def test_operator_mistakes_are_one_line(
    runner: Runner, env: dict[str, str], args: list[str]
) -> None:
    assert fail(runner, env, *args).startswith("docker-credential-ecr")


def test_configure_and_unconfigure_keep_everything_else(
    runner: Runner, env: dict[str, str], tmp_path: Path
) -> None:
    config = tmp_path / "docker" / "config.json"
    config.parent.mkdir()
    original = {
        "auths": {"r.example": {}},
        "credHelpers": {"gcr.io": "gcloud"},
        "psFormat": "table",
    }
    config.write_text(json.dumps(original))
    config.chmod(0o640)
    env["DOCKER_CONFIG"] = str(config.parent)
    code, out = cmd(
        runner, env, "configure", "--registry", ECR_HOST, "--registry", f"https://{EU_HOST}/",
        "--dry-run",
    )  # fmt: skip
    assert code == 0
    assert json.loads(out)["credHelpers"] == {"gcr.io": "gcloud", ECR_HOST: "ecr", EU_HOST: "ecr"}
    assert json.loads(config.read_text()) == original  # dry run: unchanged
    assert cmd(runner, env, "configure", "--registry", ECR_HOST, "--creds-store") == (
        0,
        f"{config}: updated\n",
    )
    written = json.loads(config.read_text())
    assert written == {
        **original,
        "credHelpers": {"gcr.io": "gcloud", ECR_HOST: "ecr"},
        "credsStore": "ecr",
    }
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    assert cmd(runner, env, "unconfigure")[0] == 0
    assert json.loads(config.read_text()) == original


def test_configure_mistakes_are_one_line(
    runner: Runner, env: dict[str, str], tmp_path: Path
) -> None:
    env["DOCKER_CONFIG"] = str(tmp_path / "docker")
    assert fail(runner, env, "configure") == (
        "docker-credential-ecr configure: name registries with --registry HOST, "
        "or use --creds-store\n"
    )
    config = tmp_path / "docker" / "config.json"
    config.parent.mkdir()
    config.write_text("[1, 2]")
    assert fail(runner, env, "configure", "--creds-store") == (
        f"docker-credential-ecr configure: {config} does not hold a JSON object\n"
    )
    assert config.read_text() == "[1, 2]"


def test_export_with_nothing_to_export_is_one_line(runner: Runner, env: dict[str, str]) -> None:
    assert fail(runner, env, "export") == (
        "docker-credential-ecr export: name registries, or configure or cache some first\n"
    )


def test_configure_creates_a_private_file(
    runner: Runner, env: dict[str, str], tmp_path: Path
) -> None:
    env["DOCKER_CONFIG"] = str(tmp_path / "new")
    assert cmd(runner, env, "configure", "--creds-store")[0] == 0
    config = tmp_path / "new" / "config.json"
    assert json.loads(config.read_text()) == {"credsStore": "ecr"}
    assert stat.S_IMODE(config.stat().st_mode) == 0o600


def test_export_dockerconfigjson(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    code, out = cmd(runner, env, "export", "--format", "dockerconfigjson", ECR_HOST, EU_HOST)
    assert code == 0
    auths = json.loads(out)["auths"]
    assert set(auths) == {ECR_HOST, EU_HOST}
    entry = auths[ECR_HOST]
    assert entry["username"] == "AWS"
    assert base64.b64decode(entry["auth"]).decode() == f"AWS:{entry['password']}"
    assert entry["password"] in fake_aws.issued
    target = tmp_path / "pull-secret.json"
    code, out = cmd(runner, env, "export", ECR_HOST, "--output", str(target))
    assert (code, out) == (0, f"{target}: written (1 registry)\n")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert json.loads(target.read_text())["auths"][ECR_HOST]["password"] == entry["password"]
    assert fake_aws.calls["ecr"] == 2  # the second export came from the cache


def test_export_kubernetes_secret(runner: Runner, env: dict[str, str], fake_aws: FakeAWS) -> None:
    code, out = cmd(
        runner, env, "export", "--format", "kubernetes-secret", "--name", "pull",
        "--namespace", "ci", ECR_HOST,
    )  # fmt: skip
    assert code == 0
    secret = json.loads(out)
    assert (secret["apiVersion"], secret["kind"], secret["type"]) == (
        "v1",
        "Secret",
        "kubernetes.io/dockerconfigjson",
    )
    assert secret["metadata"] == {"name": "pull", "namespace": "ci"}
    document = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
    assert document["auths"][ECR_HOST]["password"] == fake_aws.issued[0]


def test_export_refuses_an_unknown_format_in_one_line(runner: Runner, env: dict[str, str]) -> None:
    out = fail(runner, env, "export", "--format", "yaml", ECR_HOST)
    assert out.startswith("docker-credential-ecr export: argument --format: invalid choice: 'yaml'")


def watch_until(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, interval: str, calls: int
) -> tuple[int, str]:
    """Run ``refresh --watch`` until AWS has seen ``calls`` calls, then SIGTERM it."""
    proc = subprocess.Popen(
        [*runner.command, "refresh", "--watch", "--interval", interval, ECR_HOST],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while fake_aws.calls["ecr"] < calls:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.1)  # polling a condition, bounded by the deadline above
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert "Traceback" not in err
    return proc.returncode, out


def test_watch_refreshes_ahead_of_expiry_and_stops_on_sigterm(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    fake_aws.lifetime = 20.0  # refresh window: the last 10 s, jittered over its first second
    # Two calls: the first token, then its refresh.
    code, out = watch_until(runner, env, fake_aws, "2", calls=2)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "docker-credential-ecr refresh --watch: started"
    assert lines[-1] == "docker-credential-ecr refresh --watch: stopped"
    assert sum(": refreshed, expires " in line for line in lines) >= 2
    gap = fake_aws.requests[1]["time"] - fake_aws.requests[0]["time"]
    assert 9 <= gap <= 14  # refreshed inside the window, not before it and not at expiry


def test_watch_backs_off_on_failure(runner: Runner, env: dict[str, str], fake_aws: FakeAWS) -> None:
    fake_aws.sticky_fault = "deny"
    code, out = watch_until(runner, env, fake_aws, "30", calls=3)
    assert code == 0
    times = [r["time"] for r in fake_aws.requests]
    assert times[2] - times[1] > times[1] - times[0] > 0.4  # growing gaps: backoff
    assert ": failed: AccessDeniedException: " in out


def test_doctor_all_well(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    env["DOCKER_CONFIG"] = str(tmp_path / "docker")
    assert cmd(runner, env, "configure", "--registry", ECR_HOST)[0] == 0
    code, out = cmd(runner, env, "doctor", ECR_HOST)
    assert code == 0, out
    assert out.rstrip().endswith("all is well")
    assert f"ok       {ECR_HOST}: Docker uses the helper (credHelpers)" in out
    assert "caller arn:aws:iam::123456789012:user/ci" in out
    assert "credentials from env" in out
    assert "key AKID...0001" in out
    assert "GetAuthorizationToken works" in out
    assert "reachable in" in out
    for secret in (TEST_SECRET_KEY, *fake_aws.issued):
        assert secret not in out


def test_doctor_names_each_problem_and_its_fix(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    env["DOCKER_CONFIG"] = str(tmp_path / "docker")
    fake_aws.faults = ["", "deny"]  # STS answers; ECR denies
    code, out = cmd(runner, env, "doctor", ECR_HOST)
    assert code == 1
    assert f"PROBLEM  {ECR_HOST}: GetAuthorizationToken: AccessDeniedException: User: " in out
    assert "fix: allow it for this identity: docker-credential-ecr policy" in out
    assert f"PROBLEM  {ECR_HOST}: Docker does not use docker-credential-ecr for it" in out
    assert f"fix: docker-credential-ecr configure --registry {ECR_HOST}" in out
    assert out.rstrip().endswith("problem(s)")


def test_doctor_checks_ecr_public_as_a_miss_calls_it(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    env["DOCKER_CONFIG"] = str(tmp_path / "docker")
    assert cmd(runner, env, "configure", "--registry", "public.ecr.aws")[0] == 0
    code, out = cmd(runner, env, "doctor", "public.ecr.aws")
    assert code == 0, out
    assert "public.ecr.aws: GetAuthorizationToken works" in out
    # ECR Public and its STS call in us-east-1, with no registry ids: as ecr.ask sends them.
    calls = [(r["api"], r["region"], r["body"]) for r in fake_aws.requests]
    assert calls == [
        ("sts:GetCallerIdentity", "us-east-1", "Action=GetCallerIdentity&Version=2011-06-15"),
        ("ecr-public", "us-east-1", "{}"),
    ]


@pytest.mark.parametrize("problem", ["loose", "not a directory"])
def test_doctor_flags_an_unsafe_cache_directory(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, problem: str
) -> None:
    cache = Path(env["AWS_ECR_CACHE_DIR"])
    if problem == "loose":
        cache.mkdir(mode=0o755)
        cache.chmod(0o755)
        expected, fix = "has mode drwxr-xr-x", f"fix: chmod 700 {cache}"
    else:
        cache.write_text("")
        expected, fix = "is not a directory", "fix: remove it, or set AWS_ECR_CACHE_DIR elsewhere"
    code, out = cmd(runner, env, "doctor", ECR_HOST)
    assert code == 1
    assert f"PROBLEM  cache directory {cache} {expected}" in out
    assert fix in out


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a directory away")
def test_doctor_flags_a_cache_directory_others_could_change(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chown(shared, 54321, 54321)
    env["AWS_ECR_CACHE_DIR"] = str(shared / "cache")
    var_cache = tmp_path / "var-cache"
    proc = runner.run(["doctor", ECR_HOST], "", env, prefix=with_var_cache(var_cache))
    assert proc.returncode == 1
    assert (
        f"PROBLEM  cache directory {shared}/cache: {shared} is owned by uid 54321, "
        "which others could change" in proc.stdout
    )


def test_doctor_without_credentials(runner: Runner, env: dict[str, str], fake_aws: FakeAWS) -> None:
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    code, out = cmd(runner, env, "doctor", ECR_HOST)
    assert code == 1
    assert f"PROBLEM  {ECR_HOST}: no AWS credentials found" in out
    assert fake_aws.total_calls() == 0
