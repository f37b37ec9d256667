"""The login store in-process: what ``docker login`` keeps for registries not ECR's."""

from __future__ import annotations

from pathlib import Path

import pytest

from docker_credential_ecr.logins import LoginStore, normalise
from support.files import mode


def test_login_store_round_trip(tmp_path: Path, umask_000: None) -> None:
    store = LoginStore(str(tmp_path / "c" / "logins"))
    store.put("https://Reg.Example:5000/", "user", "pass\nword")
    assert store.get("reg.example:5000") == ("user", "pass\nword")
    assert store.entries() == [("https://Reg.Example:5000/", "user")]
    assert mode(tmp_path / "c") == 0o700
    assert mode(tmp_path / "c" / "logins") == 0o700
    assert all(mode(p) == 0o600 for p in (tmp_path / "c" / "logins").iterdir())
    store.erase("http://reg.example:5000")
    assert store.get("reg.example:5000") is None
    assert store.entries() == []


def test_login_store_ignores_garbage(tmp_path: Path) -> None:
    store = LoginStore(str(tmp_path / "l"))
    store.put("h", "u", "s")
    for p in (tmp_path / "l").iterdir():
        p.write_text('{"ServerURL": 1}')
    assert store.get("h") is None
    assert store.entries() == []


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://index.docker.io/v1/", "index.docker.io/v1"),
        ("HTTP://Reg:5000", "reg:5000"),
        ("reg/Path/", "reg/Path"),
    ],
)
def test_normalise(a: str, b: str) -> None:
    assert normalise(a) == b
