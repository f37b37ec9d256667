"""export in-process: each format from the token service, and a private file."""

from __future__ import annotations

import argparse
import base64
import json
import stat
from pathlib import Path

import pytest

from docker_credential_ecr.commands import export
from docker_credential_ecr.errors import InputError
from support.services import HOST, OTHER, World, context, output


def args(**given: object) -> argparse.Namespace:
    """export's options, as its parser would give them."""
    defaults: dict[str, object] = {
        "hosts": [HOST, OTHER],
        "format": "dockerconfigjson",
        "output": None,
        "name": "ecr-pull",
        "namespace": [],
    }
    return argparse.Namespace(**{**defaults, **given})


@pytest.fixture
def w(tmp_path: Path) -> World:
    return World(tmp_path)


def test_dockerconfigjson_carries_each_registry_once(w: World, tmp_path: Path) -> None:
    ctx = context(w, tmp_path)
    assert export.main(args(), ctx) == 0
    auths = json.loads(output(ctx))["auths"]
    assert sorted(auths) == sorted([HOST, OTHER])
    assert base64.b64decode(auths[HOST]["auth"]).decode() == "AWS:s1"
    assert [host for host, _config in w.asked] == [HOST, OTHER]


def test_a_kubernetes_secret_holds_the_same_document(w: World, tmp_path: Path) -> None:
    ctx = context(w, tmp_path)
    assert export.main(args(format="kubernetes-secret", namespace=["ci"]), ctx) == 0
    secret = json.loads(output(ctx))
    assert (secret["kind"], secret["type"]) == ("Secret", "kubernetes.io/dockerconfigjson")
    assert (secret["metadata"]["name"], secret["metadata"]["namespace"]) == ("ecr-pull", "ci")
    inner = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
    assert sorted(inner["auths"]) == sorted([HOST, OTHER])


def test_a_secret_for_each_namespace_is_one_list(w: World, tmp_path: Path) -> None:
    ctx = context(w, tmp_path)
    assert export.main(args(format="kubernetes-secret", namespace=["ci", "web"]), ctx) == 0
    listed = json.loads(output(ctx))
    assert (listed["apiVersion"], listed["kind"]) == ("v1", "List")
    assert [i["metadata"]["namespace"] for i in listed["items"]] == ["ci", "web"]
    assert len({i["data"][".dockerconfigjson"] for i in listed["items"]}) == 1
    assert len(w.asked) == 2  # one token per registry, whatever the number of namespaces


def test_output_is_a_private_file_and_the_screen_gets_no_token(w: World, tmp_path: Path) -> None:
    ctx = context(w, tmp_path)
    target = tmp_path / "out.json"
    assert export.main(args(output=str(target)), ctx) == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert output(ctx) == f"{target}: written (2 registries)\n"
    assert "s1" in target.read_text()


def test_nothing_to_export_is_an_input_error(w: World, tmp_path: Path) -> None:
    # Nothing named, configured or cached.
    w.file.aliases.clear()
    w.file.registries.clear()
    ctx = context(w, tmp_path)
    with pytest.raises(InputError, match="name registries, or configure or cache some first"):
        export.main(args(hosts=[]), ctx)
