"""Proxies and endpoints, for the script and the executable: behind a real forwarding proxy
(Debian's tinyproxy) ``HTTPS_PROXY`` carries every AWS call as a ``CONNECT`` tunnel to the
HTTPS endpoint, ``NO_PROXY`` keeps a host off it, a proxy that is down is one clear line,
``doctor`` names the way it takes; a profile's own ``endpoint_url`` is honoured."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakeaws import FakeAWS
from support.environ import clean_env
from support.helper import Runner, get, secret_of
from support.hosts import ECR_HOST
from support.users import AS_OTHER

ROLE = "arn:aws:iam::123456789012:role/puller"


class Proxy:
    """A tinyproxy on loopback, run as the second user, logging each connection."""

    def __init__(self, directory: Path) -> None:
        exe = shutil.which("tinyproxy", path="/usr/bin:/usr/sbin")
        if exe is None:
            pytest.skip("no tinyproxy (apt-get install tinyproxy)")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.log = directory / "tinyproxy.log"
        config = directory / "tinyproxy.conf"
        config.write_text(
            f'Port {self.port}\nListen 127.0.0.1\nAllow 127.0.0.1\nLogFile "{self.log}"\n'
            f'LogLevel Connect\nPidFile "{directory}/tinyproxy.pid"\nMaxClients 50\n'
        )
        self.process = subprocess.Popen([*AS_OTHER, exe, "-d", "-c", str(config)])
        self._ready()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _ready(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise
                time.sleep(0.05)  # polling for the port, not ordering two actions

    def tunnels(self) -> list[str]:
        """The CONNECT requests it logged."""
        text = self.log.read_text() if self.log.exists() else ""
        # "Request (file descriptor 5): CONNECT host:port HTTP/1.1"; not the readiness probe.
        return [line for line in text.splitlines() if "): CONNECT " in line]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


@pytest.fixture
def proxy(other_user_dir: Path) -> Iterator[Proxy]:
    started = Proxy(other_user_dir)
    yield started
    started.stop()


@pytest.fixture
def tls_env(
    tmp_path: Path, fake_aws_tls: FakeAWS, tls_files: tuple[str, str, str], runner: Runner
) -> dict[str, str]:
    """The helper's environment against the HTTPS endpoint (what a proxy tunnels)."""
    env = clean_env(tmp_path, fake_aws_tls, runner)
    env["AWS_CA_BUNDLE"] = tls_files[0]
    return env


def test_every_aws_call_goes_through_the_proxy_as_a_tunnel(
    runner: Runner, tls_env: dict[str, str], fake_aws_tls: FakeAWS, proxy: Proxy
) -> None:
    tls_env["HTTPS_PROXY"] = proxy.url
    assert secret_of(get(runner, tls_env)) == fake_aws_tls.issued[0]
    port = fake_aws_tls.url.rsplit(":", 1)[1]
    assert any(f"localhost:{port}" in line for line in proxy.tunnels()), proxy.tunnels()
    # A tunnel: the proxy never saw the token, which went inside TLS.
    assert fake_aws_tls.issued[0] not in proxy.log.read_text()


def test_a_role_is_assumed_through_the_proxy_and_the_sts_endpoint_named(
    runner: Runner, tls_env: dict[str, str], fake_aws_tls: FakeAWS, proxy: Proxy, tmp_path: Path
) -> None:
    # STS under another name for the same endpoint, so that its tunnel is told apart.
    port = fake_aws_tls.url.rsplit(":", 1)[1]
    config = tmp_path / "config.toml"
    config.write_text(f'[registries."{ECR_HOST}"]\nrole_arn = "{ROLE}"\n')
    tls_env.update(
        AWS_ENDPOINT_URL_STS=f"https://127.0.0.1:{port}",
        DOCKER_CREDENTIAL_ECR_CONFIG=str(config),
        HTTPS_PROXY=proxy.url,
    )
    assert secret_of(get(runner, tls_env)) == fake_aws_tls.issued[0]
    assert fake_aws_tls.calls == {"sts:AssumeRole": 1, "ecr": 1}
    tunnels = proxy.tunnels()
    assert any(f"CONNECT 127.0.0.1:{port} " in line for line in tunnels), tunnels
    assert any(f"CONNECT localhost:{port} " in line for line in tunnels), tunnels


def test_no_proxy_keeps_a_host_off_the_proxy(
    runner: Runner, tls_env: dict[str, str], fake_aws_tls: FakeAWS, proxy: Proxy
) -> None:
    tls_env.update({"HTTPS_PROXY": proxy.url, "NO_PROXY": "localhost"})
    assert secret_of(get(runner, tls_env)) == fake_aws_tls.issued[0]
    assert proxy.tunnels() == []


def test_a_proxy_that_is_down_is_one_line(
    runner: Runner, tls_env: dict[str, str], fake_aws_tls: FakeAWS
) -> None:
    tls_env["HTTPS_PROXY"] = "http://127.0.0.1:9"
    proc = get(runner, tls_env)
    assert proc.returncode == 1
    assert proc.stdout.count("\n") == 1
    assert "proxy" in proc.stdout.lower(), proc.stdout
    assert fake_aws_tls.total_calls() == 0


def test_doctor_names_the_proxy_it_goes_through(
    runner: Runner, tls_env: dict[str, str], fake_aws_tls: FakeAWS, proxy: Proxy
) -> None:
    tls_env["HTTPS_PROXY"] = proxy.url
    proc = runner.run(["doctor", ECR_HOST], "", tls_env)
    line = next(line for line in proc.stdout.splitlines() if "ECR API" in line)
    assert f"through the proxy {proxy.url}: reachable" in line, proc.stdout
    assert "(AWS_ENDPOINT_URL_ECR)" in line
    caller = next(line for line in proc.stdout.splitlines() if ": caller " in line)
    assert caller.endswith(f"(AWS_ENDPOINT_URL_STS), through the proxy {proxy.url})"), caller


def test_a_profiles_own_endpoint_url_is_honoured(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS, tmp_path: Path
) -> None:
    # A VPC endpoint named in ~/.aws/config (a services section), not in the environment.
    config = tmp_path / "aws-config"
    config.write_text(
        f"[profile vpce]\nservices = private\n\n[services private]\necr =\n"
        f"  endpoint_url = {fake_aws.url}\n"
    )
    del env["AWS_ENDPOINT_URL_ECR"]
    env.update({"AWS_CONFIG_FILE": str(config), "AWS_PROFILE": "vpce"})
    assert secret_of(get(runner, env)) == fake_aws.issued[0]
    assert fake_aws.calls["ecr"] == 1
