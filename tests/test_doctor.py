"""doctor in-process (cli.main with its edges passed in) against the local AWS endpoint.

botocore reads the process's own environment, so each test's is set there too.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from docker_credential_ecr import dockerconfig, ecr
from docker_credential_ecr.commands import deliverycheck
from docker_credential_ecr.commands.doctor import Report
from fakeaws import FakeAWS
from support.environ import clean_env
from support.hosts import ECR_HOST
from support.inprocess import run_main
from support.services import World, context, output


def doctor(environ: dict[str, str], *hosts: str) -> tuple[int, list[str]]:
    """Run doctor in this process; its status and its lines."""
    status, out, _err = run_main(["doctor", *hosts], environ)
    return status, out.splitlines()


@pytest.fixture
def configured(
    tmp_path: Path, fake_aws: FakeAWS, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """An environment whose Docker uses the helper for ECR_HOST, this process's too."""
    environ = clean_env(tmp_path, fake_aws)
    environ["DOCKER_CONFIG"] = str(tmp_path / "docker")
    path = dockerconfig.path_for(environ)
    dockerconfig.edit(path, lambda d: dockerconfig.configure(d, [ECR_HOST], False))
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    return environ


def test_every_check_passes_in_order(configured: dict[str, str], fake_aws: FakeAWS) -> None:
    status, lines = doctor(configured, ECR_HOST)
    assert status == 0, lines
    ours = [line.split(": ", 1)[1] for line in lines if ECR_HOST in line]
    checks = [line.split(" ", 1)[0] for line in ours]
    assert checks == ["Docker", "credentials", "caller", "ECR", "GetAuthorizationToken", "clock"]
    # The endpoint in effect, the variable that chose it, and the way there.
    assert ours[3].startswith(f"ECR API {fake_aws.url} (AWS_ENDPOINT_URL_ECR), directly: ")
    assert ours[2].endswith(f" (STS {fake_aws.url} (AWS_ENDPOINT_URL_STS), directly)")
    assert lines[-1] == "all is well"
    assert [r["api"] for r in fake_aws.requests] == ["sts:GetCallerIdentity", "ecr"]


@pytest.mark.parametrize("window", [None, 300.0])
def test_a_clock_far_off_is_named_with_its_fix(
    configured: dict[str, str], fake_aws: FakeAWS, window: float | None
) -> None:
    """Whether AWS refuses the signature (it does) or answers anyway, doctor names the clock."""
    fake_aws.clock_offset, fake_aws.signature_window = -13 * 3600.0, window
    status, lines = doctor(configured, ECR_HOST)
    assert status == 1
    (line,) = [line for line in lines if f"{ECR_HOST}: clock" in line]
    assert line.endswith(
        f"{ECR_HOST}: clock: this host's clock is 13h00m ahead of AWS's, by the Date of its "
        "answer; AWS refuses requests signed more than 5 minutes off"
    )
    assert any("timedatectl set-ntp true" in line for line in lines)
    assert not any("credentials may be expired" in line for line in lines)


def test_a_clock_a_little_off_passes(configured: dict[str, str], fake_aws: FakeAWS) -> None:
    """Within AWS's five minutes the clock is no problem, and doctor says by how much."""
    fake_aws.clock_offset, fake_aws.signature_window = 120.0, 300.0
    status, lines = doctor(configured, ECR_HOST)
    assert status == 0, lines
    (line,) = [line for line in lines if f"{ECR_HOST}: clock within " in line]
    # HTTP's Date has whole seconds, and a second may turn during the request: 120 +- 1.
    seconds = int(line.split(" clock within ")[1].split("s ")[0])
    assert abs(seconds - 120) <= 1, line
    assert line.endswith("s of AWS's"), line


def test_a_denied_caller_stops_before_ecr(configured: dict[str, str], fake_aws: FakeAWS) -> None:
    fake_aws.faults = ["deny"]
    status, lines = doctor(configured, ECR_HOST)
    assert status == 1
    assert any(f"{ECR_HOST}: STS GetCallerIdentity failed: " in line for line in lines)
    assert [r["api"] for r in fake_aws.requests] == ["sts:GetCallerIdentity"]
    assert lines[-1] == "1 problem(s)"


def test_no_credentials_is_named_with_its_fix(
    configured: dict[str, str], fake_aws: FakeAWS, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        configured.pop(name, None)
        monkeypatch.delenv(name, raising=False)
    status, lines = doctor(configured, ECR_HOST)
    assert status == 1
    assert any(line.startswith(f"PROBLEM  {ECR_HOST}: {ecr.NO_CREDENTIALS}; ") for line in lines)
    assert fake_aws.requests == []


def test_a_host_not_ecrs_is_a_problem_not_a_crash(configured: dict[str, str]) -> None:
    status, lines = doctor(configured, "quay.io")
    assert status == 1
    assert "PROBLEM  quay.io: not an ECR registry host (nor a configured alias)" in lines


def test_doctor_checks_each_delivery_and_says_the_fix(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    bad_yaml = tmp_path / "registries.yaml"
    bad_yaml.write_text("- not a mapping\n")
    good = tmp_path / "good.json"
    config = (
        f'[deliveries.ok]\nformat = "dockerconfigjson"\nfile = "{good}"\n'
        f'[deliveries.loose]\nformat = "dockerconfigjson"\nfile = "{shared}/x.json"\n'
        f'[deliveries.rke2]\nformat = "registries-yaml"\nfile = "{bad_yaml}"\n'
        '[deliveries.cmd]\nformat = "kubernetes-secret"\ncommand = ["no-such-kubectl"]\n'
    )
    w = World(tmp_path, config=config)
    ctx = context(w, tmp_path, {"PATH": "/usr/bin:/bin"})
    report = Report(ctx)
    deliverycheck.check(report, ctx)
    lines = output(ctx).splitlines()
    assert f"ok       delivery ok: dockerconfigjson to {good}" in lines
    assert report.problems == 3
    assert any(f"PROBLEM  delivery loose: not writing under {shared}: " in line for line in lines)
    assert f"PROBLEM  delivery rke2: {bad_yaml}: the file is not a mapping" in lines
    assert "PROBLEM  delivery cmd: no-such-kubectl: no such program on PATH" in lines


def test_a_fifo_at_a_deliverys_file_hangs_nothing(tmp_path: Path) -> None:
    fifo = tmp_path / "out.json"
    os.mkfifo(fifo)  # opened for reading, a FIFO would block doctor
    w = World(tmp_path, config=f'[deliveries.f]\nformat = "dockerconfigjson"\nfile = "{fifo}"\n')
    ctx = context(w, tmp_path)
    report = Report(ctx)
    deliverycheck.check(report, ctx)
    assert report.problems == 1
    assert f"PROBLEM  delivery f: {fifo}: {fifo} is not a regular file" in output(ctx).splitlines()
