"""The protocol layer over byte buffers, with a fake helper behind it."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docker_credential_ecr import protocol
from docker_credential_ecr.errors import CredentialsNotFound, TokenError


class FakeHelper:
    def __init__(self) -> None:
        self.store: dict[str, tuple[str, str]] = {}
        self.fail: Exception | None = None

    def add(self, server_url: str, username: str, secret: str) -> None:
        self.store[server_url] = (username, secret)

    def delete(self, server_url: str) -> None:
        self.store.pop(server_url, None)

    def get(self, server_url: str) -> tuple[str, str]:
        if self.fail is not None:
            raise self.fail
        if server_url not in self.store:
            raise CredentialsNotFound
        return self.store[server_url]

    def list(self) -> dict[str, str]:
        return {k: v[0] for k, v in self.store.items()}


def call(helper: FakeHelper, action: str, data: bytes) -> tuple[int, str]:
    out = io.BytesIO()
    status = protocol.handle(helper, action, io.BytesIO(data), out)
    return status, out.getvalue().decode()


def test_store_get_list_erase_round_trip() -> None:
    h = FakeHelper()
    doc = {"ServerURL": "https://reg.example", "Username": "u", "Secret": 's"e\\c'}
    assert call(h, "store", json.dumps(doc).encode()) == (0, "")
    status, out = call(h, "get", b"  https://reg.example \n")
    assert status == 0
    assert out.endswith("\n")
    assert json.loads(out) == doc
    assert call(h, "list", b"") == (0, '{"https://reg.example": "u"}\n')
    assert call(h, "erase", b"https://reg.example\n") == (0, "")
    assert call(h, "get", b"https://reg.example") == (
        1,
        "credentials not found in native keychain\n",
    )


@pytest.mark.parametrize(
    ("action", "data", "message"),
    [
        ("get", b"", "no credentials server URL"),
        ("get", b"  \n ", "no credentials server URL"),
        ("erase", b"", "no credentials server URL"),
        ("store", b'{"Username": "u", "Secret": "s"}', "no credentials server URL"),
        ("store", b'{"ServerURL": "h", "Secret": "s"}', "no credentials username"),
        ("store", b'{"ServerURL": "h", "Username": "", "Secret": "s"}', "no credentials username"),
        ("store", b"", "store expects a JSON object with ServerURL, Username and Secret on stdin"),
        (
            "store",
            b'{"ServerURL": "h", "Username"',
            "store expects a JSON object with ServerURL, Username and Secret on stdin",
        ),
        ("store", b"[1]", "store expects a JSON object with ServerURL, Username and Secret"),
        (
            "store",
            b'{"ServerURL": 1, "Username": "u", "Secret": "s"}',
            "ServerURL, Username and Secret must be strings",
        ),
        ("get", b"\xff\xfe", "request on stdin is not valid UTF-8"),
        (
            "get",
            b"x" * (protocol.MAX_INPUT + 1),
            f"request on stdin is larger than {protocol.MAX_INPUT} bytes",
        ),
        ("frobnicate", b"", "docker-credential-ecr: unknown action: frobnicate"),
    ],
)
def test_bad_input_is_one_line_and_status_1(action: str, data: bytes, message: str) -> None:
    h = FakeHelper()
    assert call(h, action, data) == (1, message + "\n")
    assert h.store == {}


def test_store_with_empty_secret_is_accepted() -> None:
    h = FakeHelper()
    assert call(h, "store", b'{"ServerURL": "h", "Username": "u", "Secret": ""}') == (0, "")
    assert h.store == {"h": ("u", "")}


def test_helper_errors_become_one_line_on_stdout_and_for_get_on_stderr() -> None:
    h = FakeHelper()
    h.fail = TokenError("host.example", "AccessDeniedException: not\nallowed")
    out, err = io.BytesIO(), io.BytesIO()
    assert protocol.handle(h, "get", io.BytesIO(b"host.example"), out, err) == 1
    line = (
        b"docker-credential-ecr: cannot get an ECR token for host.example: "
        b"AccessDeniedException: not allowed\n"
    )
    assert (out.getvalue(), err.getvalue()) == (line, line)


def test_not_found_and_non_get_errors_stay_off_stderr() -> None:
    for action, data in (("get", b"unknown.example"), ("store", b"{}"), ("erase", b"")):
        out, err = io.BytesIO(), io.BytesIO()
        assert protocol.handle(FakeHelper(), action, io.BytesIO(data), out, err) == 1
        assert out.getvalue().count(b"\n") == 1
        assert err.getvalue() == b""


@given(st.text())
def test_json_string_round_trips(text: str) -> None:
    assert json.loads(protocol.json_string(text)) == text


@given(st.binary(max_size=4096))
def test_get_never_raises_on_arbitrary_bytes(data: bytes) -> None:
    status, out = call(FakeHelper(), "get", data)
    assert status == 1
    assert out.count("\n") == 1


@given(st.binary(max_size=4096))
def test_store_never_raises_on_arbitrary_bytes(data: bytes) -> None:
    h = FakeHelper()
    status, out = call(h, "store", data)
    assert (status, out) == (0, "") or (status == 1 and out.count("\n") == 1)


def test_store_of_deeply_nested_json_is_one_line() -> None:
    # Deeper than the JSON parser recurses: RecursionError, not ValueError.
    status, out = call(FakeHelper(), "store", b"[" * 60000)
    assert (status, out.count("\n")) == (1, 1)
    assert out.startswith("store expects a JSON object")
