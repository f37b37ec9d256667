"""The documents of formats.py: Kubernetes Secrets valid by Kubernetes' own schema, an
RKE2/K3s registries.yaml merged with its comments kept, containerd hosts.toml files as
containerd reads them (tomllib here; ``ctr`` itself in tests/e2e)."""

from __future__ import annotations

import base64
import json
import tomllib

import kubernetes_validate
import pytest

from docker_credential_ecr import formats
from docker_credential_ecr.formats import FORMATS, Metadata

HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
EU = "210987654321.dkr.ecr.eu-west-1.amazonaws.com"
AUTHS = {
    host: {"username": "AWS", "password": f"pw-{host[:3]}", "auth": base64.b64encode(
        f"AWS:pw-{host[:3]}".encode()).decode()}
    for host in (HOST, EU)
}  # fmt: skip


def render(name: str, options: Metadata | None = None, current: str | None = None) -> str:
    return formats.listing(FORMATS[name].render(AUTHS, options or Metadata(), current))


@pytest.mark.parametrize(
    "options",
    [
        Metadata(),
        Metadata("pull", ("ci",)),
        Metadata("pull", ("ci", "web"), {"app.kubernetes.io/managed-by": "ecr"}, {"note": "x"}),
    ],
    ids=["bare", "one-namespace", "list-with-metadata"],
)
def test_kubernetes_secrets_pass_kubernetes_schema(options: Metadata) -> None:
    document = json.loads(render("kubernetes-secret", options))
    version = kubernetes_validate.latest_version()
    if document["kind"] == "List":  # kubectl's v1 List, which has no schema of its own
        assert sorted(document) == ["apiVersion", "items", "kind"]
        assert document["apiVersion"] == "v1"
        assert len(document["items"]) == len(options.namespaces)
    items = document["items"] if document["kind"] == "List" else [document]
    for item in items:
        kubernetes_validate.validate(item, version, strict=True)
        inner = json.loads(base64.b64decode(item["data"][".dockerconfigjson"]))
        assert inner == {"auths": AUTHS}
        assert item["metadata"].get("labels", {}) == options.labels


def test_the_schema_check_can_fail() -> None:
    document = json.loads(render("kubernetes-secret"))
    document["data"] = "not a map"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(document, kubernetes_validate.latest_version(), strict=True)


CURRENT = """\
# Managed by the platform team: keep this comment.
mirrors:
  docker.io:
    endpoint:
      - "https://mirror.example"
configs:
  "registry.example":
    auth:
      username: robot
      password: other-secret
  "123456789012.dkr.ecr.us-east-1.amazonaws.com":
    tls:
      insecure_skip_verify: false   # kept too
    auth:
      username: AWS
      password: stale
"""


def test_registries_yaml_sets_each_auth_and_keeps_everything_else() -> None:
    from ruamel.yaml import YAML

    merged = render("registries-yaml", current=CURRENT)
    assert merged.startswith("# Managed by the platform team: keep this comment.\n")
    assert "insecure_skip_verify: false   # kept too" in merged
    document = YAML(typ="safe").load(merged)
    assert document["mirrors"] == {"docker.io": {"endpoint": ["https://mirror.example"]}}
    assert document["configs"]["registry.example"]["auth"]["password"] == "other-secret"
    assert document["configs"][HOST] == {
        "tls": {"insecure_skip_verify": False},
        "auth": {"username": "AWS", "password": "pw-123"},
    }
    assert document["configs"][EU]["auth"] == {"username": "AWS", "password": "pw-210"}
    # Merging again changes nothing: the file is what it says.
    assert render("registries-yaml", current=merged) == merged


def test_registries_yaml_starts_a_missing_file() -> None:
    from ruamel.yaml import YAML

    document = YAML(typ="safe").load(render("registries-yaml"))
    assert sorted(document) == ["configs"]
    assert sorted(document["configs"]) == sorted([HOST, EU])


@pytest.mark.parametrize(
    ("current", "message"),
    [
        ("- a list\n", "the file is not a mapping"),
        ("configs: [1]\n", "configs is not a mapping"),
        (f'configs:\n  "{HOST}": yes\n', f"configs.{HOST} is not a mapping"),
        ("configs: {\n", "not YAML: "),
    ],
)
def test_a_registries_yaml_it_cannot_merge_into_is_refused(current: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        render("registries-yaml", current=current)


def test_containerd_hosts_are_one_toml_per_registry_with_its_authorization() -> None:
    made = FORMATS["containerd-hosts"].render(AUTHS, Metadata(), None)
    assert sorted(made) == sorted([f"{HOST}/hosts.toml", f"{EU}/hosts.toml"])
    hosts = tomllib.loads(made[f"{HOST}/hosts.toml"])
    url = f"https://{HOST}"
    assert hosts["server"] == url
    assert hosts["host"][url]["capabilities"] == ["pull", "resolve"]
    assert hosts["host"][url]["header"] == {"Authorization": [f"Basic {AUTHS[HOST]['auth']}"]}


def test_a_listing_names_each_file_and_a_document_is_itself() -> None:
    assert formats.listing({"": "doc\n"}) == "doc\n"
    assert formats.listing({"b/x": "2\n", "a/x": "1\n"}) == "# a/x\n1\n\n# b/x\n2\n\n"
