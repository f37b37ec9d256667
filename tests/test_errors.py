"""errors in-process: each error's line, the builtin kind a caller catches it as, and one_line."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docker_credential_ecr import errors
from docker_credential_ecr.errors import (
    CacheError,
    CredentialsNotFound,
    DeadlineExceeded,
    HelperError,
    InputError,
    TokenError,
    one_line,
)
from support.services import HOST


def test_not_found_is_the_exact_text_docker_falls_back_to_anonymous_on() -> None:
    # docker-credential-helpers' credentials.ErrCredentialsNotFound, matched by Docker.
    assert str(CredentialsNotFound()) == "credentials not found in native keychain"
    assert errors.NOT_FOUND == "credentials not found in native keychain"


def test_a_token_error_names_the_helper_the_host_and_the_reason() -> None:
    exc = TokenError(HOST, "AccessDeniedException: not authorized")
    assert str(exc) == (
        f"docker-credential-ecr: cannot get an ECR token for {HOST}: "
        "AccessDeniedException: not authorized"
    )
    assert (exc.host, exc.reason) == (HOST, "AccessDeniedException: not authorized")


def test_a_missed_deadline_is_a_token_error_worded_the_same() -> None:
    exc = DeadlineExceeded(HOST, "no answer within 10 s")
    assert isinstance(exc, TokenError)
    assert (
        str(exc)
        == f"docker-credential-ecr: cannot get an ECR token for {HOST}: no answer within 10 s"
    )
    assert exc.reason == "no answer within 10 s"


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (CredentialsNotFound(), LookupError),
        (InputError("bad"), ValueError),
        (TokenError(HOST, "why"), RuntimeError),
        (DeadlineExceeded(HOST, "late"), TimeoutError),
        (CacheError("unsafe"), OSError),
    ],
)
def test_each_error_is_a_helper_error_and_the_builtin_kind_it_is(
    error: HelperError, kind: type[Exception]
) -> None:
    assert isinstance(error, HelperError)
    assert isinstance(error, kind)


def test_the_plain_errors_are_their_message_as_given() -> None:
    assert (
        str(InputError("docker-credential-ecr: bad request"))
        == "docker-credential-ecr: bad request"
    )
    assert str(CacheError("docker-credential-ecr: cache unsafe")) == (
        "docker-credential-ecr: cache unsafe"
    )


def test_one_line_collapses_every_kind_of_line_break_and_run_of_blanks() -> None:
    text = "  AccessDenied:\n\tnot\r\nallowed\x0bhere\x0cor\x1cthere\x85nor\u2028 in\u2029 eu  "
    assert one_line(text) == "AccessDenied: not allowed here or there nor in eu"
    assert one_line("") == ""
    assert one_line(" \n\t ") == ""


@given(st.text())
def test_one_line_is_never_more_than_one_line_and_keeps_every_word(text: str) -> None:
    line = one_line(text)
    assert len(line.splitlines()) <= 1
    assert line.split(" ") == (text.split() or [""])
    assert one_line(line) == line


def test_the_name_errors_give_is_the_installed_program() -> None:
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    scripts = tomllib.loads(pyproject.read_text())["project"]["scripts"]
    assert errors.NAME == "docker-credential-ecr"
    assert scripts[errors.NAME] == "docker_credential_ecr.cli:entry"
