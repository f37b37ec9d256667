"""``doctor --kubelet`` (commands/kubeletcheck.py): the provider run as the kubelet runs
it, the installed script or the built executable linked as ``ecr-credential-provider``,
with the kubelet's environment and not the shell's, against the local AWS endpoint."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from docker_credential_ecr import kubelet
from docker_credential_ecr.commands import kubeletsetup
from docker_credential_ecr.errors import NAME
from fakeaws import FakeAWS
from support.helper import Runner
from support.hosts import ECR_HOST
from support.inprocess import run_main

ALIAS = "registry.internal.example"
NO_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def kubelet_dir(tmp_path: Path, runner: Runner, aliases: list[str]) -> Path:
    """A kubelet directory as ``configure --kubelet`` makes it, linking ``runner``'s program."""
    if len(runner.command) != 1:
        pytest.skip("the provider is a program of its own")
    directory = tmp_path / "credentialprovider"
    (directory / "bin").mkdir(parents=True)
    (directory / "bin" / kubelet.PROGRAM).symlink_to(runner.command[0])
    (directory / "config.yaml").write_text(kubeletsetup.render(aliases))
    return directory


def doctor(
    env: dict[str, str],
    tmp_path: Path,
    directory: Path,
    kubelets: dict[str, str],
    *paths: str,
    shared: bool = True,
) -> tuple[int, list[str]]:
    """``doctor --kubelet`` in-process with the shell's ``env``, the kubelet's ``kubelets``
    (with the shell's configuration file if ``shared``)."""
    config = tmp_path / "config.toml"
    config.write_text(f'[registries."{ECR_HOST}"]\n[aliases]\n"{ALIAS}" = "{ECR_HOST}"\n')
    env_file = tmp_path / "rke2-agent"
    # The configuration is the kubelet's too, as /etc/docker-credential-ecr/config.toml is.
    if shared:
        kubelets = {**kubelets, "DOCKER_CREDENTIAL_ECR_CONFIG": str(config)}
    env_file.write_text("".join(f"{k}={v}\n" for k, v in kubelets.items()))
    shell = {**env, "DOCKER_CREDENTIAL_ECR_CONFIG": str(config)}
    argv = ["doctor", "--kubelet", "--kubelet-dir", str(directory), *paths]
    status, out, err = run_main([*argv, "--kubelet-env-file", str(env_file)], shell)
    assert err == ""
    return status, out.splitlines()


def the_kubelets(env: dict[str, str], *leave_out: str) -> dict[str, str]:
    return {k: v for k, v in env.items() if k != "PATH" and k not in leave_out}


def test_each_registry_and_alias_gets_a_token_through_the_kubelets_provider(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    directory = kubelet_dir(tmp_path, runner, [ALIAS])
    status, lines = doctor(env, tmp_path, directory, the_kubelets(env))
    assert f"ok       kubelet: {ECR_HOST}: a pod's pull gets a token" in lines, lines
    assert f"ok       kubelet: {ALIAS}: a pod's pull gets a token" in lines, lines
    assert (status, lines[-1]) == (0, "all is well")
    assert fake_aws.calls["ecr"] == 1  # the second answer came from the provider's cache


def test_what_works_from_the_shell_fails_without_the_kubelets_credentials(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    directory = kubelet_dir(tmp_path, runner, [ALIAS])
    status, lines = doctor(env, tmp_path, directory, the_kubelets(env, *NO_CREDENTIALS))
    assert status == 1
    problem = next(line for line in lines if line.startswith(f"PROBLEM  kubelet: {ECR_HOST}: "))
    assert "no AWS credentials found" in problem
    assert fake_aws.calls["ecr"] == 0


def own_layout(tmp_path: Path, runner: Runner, env: dict[str, str], give: bool) -> list[str]:
    """The layout docs/kubernetes.md gives for keeping the files in /etc: the executable
    under its own name with ``args``, and (if ``give``) the credentials in its ``env:``."""
    if len(runner.command) != 1:
        pytest.skip("the provider is a program of its own")
    bin_dir = tmp_path / "lib"
    bin_dir.mkdir(exist_ok=True)
    with contextlib.suppress(FileExistsError):
        (bin_dir / NAME).symlink_to(runner.command[0])
    config: dict[str, Any] = YAML(typ="safe").load(kubeletsetup.render([ALIAS]))
    provider = config["providers"][0]
    provider.update(name=NAME, args=["get-credentials"])
    if give:
        provider["env"] = [{"name": k, "value": env[k]} for k in NO_CREDENTIALS]
    path = tmp_path / "credential-provider.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    return ["--kubelet-config", str(path), "--kubelet-bin-dir", str(bin_dir)]


def test_the_kubelets_own_paths_args_and_env_are_those_the_provider_runs_with(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    unused = tmp_path / "unused"
    service = the_kubelets(env, *NO_CREDENTIALS)
    status, lines = doctor(
        env, tmp_path, unused, service, *own_layout(tmp_path, runner, env, False)
    )
    assert status == 1
    assert (
        f"ok       kubelet: {tmp_path / 'credential-provider.yaml'} names the provider {NAME}"
        in lines
    )
    problem = next(line for line in lines if line.startswith(f"PROBLEM  kubelet: {ECR_HOST}: "))
    assert "no AWS credentials found" in problem
    assert fake_aws.calls["ecr"] == 0
    status, lines = doctor(env, tmp_path, unused, service, *own_layout(tmp_path, runner, env, True))
    assert f"ok       kubelet: {ECR_HOST}: a pod's pull gets a token" in lines, lines
    assert (status, fake_aws.calls["ecr"]) == (0, 1)


def test_a_match_images_without_the_alias_is_named(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    directory = kubelet_dir(tmp_path, runner, [])
    status, lines = doctor(env, tmp_path, directory, the_kubelets(env))
    assert status == 1
    config = directory / "config.yaml"
    at = lines.index(f"PROBLEM  kubelet: matchImages in {config} does not cover {ALIAS}")
    assert lines[at + 1] == (
        f"         fix: {NAME} configure --kubelet --kubelet-dir {directory}"
        " (it lists every form and alias)"
    )
    assert f"ok       kubelet: {ECR_HOST}: a pod's pull gets a token" in lines
    # A file of the operator's own is not rewritten: the fix is an edit of it.
    config.write_text(config.read_text().replace(kubeletsetup.MARKER, "# ours, by hand"))
    status, lines = doctor(env, tmp_path, directory, the_kubelets(env))
    at = lines.index(f"PROBLEM  kubelet: matchImages in {config} does not cover {ALIAS}")
    assert lines[at + 1] == (
        f"         fix: add the patterns that '{NAME} configure --kubelet --dry-run' prints to "
        f"the provider's matchImages in {config} (not written by {NAME}, so not replaced)"
    )


def test_an_alias_the_provider_cannot_see_is_named_with_the_file_it_reads(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    # The alias is in the shell's configuration file, which the kubelet's environment
    # does not name: the provider reads only the system file.
    directory = kubelet_dir(tmp_path, runner, [ALIAS])
    status, lines = doctor(env, tmp_path, directory, the_kubelets(env), shared=False)
    assert status == 1
    problem = next(
        line
        for line in lines
        if line.startswith(f"PROBLEM  kubelet: {ALIAS}: the provider does not know this alias")
    )
    # It names the files the provider reads, which hold no alias; not the shell's.
    assert "(/etc/docker-credential-ecr/config.toml" in problem
    assert str(tmp_path / "config.toml") not in problem
    at = lines.index(problem)
    assert "DOCKER_CREDENTIAL_ECR_CONFIG in the provider's env:" in lines[at + 1]
    assert f"ok       kubelet: {ECR_HOST}: a pod's pull gets a token" in lines


def test_a_missing_provider_or_config_is_named_with_the_fix(
    env: dict[str, str], tmp_path: Path
) -> None:
    directory = tmp_path / "empty"
    directory.mkdir()
    status, lines = doctor(env, tmp_path, directory, {})
    assert status == 1
    assert lines[1].startswith(f"PROBLEM  kubelet: cannot read {directory / 'config.yaml'}: ")
    (directory / "config.yaml").write_text(kubeletsetup.render())
    status, lines = doctor(env, tmp_path, directory, {})
    program = directory / "bin" / kubelet.PROGRAM
    assert f"PROBLEM  kubelet: the provider {program} is missing" in lines
    assert "         fix: docker-credential-ecr configure --kubelet" in lines


def test_the_kubelets_match_rule() -> None:
    assert kubelet.matches("*.dkr.ecr.*.amazonaws.com", f"{ECR_HOST}/app:1")
    assert not kubelet.matches("*.dkr.ecr.*.amazonaws.com", f"{ECR_HOST}.evil.example/app")
    assert kubelet.matches(ALIAS, f"{ALIAS}/team/app:1")
    assert not kubelet.matches(f"{ALIAS}/team", f"{ALIAS}/other/app:1")
    assert not kubelet.matches(f"{ALIAS}:5000", f"{ALIAS}/app")


def test_a_fifo_where_the_kubelets_files_are_expected_hangs_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    from docker_credential_ecr.commands import kubeletcheck

    directory = tmp_path / "fifo"
    directory.mkdir()
    os.mkfifo(directory / "config.yaml")  # opened for reading, a FIFO would block doctor
    os.mkfifo(tmp_path / "env-fifo")
    assert kubeletcheck.read_environment_file(str(tmp_path / "env-fifo")) == {}
    status, lines = doctor(env, tmp_path, directory, {})
    assert status == 1
    assert "is not a regular file" in lines[1], lines


def test_a_configuration_the_provider_cannot_read_is_named(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    directory = kubelet_dir(tmp_path, runner, [ALIAS])
    missing = tmp_path / "no-such.toml"
    kubelets = {**the_kubelets(env), "DOCKER_CREDENTIAL_ECR_CONFIG": str(missing)}
    status, lines = doctor(env, tmp_path, directory, kubelets, shared=False)
    assert status == 1
    assert (
        f"PROBLEM  kubelet: the provider's configuration: {NAME}: "
        f"DOCKER_CREDENTIAL_ECR_CONFIG={missing}: no such file"
    ) in lines, lines
