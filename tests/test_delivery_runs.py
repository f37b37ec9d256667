"""Deliveries run as an operator runs them: ``refresh --deliver`` and ``refresh --watch``
of the installed script and the built executable (whose frozen Python must carry every
format's code), against the local AWS endpoint, with real files and a real command."""

from __future__ import annotations

import base64
import json
import subprocess
import tomllib
from pathlib import Path

from fakeaws import FakeAWS
from support.helper import Runner
from support.hosts import ECR_HOST

REGISTRIES_YAML = """\
# rke2's registries: edited by hand and by docker-credential-ecr
mirrors:
  docker.io:
    endpoint: ["https://mirror.example"]
"""


def configure(env: dict[str, str], tmp_path: Path, body: str) -> Path:
    """A configuration file of these delivery sections, named to the helper."""
    config = tmp_path / "config.toml"
    config.write_text(f'[registries."{ECR_HOST}"]\nrefresh_before = 600\n' + body)
    env["DOCKER_CREDENTIAL_ECR_CONFIG"] = str(config)
    return config


def a_command(tmp_path: Path, body: str) -> Path:
    """An executable shell script in a directory of its own (both 0755)."""
    place = tmp_path / "bin"
    place.mkdir(mode=0o755)
    place.chmod(0o755)
    script = place / "consumer"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    return script


def test_one_pass_writes_every_format_then_nothing_until_a_token_changes(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir(mode=0o700)
    (out / "registries.yaml").write_text(REGISTRIES_YAML)
    seen = tmp_path / "seen"
    seen.mkdir()
    consumer = a_command(tmp_path, f"cat >> {seen}/stdin; echo run >> {seen}/runs\n")
    configure(
        env,
        tmp_path,
        f'[deliveries.swarm]\nformat = "dockerconfigjson"\nfile = "{out}/config.json"\n'
        f'command = ["{consumer}"]\n'
        f'[deliveries.rke2]\nformat = "registries-yaml"\nfile = "{out}/registries.yaml"\n'
        f'[deliveries.containerd]\nformat = "containerd-hosts"\ndirectory = "{out}/certs.d"\n',
    )
    first = runner.run(["refresh", "--deliver"], "", env)
    assert (first.returncode, first.stderr) == (0, ""), first
    token = fake_aws.issued[0]
    assert sorted(first.stdout.splitlines()) == [
        f"delivery containerd: delivered 1 registries to {out}/certs.d",
        f"delivery rke2: delivered 1 registries to {out}/registries.yaml",
        f"delivery swarm: delivered 1 registries to {out}/config.json and {consumer}",
    ]
    assert json.loads((out / "config.json").read_text())["auths"][ECR_HOST]["password"] == token
    assert json.loads((seen / "stdin").read_text()) == json.loads((out / "config.json").read_text())
    merged = (out / "registries.yaml").read_text()
    assert merged.startswith(REGISTRIES_YAML)  # the hand-written part, comment and all
    assert f"password: {token}" in merged
    basic = base64.b64encode(f"AWS:{token}".encode()).decode()
    hosts = tomllib.loads((out / "certs.d" / ECR_HOST / "hosts.toml").read_text())
    assert hosts["host"][f"https://{ECR_HOST}"]["header"]["Authorization"] == [f"Basic {basic}"]
    assert token not in first.stdout + first.stderr
    again = runner.run(["refresh", "--deliver"], "", env)
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")
    assert (seen / "runs").read_text() == "run\n"  # nothing changed: the consumer not rerun
    assert fake_aws.calls["ecr"] == 1


def test_a_failed_delivery_is_exit_1_and_leaves_the_others(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    consumer = a_command(
        tmp_path, "cat >/dev/null; echo 'error: the cluster said no' >&2; exit 4\n"
    )
    out = tmp_path / "out.json"
    configure(
        env,
        tmp_path,
        f'[deliveries.k8s]\nformat = "kubernetes-secret"\ncommand = ["{consumer}"]\n'
        f'[deliveries.file]\nformat = "dockerconfigjson"\nfile = "{out}"\n',
    )
    proc = runner.run(["refresh", "--deliver"], "", env)
    assert proc.returncode == 1
    assert f"delivery k8s: failed: {consumer} exited 4: error: the cluster said no" in proc.stdout
    assert out.exists()
    status = json.loads(runner.run(["status", "--json"], "", env).stdout)
    k8s = next(d for d in status["deliveries"] if d["name"] == "k8s")
    assert k8s["last_success"] is None
    assert k8s["reason"].endswith("exited 4: error: the cluster said no")
    assert fake_aws.issued[0] not in json.dumps(status)


def test_a_mistake_in_a_delivery_is_one_line_naming_its_line(
    runner: Runner, env: dict[str, str], tmp_path: Path
) -> None:
    config = configure(env, tmp_path, '[deliveries.x]\nformat = "dockerconfigjson"\n')
    proc = runner.run(["refresh", "--deliver"], "", env)
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr == (
        f"docker-credential-ecr: {config}:3: delivery 'x': needs a file, a command, or both\n"
    )
    # A get is not the refresh service's: it answers whatever the deliveries say.
    assert runner.run(["get"], ECR_HOST, env).returncode == 0


def test_the_watch_delivers_at_start(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    out = tmp_path / "out.json"
    configure(env, tmp_path, f'[deliveries.f]\nformat = "dockerconfigjson"\nfile = "{out}"\n')
    with subprocess.Popen(
        [*runner.command, "refresh", "--watch"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]  # started, refreshed, delivered
        proc.terminate()
    assert proc.returncode == 0  # SIGTERM ends the watch as systemd stops it: cleanly
    assert lines[0] == "docker-credential-ecr refresh --watch: started\n"
    assert lines[2] == f"delivery f: delivered 1 registries to {out}\n"
    assert json.loads(out.read_text())["auths"][ECR_HOST]["password"] == fake_aws.issued[0]


def test_a_plain_refresh_delivers_and_a_refresh_of_named_hosts_does_not(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    out = tmp_path / "out.json"
    configure(env, tmp_path, f'[deliveries.f]\nformat = "dockerconfigjson"\nfile = "{out}"\n')
    # What a get starts in the background: refresh HOST, which must run no delivery.
    named = runner.run(["refresh", ECR_HOST], "", env)
    assert named.returncode == 0, named
    assert not out.exists()
    plain = runner.run(["refresh"], "", env)  # the timer's one pass
    assert plain.returncode == 0, plain
    assert plain.stdout.splitlines()[-1] == f"delivery f: delivered 1 registries to {out}"
    assert json.loads(out.read_text())["auths"][ECR_HOST]["password"] == fake_aws.issued[0]
