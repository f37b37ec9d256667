"""The composition and the operator commands in-process: cli.main with its edges passed in.

The subprocess tests (test_get, test_store, test_admin and the rest) prove the same through
the real executable; these are fast and reach branches a subprocess makes awkward, such as
the ``--watch`` scheduler driven by a fake clock and a fake wait.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
from pathlib import Path

import pytest

from docker_credential_ecr import cli, commands
from docker_credential_ecr.commands.context import Context
from docker_credential_ecr.commands.refresh import Signals, Watch, watch
from docker_credential_ecr.errors import InputError, TokenError
from docker_credential_ecr.fileconfig import RegistryConfig
from docker_credential_ecr.registry import parse
from docker_credential_ecr.resolver import Target
from docker_credential_ecr.token import AuthToken
from fakeaws import FakeAWS
from support.environ import clean_env
from support.hosts import ECR_HOST
from support.inprocess import run_main
from support.services import command_context, errors, output


def call(argv: list[str], environ: dict[str, str], stdin: bytes = b"") -> tuple[int, str]:
    """Run cli.main in this process; return the status and what it wrote on stdout."""
    status, out, _err = run_main(argv, environ, stdin)
    return status, out


def test_help_lists_every_command_of_the_table(tmp_path: Path) -> None:
    status, out = call(["--help"], clean_env(tmp_path, None))
    assert status == 0
    for command in commands.COMMANDS:
        assert f"  {command.name}" in out
    for variable in ("RUNTIME_DIR", "BACKGROUND_REFRESH", "CONFIG", "AWS_ECR_CACHE_DIR"):
        assert variable in out


def test_no_arguments_is_usage_and_status_1(tmp_path: Path) -> None:
    status, out = call([], clean_env(tmp_path, None))
    assert (status, out.splitlines()[0]) == (1, cli.usage().splitlines()[0])


def test_get_and_status_in_process(
    tmp_path: Path, fake_aws: FakeAWS, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = clean_env(tmp_path, fake_aws)
    # botocore reads the process's environment, whatever cli.main is given.
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    status, out = call(["get"], env, ECR_HOST.encode())
    assert status == 0
    assert json.loads(out)["Secret"] == fake_aws.issued[0]
    status, out = call(["status", "--json"], env)
    assert status == 0
    (row,) = json.loads(out)["tokens"]
    assert (row["registry"], row["state"], row["current_identity"]) == (ECR_HOST, "fresh", True)


def test_unknown_command_and_bad_option_are_one_line(tmp_path: Path) -> None:
    env = clean_env(tmp_path, None)
    assert call(["frobnicate"], env) == (1, "docker-credential-ecr: unknown action: frobnicate\n")
    # An operator command's mistake is on stderr, as any CLI's; stdout stays clean for
    # what its output is piped to.
    status, out, err = run_main(["policy", "--nope"], env)
    assert (status, out) == (1, "")
    assert err.startswith("docker-credential-ecr policy: unrecognized arguments: --nope")


class FakeTokens:
    """Just what the scheduler uses of the token service: tokens that fail a set number of
    times, then work."""

    def __init__(self, clock: list[float], failures: int) -> None:
        self.clock = clock
        self.failures = failures
        self.issued: AuthToken | None = None
        self.calls: list[float] = []

    def target(self, host: str) -> Target | None:
        reg = parse(host)
        return None if reg is None else Target(reg, RegistryConfig(), host)

    def cached(self, target: Target) -> AuthToken | None:
        return self.issued

    def cached_entries(self) -> list[object]:
        return []

    def token(self, target: Target) -> AuthToken:
        self.calls.append(self.clock[0])
        if self.failures:
            self.failures -= 1
            raise TokenError(target.host, "ThrottlingException: Rate exceeded")
        now = self.clock[0]
        self.issued = AuthToken("AWS", "s", "e", now, now + 1000)
        return self.issued


def test_watch_backs_off_then_refreshes_in_each_refresh_window(tmp_path: Path) -> None:
    clock = [10_000.0]
    tokens = FakeTokens(clock, failures=3)
    ctx = command_context(tokens, None, lambda: clock[0], tmp_path)  # type: ignore[arg-type]
    scheduler = Watch(ctx, [ECR_HOST], 300.0, random.Random(1))
    for _ in range(8):
        clock[0] = max(clock[0], scheduler.tick())
    starts = [c - tokens.calls[0] for c in tokens.calls]
    # Three failures retried after about 2, 4 and 8 s (jittered down to half), then each
    # token refreshed in the first tenth of its refresh window (500 to 550 s after issue).
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert 1 <= gaps[0] <= 2
    assert 2 <= gaps[1] <= 4
    assert 4 <= gaps[2] <= 8
    assert len(gaps) > 3
    assert all(500 <= g <= 550 for g in gaps[3:]), gaps
    assert output(ctx).count("failed: ThrottlingException") == 3


class ScriptedSignals(Signals):
    """The signals a test scripts: one answer per wait, each wait moving the clock on."""

    def __init__(self, clock: list[float], answers: list[str | None]) -> None:
        super().__init__(-1)
        self.clock, self.answers = clock, answers

    def wait(self, seconds: float) -> str | None:
        self.clock[0] += seconds
        return self.answers.pop(0)


def delays(ctx_out: str) -> list[float]:
    """The retry delays a watch announced, in order."""
    return [float(line.rsplit(" ", 1)[1].rstrip("s")) for line in ctx_out.splitlines()
            if "retrying in" in line]  # fmt: skip


def test_a_reload_carries_each_registrys_backoff_over(tmp_path: Path) -> None:
    """Failures before a SIGHUP count after it: the backoff goes on doubling, not afresh."""
    clock = [10_000.0]
    tokens = FakeTokens(clock, failures=3)
    ctx = command_context(tokens, None, lambda: clock[0], tmp_path)  # type: ignore[arg-type]
    reloaded = command_context(tokens, None, lambda: clock[0], tmp_path)  # type: ignore[arg-type]
    ctx.reload = lambda: reloaded
    args = argparse.Namespace(interval=300.0, hosts=[ECR_HOST])
    assert watch(args, ctx, ScriptedSignals(clock, ["reload", None, "stop"])) == 0
    assert output(reloaded).startswith(
        "docker-credential-ecr refresh --watch: configuration reloaded\n"
    )
    first, second, third = delays(output(ctx) + output(reloaded))
    assert (first <= 2, 2 <= second <= 4, 4 <= third <= 8) == (True, True, True)


@pytest.mark.parametrize(
    ("reload", "said"),
    [
        (None, "docker-credential-ecr refresh --watch: this watch cannot reload"),
        ("broken", "docker-credential-ecr: /etc/x.toml:3: unknown section 'x'"),
    ],
)
def test_a_reload_that_cannot_be_done_keeps_the_running_watch(
    tmp_path: Path, reload: str | None, said: str
) -> None:
    """No way to reload, or a configuration with errors: said once, and the watch goes on."""
    clock = [10_000.0]
    tokens = FakeTokens(clock, failures=0)
    ctx = command_context(tokens, None, lambda: clock[0], tmp_path)  # type: ignore[arg-type]
    if reload == "broken":

        def refuse() -> Context:
            raise InputError("docker-credential-ecr: /etc/x.toml:3: unknown section 'x'")

        ctx.reload = refuse
    args = argparse.Namespace(interval=300.0, hosts=[ECR_HOST])
    assert watch(args, ctx, ScriptedSignals(clock, ["reload", None, "stop"])) == 0
    assert errors(ctx) == f"{said}; keeping the running configuration\n"
    assert "configuration reloaded" not in output(ctx)
    assert len(tokens.calls) == 2  # still refreshing, on the configuration it had


def test_watch_stops_when_the_wait_says_so(tmp_path: Path) -> None:
    clock = [10_000.0]
    tokens = FakeTokens(clock, failures=0)
    ctx = command_context(tokens, None, lambda: clock[0], tmp_path)  # type: ignore[arg-type]
    waits: list[float] = []

    class Scripted(Signals):
        def wait(self, seconds: float) -> str | None:
            waits.append(seconds)
            clock[0] += seconds
            return "stop" if len(waits) == 3 else None

    args = argparse.Namespace(interval=300.0, hosts=[ECR_HOST])
    assert watch(args, ctx, Scripted(-1)) == 0
    assert output(ctx).splitlines()[0] == "docker-credential-ecr refresh --watch: started"
    assert output(ctx).splitlines()[-1] == "docker-credential-ecr refresh --watch: stopped"
    assert len(tokens.calls) == 2  # at start, then once in the token's refresh window


def test_the_delivery_failure_tally_outlives_a_reload(tmp_path: Path) -> None:
    """A reload makes new Deliverers; they count into the watch's one tally, so that the
    failures counter of the metrics never goes back."""
    from docker_credential_ecr.commands.refresh import Output, _scheduler
    from docker_credential_ecr.fileconfig import parse as parse_file

    file = parse_file(
        f'[metrics]\ntextfile = "{tmp_path}/m.prom"\n[registries."{ECR_HOST}"]\n'
        f'[deliveries.f]\nformat = "dockerconfigjson"\nfile = "{tmp_path}/out.json"\n',
        "/etc/x.toml",
    )
    clock = [10_000.0]
    tokens = FakeTokens(clock, failures=0)  # it has issued nothing: every delivery fails
    ctx = command_context(tokens, None, lambda: clock[0], tmp_path, file)  # type: ignore[arg-type]
    args = argparse.Namespace(interval=300.0, hosts=[])
    output = Output(ctx)
    for _reload in range(2):
        deliverer = _scheduler(args, ctx, random.Random(1), output).deliverer
        assert deliverer is not None
        assert deliverer.tick(clock[0])[1] == 1
    assert output.recorder is not None
    assert output.recorder.delivery_failures == {"f": 2}


def test_the_watchs_signals_reach_its_wait() -> None:
    """Each signal is a byte on the wakeup pipe: SIGHUP reloads, SIGTERM wins over it, and
    a wait with none ends when its time is up.  This process's handlers are put back."""
    import os
    import signal

    from docker_credential_ecr.commands.refresh import _on_signals

    names = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    before = {n: signal.getsignal(n) for n in names}
    signals = _on_signals()
    try:
        assert signals.wait(0.01) is None
        os.kill(os.getpid(), signal.SIGHUP)
        assert signals.wait(5) == "reload"
        os.kill(os.getpid(), signal.SIGHUP)
        os.kill(os.getpid(), signal.SIGTERM)
        assert signals.wait(5) == "stop"
        assert signals.wait(0.01) is None  # each signal is answered once
    finally:
        os.close(signal.set_wakeup_fd(-1))
        os.close(signals.wakeup)
        for number, handler in before.items():
            signal.signal(number, handler)
