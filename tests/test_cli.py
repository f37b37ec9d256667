"""The start-up every mode shares, in-process: settings, logging, refused files, deadlines.

Each mode reports its errors in its own channel; these tests pin which one.
"""

from __future__ import annotations

import io
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from docker_credential_ecr import cli, ecr, kubelet, log
from docker_credential_ecr.errors import DeadlineExceeded, InputError
from docker_credential_ecr.fileconfig import RegistryConfig
from docker_credential_ecr.registry import Registry
from docker_credential_ecr.token import AuthToken
from support.environ import clean_env
from support.hosts import ECR_HOST
from support.inprocess import run_main
from support.kubelet import request
from support.tokens import make_token, seed

BAD_LEVEL = "docker-credential-ecr: DOCKER_CREDENTIAL_ECR_LOG_LEVEL='LOUD' is not one of "
MISSED = f"docker-credential-ecr: cannot get an ECR token for {ECR_HOST}: no answer from AWS"


@pytest.fixture
def logging_restored() -> Iterator[None]:
    """Undo what turning logging on did to the package's logger."""
    logger = logging.getLogger("docker_credential_ecr")
    handlers, level, enabled = list(logger.handlers), logger.level, log.enabled
    yield
    for handler in logger.handlers[len(handlers) :]:
        handler.close()
        if isinstance(handler, logging.StreamHandler) and handler.stream is not sys.stderr:
            handler.stream.close()  # the log file: a StreamHandler leaves it open
    logger.handlers[:] = handlers
    logger.setLevel(level)
    log.enabled = enabled


def refused_config(env: dict[str, str]) -> Path:
    """Make the AWS config file one that others can write: the rule refuses it."""
    path = Path(env["AWS_CONFIG_FILE"])
    path.write_text("[default]\n")
    path.chmod(0o666)
    return path


def test_bootstrap_reads_the_settings_and_warns_of_each_refused_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = clean_env(tmp_path, None)
    config = refused_config(env)
    boot = cli.bootstrap(env)
    assert boot.settings.aws_changes == {"AWS_CONFIG_FILE": os.devnull}
    assert boot.environ is env
    assert capsys.readouterr().err == (
        f"docker-credential-ecr: warning: not reading {config} "
        f"({config} is writable by group and others (mode 666))\n"
    )


def test_bootstrap_says_what_it_does_when_the_cache_directory_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = clean_env(tmp_path, None)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    env["AWS_ECR_CACHE_DIR"] = str(shared / "cache")
    boot = cli.bootstrap(env)
    (line,) = capsys.readouterr().err.splitlines()
    if boot.settings.cache.trusted:  # root: its own directory instead
        assert line.startswith(f"docker-credential-ecr: warning: not keeping tokens in {shared}")
        assert line.endswith(f"; using {boot.settings.cache.directory}")
    else:
        assert line.startswith("docker-credential-ecr: warning: tokens are not cached: ")
        assert line.endswith("only you and root can write")
        assert not boot.settings.cache.enabled


def test_bootstrap_raises_a_malformed_setting_and_says_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {**clean_env(tmp_path, None), "DOCKER_CREDENTIAL_ECR_LOG_LEVEL": "loud"}
    refused_config(env)
    with pytest.raises(InputError, match="LOG_LEVEL='LOUD'"):
        cli.bootstrap(env)
    assert capsys.readouterr().err == ""


@pytest.mark.usefixtures("logging_restored")
def test_bootstrap_logs_to_the_file_named(tmp_path: Path) -> None:
    env = clean_env(tmp_path, None)
    env.update(
        {
            "DOCKER_CREDENTIAL_ECR_LOG_FILE": str(tmp_path / "helper.log"),
            "DOCKER_CREDENTIAL_ECR_LOG_LEVEL": "debug",
        }
    )
    refused_config(env)
    cli.bootstrap(env)
    assert log.enabled
    assert "DEBUG warning: not reading " in (tmp_path / "helper.log").read_text()


def test_the_aws_environment_changes_only_the_process_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = clean_env(tmp_path, None)
    refused_config(env)
    given = dict(env)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    cli.bootstrap(given).aws_environment()
    assert given == env
    assert os.environ["AWS_CONFIG_FILE"] == env["AWS_CONFIG_FILE"]
    own = cli.bootstrap(os.environ)
    assert os.environ["AWS_CONFIG_FILE"] == env["AWS_CONFIG_FILE"]  # not before botocore loads
    own.aws_environment()
    assert os.environ["AWS_CONFIG_FILE"] == os.devnull


Fetch = Callable[[Registry, RegistryConfig], AuthToken]


def fetcher_that(answer: Callable[[Registry], AuthToken]) -> Callable[..., Fetch]:
    """A stand-in for ``ecr.make_fetcher`` whose fetches give (or raise) ``answer``."""

    def make(*_: object) -> Fetch:
        return lambda registry, _config: answer(registry)

    return make


def missed(registry: Registry) -> AuthToken:
    raise DeadlineExceeded(registry.host, "no answer from AWS within 1.5s")


def get_in_process(env: dict[str, str]) -> tuple[int | None, str, str]:
    """``cli.run`` for a get: its status (None if it abandoned), stdout and stderr."""
    out, err = io.BytesIO(), io.BytesIO()
    try:
        status: int | None = cli.run("get", env, io.BytesIO(ECR_HOST.encode()), out, err)
    except cli.FetchAbandoned:
        status = None
    return status, out.getvalue().decode(), err.getvalue().decode()


def test_a_missed_deadline_is_answered_then_abandons(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ecr, "make_fetcher", fetcher_that(missed))
    status, out, err = get_in_process(clean_env(tmp_path, None))
    assert status is None
    assert out == err == f"{MISSED} within 1.5s\n"


def test_a_cached_token_served_over_a_missed_deadline_still_abandons(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = clean_env(tmp_path, None)
    env["DOCKER_CREDENTIAL_ECR_BACKGROUND_REFRESH"] = "false"
    seed(env, requested_ago=11 * 3600, expires_in=3600)
    monkeypatch.setattr(ecr, "make_fetcher", fetcher_that(missed))
    status, out, _ = get_in_process(env)
    assert status is None
    assert '"Secret":"seeded"' in out


def test_a_fetch_within_its_deadline_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ecr, "make_fetcher", fetcher_that(lambda _: make_token("fetched")))
    status, out, err = get_in_process(clean_env(tmp_path, None))
    assert (status, err) == (0, "")
    assert '"Secret":"fetched"' in out


class Ended(Exception):
    """What exit_now raises here, instead of ending the test's process."""


@pytest.mark.parametrize(
    ("argv", "stdin"), [(["get"], ECR_HOST), ([kubelet.ACTION], request())], ids=["get", "kubelet"]
)
def test_main_ends_the_process_with_status_1_after_an_abandoned_fetch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str], stdin: str
) -> None:
    def exit_now(status: int) -> None:
        raise Ended(status)

    monkeypatch.setattr(cli, "exit_now", exit_now)
    monkeypatch.setattr(ecr, "make_fetcher", fetcher_that(missed))
    out = io.TextIOWrapper(io.BytesIO(), write_through=True)
    with pytest.raises(Ended) as ended:
        cli.main(argv, clean_env(tmp_path, None), io.BytesIO(stdin.encode()), out, io.StringIO())
    assert ended.value.args == (1,)


def call(argv: list[str], env: dict[str, str], stdin: str) -> tuple[int, str, str]:
    """``cli.main`` in this process: its status, stdout and stderr."""
    return run_main(argv, env, stdin.encode())


@pytest.mark.parametrize(
    ("argv", "stdin", "on_stdout", "on_stderr"),
    [
        (["get"], ECR_HOST, True, True),  # stderr too: the Docker CLI drops the stdout of a get
        (["list"], "", True, False),
        ([kubelet.ACTION], request(), False, True),
        (["status"], "", False, True),  # an operator command: stderr, as any CLI
    ],
    ids=["get", "list", "kubelet", "command"],
)
def test_each_mode_reports_a_malformed_setting_in_its_channel(
    tmp_path: Path, argv: list[str], stdin: str, on_stdout: bool, on_stderr: bool
) -> None:
    env = {**clean_env(tmp_path, None), "DOCKER_CREDENTIAL_ECR_LOG_LEVEL": "loud"}
    status, out, err = call(argv, env, stdin)
    assert status == 1
    line = out or err
    assert line.startswith(BAD_LEVEL)
    assert line.count("\n") == 1
    assert (out, err) == (line if on_stdout else "", line if on_stderr else "")


def test_the_kubelet_channel_names_the_helper_on_every_line(tmp_path: Path) -> None:
    status, out, err = call([kubelet.ACTION], clean_env(tmp_path, None), '{"kind": 1}')
    assert (status, out) == (1, "")
    assert err.startswith("docker-credential-ecr: ")
    assert err.count("\n") == 1


def test_an_unknown_action_is_reported_in_the_command_channel(tmp_path: Path) -> None:
    assert call(["frobnicate"], clean_env(tmp_path, None), "") == (
        1,
        "docker-credential-ecr: unknown action: frobnicate\n",
        "",
    )
