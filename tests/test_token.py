"""Token freshness rules and reading the expiry out of an ECR password."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docker_credential_ecr.token import CLOCK_SKEW, AuthToken, expiry_of_password
from fakeaws import make_password


def tok(requested: float, expires: float) -> AuthToken:
    return AuthToken("AWS", "secret-value", "https://h", requested, expires)


def test_fresh_until_half_life() -> None:
    t = tok(1000.0, 1000.0 + 12 * 3600)
    assert t.fresh(1000.0)
    assert t.fresh(1000.0 + 6 * 3600 - 1)
    assert not t.fresh(1000.0 + 6 * 3600)
    assert not t.fresh(1000.0 + 13 * 3600)


def test_usable_leaves_a_skew_margin_and_expired_is_exact() -> None:
    t = tok(0.0, 10_000.0)
    assert t.usable(10_000.0 - CLOCK_SKEW - 1)
    assert not t.usable(10_000.0 - CLOCK_SKEW)
    assert not t.expired(9_999.9)
    assert t.expired(10_000.0)


def test_repr_never_shows_the_secret() -> None:
    assert "secret-value" not in repr(tok(0, 1))


def test_expiry_of_a_real_shaped_password() -> None:
    assert expiry_of_password(make_password(1_900_000_000.7)) == 1_900_000_000.0


@pytest.mark.parametrize(
    "document",
    [
        b"[1, 2]",
        b'{"expiration": "soon"}',
        b'{"expiration": true}',
        b'{"no": 1}',
        b'{"expiration": 1e999}',
        b"not json",
        b'{"expiration": ' + b"9" * 400 + b"}",
    ],
)
def test_expiry_absent_or_malformed(document: bytes) -> None:
    assert expiry_of_password(base64.b64encode(document).decode()) is None


def test_expiry_tolerates_missing_padding() -> None:
    raw = base64.b64encode(json.dumps({"expiration": 5}).encode()).decode().rstrip("=")
    assert expiry_of_password(raw) == 5.0


@given(st.text())
def test_expiry_never_raises(password: str) -> None:
    result = expiry_of_password(password)
    assert result is None or isinstance(result, float)


def test_a_deeply_nested_password_has_no_expiry() -> None:
    import base64

    from docker_credential_ecr.token import expiry_of_password

    assert expiry_of_password(base64.b64encode(b"[" * 60000).decode()) is None
