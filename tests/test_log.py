"""log in-process: debug lines only once cli turns them on, formatted lazily, never a token."""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from docker_credential_ecr import cli, log
from docker_credential_ecr.config import Settings
from docker_credential_ecr.resolver import Resolver, Target
from docker_credential_ecr.token import AuthToken
from support.environ import clean_env
from support.services import HOST, World

LOGGER = "docker_credential_ecr"
KEY = f"{HOST}~default"


class Probe:
    """An argument that counts how often it is turned into text."""

    def __init__(self) -> None:
        self.formatted = 0

    def __str__(self) -> str:
        self.formatted += 1
        return KEY


@pytest.fixture
def logger(monkeypatch: pytest.MonkeyPatch) -> Iterator[logging.Logger]:
    """The package's logger, its handlers, its level and ``log.enabled`` put back afterwards."""
    found = logging.getLogger(LOGGER)
    handlers, level = list(found.handlers), found.level
    monkeypatch.setattr(log, "enabled", False)
    yield found
    for handler in [h for h in found.handlers if h not in handlers]:
        found.removeHandler(handler)
        handler.close()
        stream = getattr(handler, "stream", None)
        if stream is not None and stream not in (sys.stderr, sys.__stderr__):
            stream.close()  # a StreamHandler leaves its stream (cli's log file) open
    found.setLevel(level)


def debug_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, int, str]]:
    return [(r.name, r.levelno, r.getMessage()) for r in caplog.records]


def test_off_it_logs_nothing_and_formats_no_argument(
    logger: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    probe = Probe()
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        log.debug("cache hit for %s", probe)
    assert caplog.records == []
    assert probe.formatted == 0


def test_on_it_is_a_debug_record_of_the_package_logger(
    logger: logging.Logger, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(log, "enabled", True)
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        log.debug("cache hit for %s", Probe())
        log.debug("no arguments: %s stays as written")
    assert debug_lines(caplog) == [
        (LOGGER, logging.DEBUG, f"cache hit for {KEY}"),
        (LOGGER, logging.DEBUG, "no arguments: %s stays as written"),
    ]


def test_on_above_debug_level_the_arguments_are_still_never_formatted(
    logger: logging.Logger, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(log, "enabled", True)
    probe = Probe()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        log.debug("cache hit for %s", probe)
    assert (caplog.records, probe.formatted) == ([], 0)


@pytest.mark.parametrize(
    ("level", "enabled"), [("INFO", False), ("WARNING", False), ("DEBUG", True)]
)
def test_cli_turns_it_on_only_at_debug_level(
    logger: logging.Logger, tmp_path: Path, level: str, enabled: bool
) -> None:
    settings = Settings({**clean_env(tmp_path, None), "DOCKER_CREDENTIAL_ECR_LOG_LEVEL": level})
    cli._configure_logging(settings)
    assert log.enabled is enabled
    assert logger.level == logging.getLevelNamesMapping()[level]


def test_without_a_level_or_a_file_cli_leaves_it_off(
    logger: logging.Logger, tmp_path: Path
) -> None:
    handlers = list(logger.handlers)
    cli._configure_logging(Settings(clean_env(tmp_path, None)))
    assert log.enabled is False
    assert logger.handlers == handlers


def test_a_line_in_the_log_file_is_time_process_level_and_message(
    logger: logging.Logger, tmp_path: Path
) -> None:
    path = tmp_path / "helper.log"
    environ = {
        **clean_env(tmp_path, None),
        "DOCKER_CREDENTIAL_ECR_LOG_LEVEL": "debug",
        "DOCKER_CREDENTIAL_ECR_LOG_FILE": str(path),
    }
    cli._configure_logging(Settings(environ))
    log.debug("refreshed by another process: %s", KEY)
    for handler in logger.handlers:
        handler.flush()
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    line = f"{stamp} {os.getpid()} DEBUG refreshed by another process: {re.escape(KEY)}\n"
    assert re.fullmatch(line, path.read_text())


def test_the_resolver_logs_a_cache_hit_by_its_key_never_the_token(
    logger: logging.Logger,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setattr(log, "enabled", True)
    w = World(tmp_path)
    target = w.tokens.target(HOST)
    assert target is not None
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        first = w.tokens.token(target)
        again = w.tokens.token(target)
    assert (first.secret, again.secret) == ("s1", "s1")
    assert debug_lines(caplog) == [(LOGGER, logging.DEBUG, f"cache hit for {KEY}")]
    assert "s1" not in caplog.text


def test_the_resolver_logs_a_background_refresh_by_its_key_never_the_token(
    logger: logging.Logger,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setattr(log, "enabled", True)
    w = World(tmp_path)
    target = w.tokens.target(HOST)
    assert target is not None
    # Issued 11 hours ago, living 12: valid, but in its refresh window.
    issued = w.now - 11 * 3600
    w.cache.write(
        KEY, AuthToken("AWS", "cached-secret", f"https://{HOST}", issued, issued + 43200), w.now
    )
    handed: list[str] = []

    def background(target: Target) -> bool:
        handed.append(target.key)
        return True

    resolver = Resolver(w.cache, w.fetch, w.clock, w.warnings.append, 1.0, background)
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        assert resolver.get(target).secret == "cached-secret"
    assert handed == [KEY]
    assert w.asked == []
    assert debug_lines(caplog) == [(LOGGER, logging.DEBUG, f"refreshing {KEY} in the background")]
    assert "cached-secret" not in caplog.text
