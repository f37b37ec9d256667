"""Prometheus metrics: ``status --format prometheus`` and the watch's textfile, read back
with prometheus_client's parser, checked by ``promtool check metrics``, and scraped
through Debian's node_exporter, with the real helper against the local AWS endpoint.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from docker_credential_ecr import __version__
from docker_credential_ecr.cache import decode
from docker_credential_ecr.commands.status import facts
from docker_credential_ecr.metrics import registry_of
from docker_credential_ecr.token import AuthToken
from fakeaws import FakeAWS
from support.helper import Runner, get
from support.hosts import ECR_HOST
from support.tokens import cache_entry

P = "docker_credential_ecr_"
OTHER_HOST = "111111111111.dkr.ecr.us-east-1.amazonaws.com"
NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    """Every sample, keyed by its name and sorted labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float | None:
    """One sample's value, or None when it is not there."""
    return found.get((name, tuple(sorted(labels.items()))))


def promtool_check(text: str) -> None:
    """``promtool check metrics`` passes: names, types, help and units as Prometheus wants."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package prometheus)")
    proc = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert (proc.returncode, proc.stdout + proc.stderr) == (0, "")


def wait_until(condition: Callable[[], bool], what: str, proc: subprocess.Popen[str]) -> None:
    """Poll a condition until it holds, for at most 60 s, while the watch still runs."""
    deadline = time.monotonic() + 60
    while not condition():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)  # polling a condition, bounded by the deadline above


def configure(env: dict[str, str], tmp_path: Path, body: str) -> Path:
    """A configuration file with this body, named to the helper."""
    config = tmp_path / "config.toml"
    config.write_text(body)
    env["DOCKER_CREDENTIAL_ECR_CONFIG"] = str(config)
    return config


def registries(*hosts: str) -> str:
    """Configuration sections that make each host known to the watch."""
    return "".join(f'[registries."{h}"]\nregion = "us-east-1"\n' for h in hosts)


Watch = Callable[[Path | None], subprocess.Popen[str]]


@pytest.fixture
def watch(runner: Runner, env: dict[str, str], tmp_path: Path) -> Iterator[Watch]:
    """Start ``refresh --watch --interval 1`` for ECR_HOST, writing metrics to the textfile
    given (if any); each is SIGTERMed and reaped after the test."""
    started: list[subprocess.Popen[str]] = []

    def start(textfile: Path | None) -> subprocess.Popen[str]:
        metrics = f'[metrics]\ntextfile = "{textfile}"\n' if textfile else ""
        configure(env, tmp_path, metrics + registries(ECR_HOST))
        proc = subprocess.Popen(
            [*runner.command, "refresh", "--watch", "--interval", "1"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=20)
        finally:
            proc.kill()


def refused_write(proc: subprocess.Popen[str], textfile: Path) -> str:
    """The watch's first line on stderr, which must say that it cannot write the textfile."""
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert line.startswith(f"docker-credential-ecr refresh --watch: cannot write {textfile}: ")
    return line


# ---- what the disk holds: status --format prometheus ----


def test_status_prints_each_cached_token_as_metrics(
    runner: Runner, env: dict[str, str], fake_aws: FakeAWS
) -> None:
    """Expiry and last success are the cache's own numbers; the token is nowhere."""
    assert get(runner, env).returncode == 0
    cached = decode(cache_entry(env).read_bytes())
    assert cached is not None
    proc = runner.run(["status", "--format", "prometheus"], "", env)
    assert (proc.returncode, proc.stderr) == (0, "")
    found = samples(proc.stdout)
    assert value(found, f"{P}token_expiry_timestamp_seconds", registry=ECR_HOST) == pytest.approx(
        cached.expires_at
    )
    assert value(
        found, f"{P}last_refresh_success_timestamp_seconds", registry=ECR_HOST
    ) == pytest.approx(cached.requested_at)
    (info,) = [labels for (name, labels) in found if name == f"{P}build_info"]
    assert dict(info)["version"] == __version__
    assert fake_aws.issued[0] not in proc.stdout
    promtool_check(proc.stdout)


def test_status_without_tokens_says_only_what_it_is(runner: Runner, env: dict[str, str]) -> None:
    """No token cached: the build info, and no series that would claim a registry."""
    proc = runner.run(["status", "--format", "prometheus"], "", env)
    assert proc.returncode == 0
    names = {name for (name, _labels) in samples(proc.stdout)}
    assert names == {f"{P}build_info"}
    promtool_check(proc.stdout)


def test_a_wrong_format_is_one_line(runner: Runner, env: dict[str, str]) -> None:
    """An unknown --format is refused on one line, with a non-zero exit."""
    proc = runner.run(["status", "--format", "openmetrics"], "", env)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1
    assert "invalid choice: 'openmetrics'" in proc.stderr


# ---- what only the watch knows: its recorder, in-process ----


class _Tokens:
    """The token service's one method ``facts`` reads."""

    def cached_entries(self) -> list[object]:
        return []


def test_the_recorder_counts_by_registry_and_code(tmp_path: Path) -> None:
    """Attempts, failures by AWS code, durations and the run of failures since a success."""
    from support.services import command_context

    ctx = command_context(_Tokens(), None, lambda: 0.0, tmp_path)  # type: ignore[arg-type]
    registry, recorder = registry_of(lambda: facts(ctx), watching=True)
    assert recorder is not None
    recorder.failed(ECR_HOST, 0.2, "ThrottlingException")
    recorder.failed(ECR_HOST, 0.3, "ThrottlingException")
    from prometheus_client import generate_latest

    found = samples(generate_latest(registry).decode())
    assert value(found, f"{P}refresh_consecutive_failures", registry=ECR_HOST) == 2
    code = {"registry": ECR_HOST, "code": "ThrottlingException"}
    assert value(found, f"{P}refresh_failures_total", **code) == 2
    recorder.refreshed(ECR_HOST, 0.1, AuthToken("AWS", "s", "e", 1.0, 2.0, clock_offset=-3.5))
    text = generate_latest(registry).decode()
    found = samples(text)
    assert value(found, f"{P}refresh_consecutive_failures", registry=ECR_HOST) == 0
    assert value(found, f"{P}refreshes_total", registry=ECR_HOST) == 3
    assert value(found, f"{P}refresh_duration_seconds_count", registry=ECR_HOST) == 3
    assert value(found, f"{P}refresh_duration_seconds_bucket", registry=ECR_HOST, le="0.25") == 2
    assert value(found, f"{P}clock_offset_seconds", registry=ECR_HOST) == -3.5
    promtool_check(text)


# ---- the watch's textfile ----


def test_the_watch_writes_its_textfile_after_each_pass(
    fake_aws: FakeAWS,
    tmp_path: Path,
    watch: Watch,
) -> None:
    """The file appears after the first pass, whole (written aside and renamed), 0644."""
    textfile = tmp_path / "textfile" / "docker_credential_ecr.prom"
    textfile.parent.mkdir()
    proc = watch(textfile)
    wait_until(textfile.exists, "the textfile", proc)
    text = textfile.read_text()
    found = samples(text)
    assert value(found, f"{P}refreshes_total", registry=ECR_HOST) == 1
    assert value(found, f"{P}refresh_consecutive_failures", registry=ECR_HOST) == 0
    assert abs(value(found, f"{P}clock_offset_seconds", registry=ECR_HOST) or 99.0) < 5
    assert value(found, f"{P}last_tick_timestamp_seconds") == pytest.approx(time.time(), abs=60)
    assert textfile.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in textfile.parent.iterdir()] == [textfile.name]  # no temporaries
    assert fake_aws.issued[0] not in text
    promtool_check(text)


def test_a_textfile_that_cannot_be_written_is_said_and_the_watch_goes_on(
    fake_aws: FakeAWS,
    tmp_path: Path,
    watch: Watch,
) -> None:
    """A missing directory fails the write, not the watch: it still refreshes."""
    textfile = tmp_path / "missing" / "docker_credential_ecr.prom"
    proc = watch(textfile)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert line.startswith(f"docker-credential-ecr refresh --watch: cannot write {textfile}: ")
    assert proc.poll() is None
    assert fake_aws.calls["ecr"] == 1


# ---- node_exporter's textfile collector, scraped over 127.0.0.1 ----


@pytest.fixture
def node_exporter(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """Debian's node_exporter reading only a textfile directory: (the directory, its URL)."""
    if not os.access(NODE_EXPORTER, os.X_OK):
        pytest.skip("node_exporter is not installed (Debian package prometheus-node-exporter)")
    directory = tmp_path / "node-exporter"
    directory.mkdir()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{port}", "--collector.disable-defaults",
         "--collector.textfile", f"--collector.textfile.directory={directory}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        deadline = time.monotonic() + 30
        while scrape(url) is None:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "node_exporter did not start"
            time.sleep(0.05)  # polling its port, bounded by the deadline above
        yield directory, url
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def scrape(url: str) -> Samples | None:
    """What a Prometheus server would see on a scrape, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - loopback
            return samples(answer.read().decode())
    except OSError:
        return None


def test_node_exporter_serves_a_refresh_a_failure_and_the_recovery(
    fake_aws: FakeAWS,
    watch: Watch,
    node_exporter: tuple[Path, str],
) -> None:
    """The series an alert reads change as ECR answers, refuses, then answers again."""
    directory, url = node_exporter
    textfile = directory / "docker_credential_ecr.prom"
    fake_aws.lifetime = 4.0  # the refresh window opens 2 s after each token
    proc = watch(textfile)

    def scraped(name: str, **labels: str) -> float | None:
        return value(scrape(url) or {}, name, **labels)

    def failing() -> float | None:
        return scraped(f"{P}refresh_consecutive_failures", registry=ECR_HOST)

    wait_until(lambda: failing() == 0, "a refresh", proc)
    found = scrape(url) or {}
    expiry = value(found, f"{P}token_expiry_timestamp_seconds", registry=ECR_HOST)
    assert expiry == pytest.approx(time.time() + 4.0, abs=10)
    assert value(found, "node_textfile_scrape_error") == 0
    assert value(found, "node_textfile_mtime_seconds", file=str(textfile)) is not None
    fake_aws.sticky_fault = "deny"
    wait_until(lambda: (failing() or 0) >= 2, "two failures in a row", proc)
    denied = {"registry": ECR_HOST, "code": "AccessDeniedException"}
    assert (scraped(f"{P}refresh_failures_total", **denied) or 0) >= 2
    fake_aws.sticky_fault = None
    wait_until(lambda: failing() == 0, "the recovery", proc)
    assert (scraped(f"{P}refreshes_total", registry=ECR_HOST) or 0) >= 4


# ---- SIGHUP ----


def exec_reload() -> list[str]:
    """The watch unit's ExecReload, as systemd splits it."""
    unit = Path(__file__).resolve().parent.parent / "packaging/systemd"
    text = (unit / "docker-credential-ecr-watch.service").read_text()
    (line,) = [ln for ln in text.splitlines() if ln.startswith("ExecReload=")]
    return shlex.split(line.removeprefix("ExecReload="))


def test_sighup_takes_a_new_registry_and_refuses_a_broken_file(
    env: dict[str, str],
    fake_aws: FakeAWS,
    watch: Watch,
) -> None:
    """A registry added to the file is refreshed without a restart; a broken file is
    refused with its line, and the watch keeps running on what it had."""
    proc = watch(None)
    config = Path(env["DOCKER_CREDENTIAL_ECR_CONFIG"])
    assert proc.stdout is not None
    assert proc.stderr is not None
    assert proc.stdout.readline() == "docker-credential-ecr refresh --watch: started\n"
    assert proc.stdout.readline().startswith(f"{ECR_HOST}: refreshed, expires ")

    def asked_for(account: str) -> bool:
        return any(account in r["body"] for r in list(fake_aws.requests))

    config.write_text(registries(ECR_HOST, OTHER_HOST))
    # As systemctl reload does it: the unit's ExecReload, with the watch's MAINPID.
    subprocess.run(exec_reload(), env={"MAINPID": str(proc.pid)}, check=True)
    assert (
        proc.stdout.readline() == "docker-credential-ecr refresh --watch: configuration reloaded\n"
    )
    assert proc.stdout.readline().startswith(f"{OTHER_HOST}: refreshed, expires ")
    assert asked_for("111111111111")
    config.write_text(registries(ECR_HOST) + '[registries."bad.example"]\nprofile = 7\n')
    proc.send_signal(signal.SIGHUP)
    assert proc.stderr.readline() == (
        f"docker-credential-ecr: {config}:4: profile for 'bad.example' must be a non-empty "
        "string; keeping the running configuration\n"
    )
    proc.send_signal(signal.SIGTERM)
    out, _err = proc.communicate(timeout=20)
    assert proc.returncode == 0  # it was still running, and stops as ever
    assert out == "docker-credential-ecr refresh --watch: stopped\n"


# ---- the textfile's directory is trusted before root writes there ----


def test_a_textfile_directory_others_can_write_is_refused(
    tmp_path: Path,
    watch: Watch,
) -> None:
    """Another user could swap names in a 0777 directory under root's write: no write."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    textfile = shared / "docker_credential_ecr.prom"
    proc = watch(textfile)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert line.startswith(f"docker-credential-ecr refresh --watch: cannot write {textfile}: ")
    assert "writable" in line
    assert list(shared.iterdir()) == []


def test_a_symlink_planted_at_the_textfile_is_replaced_not_followed(
    tmp_path: Path,
    watch: Watch,
) -> None:
    """The file is written aside and renamed over the name: a link there is not a way out."""
    directory = tmp_path / "textfile"
    directory.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    textfile = directory / "docker_credential_ecr.prom"
    textfile.symlink_to(victim)
    proc = watch(textfile)
    wait_until(lambda: not textfile.is_symlink(), "the textfile", proc)
    assert victim.read_text() == "keep\n"
    assert f"{P}build_info" in textfile.read_text()


def test_a_burst_of_sighups_never_wedges_the_watch(watch: Watch) -> None:
    """Hundreds of reloads in a row, then SIGTERM: it still stops, at once.  (A handler
    that set a threading.Event deadlocked here: it interrupted the wait holding its lock.)"""
    proc = watch(None)
    assert proc.stdout is not None
    assert proc.stdout.readline() == "docker-credential-ecr refresh --watch: started\n"
    for _ in range(300):
        proc.send_signal(signal.SIGHUP)
    assert proc.stdout.readline().startswith(f"{ECR_HOST}: refreshed, expires ")
    # Signals that arrive together are answered together: at least one reload.
    assert (
        proc.stdout.readline() == "docker-credential-ecr refresh --watch: configuration reloaded\n"
    )
    for _ in range(300):
        proc.send_signal(signal.SIGHUP)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert (proc.returncode, err) == (0, "")
    assert out.endswith("docker-credential-ecr refresh --watch: stopped\n")
