"""status in-process: one row per cached token, its state by the clock, and the logins."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from docker_credential_ecr.commands import status
from support.services import HOST, OTHER, World, context, output


@pytest.fixture
def w(tmp_path: Path) -> World:
    return World(tmp_path)


def test_each_token_is_fresh_due_or_expired_by_the_clock(w: World, tmp_path: Path) -> None:
    w.put(HOST, age=60)
    w.put(OTHER, age=40000, tag="tag(profile=puller)")
    w.put(HOST, age=50000, tag="0123456789abcdef")
    rows = {(r["registry"], r["identity"]): r for r in status.token_rows(context(w, tmp_path))}
    assert rows[HOST, "default"]["state"] == "fresh"
    assert rows[HOST, "default"]["age_s"] == 60
    assert rows[OTHER, "tag(profile=puller)"]["state"] == "refresh due"
    assert rows[HOST, "0123456789abcdef"]["state"] == "expired"
    assert rows[HOST, "0123456789abcdef"]["current_identity"] is False


def test_json_names_tokens_and_logins_and_never_a_secret(w: World, tmp_path: Path) -> None:
    w.put(HOST, age=0)
    w.logins.put("quay.io", "robot", "login-secret")
    ctx = context(w, tmp_path)
    assert status.main(argparse.Namespace(json=True, format="table"), ctx) == 0
    document = json.loads(output(ctx))
    assert document["logins"] == [{"server": "quay.io", "user": "robot"}]
    assert [t["registry"] for t in document["tokens"]] == [HOST]
    assert "secret" not in output(ctx)


def test_the_table_says_which_cache_and_marks_another_identity(w: World, tmp_path: Path) -> None:
    w.put(HOST, age=0, tag="0123456789abcdef")
    ctx = context(w, tmp_path)
    assert status.main(argparse.Namespace(json=False, format="table"), ctx) == 0
    lines = output(ctx).splitlines()
    assert lines[0] == f"cache: {ctx.cache.directory}"
    assert lines[2].split() == ["REGISTRY", "IDENTITY", "AGE", "EXPIRES", "REFRESH", "AT", "STATE"]
    assert lines[3].split()[:3] == [HOST, "0123456789abcdef", "(other)"]
