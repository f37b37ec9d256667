"""The documents that carry registry credentials to what cannot call a helper: one table
of renderers, shared by ``export`` and the deliveries of ``refresh``.

A renderer takes the credentials (``{host: {username, password, auth}}``), the options
of its format and, for a format merged into a file that exists (``registries.yaml``),
that file's text; it returns the files it makes.  A new format is one function and one
row of :data:`FORMATS`.
"""

from __future__ import annotations

import base64
import json

from docker_credential_ecr.errors import NAME, one_line

TYPE_CHECKING = False  # the idiom: see seams.py
if TYPE_CHECKING:
    from collections.abc import Callable

    from docker_credential_ecr.token import AuthToken

Auths = dict[str, dict[str, str]]
# What a format renders: file name (relative; "" for the one document) -> its text.
Files = dict[str, str]


class Metadata:
    """What a format may be told besides the credentials (Kubernetes' metadata, so far)."""

    __slots__ = ("annotations", "labels", "name", "namespaces")

    def __init__(
        self,
        name: str = "ecr-pull",
        namespaces: tuple[str, ...] = (),
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.namespaces = namespaces
        self.labels = labels or {}
        self.annotations = annotations or {}


def auth_of(token: AuthToken) -> dict[str, str]:
    """A token as a Docker config's auth entry: username, password and their base64."""
    auth = base64.b64encode(f"{token.user}:{token.secret}".encode()).decode()
    return {"username": token.user, "password": token.secret, "auth": auth}


def dockerconfigjson(auths: Auths, options: Metadata) -> str:
    """The ``.dockerconfigjson`` document: ``{"auths": {host: {username, password, auth}}}``."""
    return json.dumps({"auths": auths}, indent=2) + "\n"


def kubernetes_secret(auths: Auths, options: Metadata) -> str:
    """``kubernetes.io/dockerconfigjson`` Secrets for ``kubectl apply -f``: one, or a ``List``
    of one per namespace."""
    encoded = base64.b64encode(dockerconfigjson(auths, options).encode()).decode()
    secrets = [_secret(options, namespace, encoded) for namespace in options.namespaces or (None,)]
    if len(secrets) == 1:
        return json.dumps(secrets[0], indent=2) + "\n"
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": secrets}, indent=2) + "\n"


def _secret(options: Metadata, namespace: str | None, encoded: str) -> dict[str, object]:
    metadata: dict[str, object] = {"name": options.name}
    if namespace:
        metadata["namespace"] = namespace
    if options.labels:
        metadata["labels"] = dict(sorted(options.labels.items()))
    if options.annotations:
        metadata["annotations"] = dict(sorted(options.annotations.items()))
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": encoded},
    }


def containerd_hosts(auths: Auths, options: Metadata, current: str | None) -> Files:
    """A ``hosts.toml`` per registry for containerd's ``config_path`` (``certs.d``): the
    registry as its own host, with an ``Authorization`` header, for ``ctr``, ``crictl``
    and every pull containerd makes without the kubelet."""
    found = {}
    for host, auth in auths.items():
        url = toml_string(f"https://{host}")
        header = toml_string(f"Basic {auth['auth']}")
        found[f"{host}/hosts.toml"] = (
            f"# Written by {NAME}; a delivery of refresh replaces it when its token changes.\n"
            f"server = {url}\n\n[host.{url}]\n"
            f'capabilities = ["pull", "resolve"]\n\n[host.{url}.header]\n'
            f"Authorization = [{header}]\n"
        )
    return found


def toml_string(text: str) -> str:
    r"""``text`` as a TOML basic string (JSON's escapes are TOML's for what hosts hold).

    >>> print(toml_string('say "hi"'))
    "say \"hi\""
    """
    return json.dumps(text)


def registries_yaml(auths: Auths, options: Metadata, current: str | None) -> Files:
    """RKE2's and K3s' ``registries.yaml`` with ``configs.<host>.auth`` set for each
    registry, merged into the file as it is: every other key and comment kept."""
    import io

    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    yaml = YAML()  # round-trip: comments, order and style survive
    yaml.preserve_quotes = True
    yaml.width = 1 << 16  # a token on one line, as an operator greps for it
    try:
        document = _mapping(yaml.load(current or "") or {}, "the file")
    except YAMLError as exc:
        raise ValueError(f"not YAML: {one_line(str(exc))}") from None
    configs = _mapping(document.setdefault("configs", {}), "configs")
    for host, auth in auths.items():
        entry = _mapping(configs.setdefault(host, {}), f"configs.{host}")
        entry["auth"] = {"username": auth["username"], "password": auth["password"]}
    out = io.StringIO()
    yaml.dump(document, out)
    return {"": out.getvalue()}


def _mapping(value: object, what: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise ValueError(f"{what} is not a mapping")  # noqa: TRY004 - the file's content
    return value


class Format:
    """A row of the table: its renderer, and where what it renders goes."""

    __slots__ = ("merges", "per_registry", "render")

    def __init__(
        self,
        render: Callable[[Auths, Metadata, str | None], Files],
        *,
        per_registry: bool = False,
        merges: bool = False,
    ) -> None:
        self.render = render
        self.per_registry = per_registry  # one file per registry under a directory
        self.merges = merges  # it is rendered into the file as it is


def _document(render: Callable[[Auths, Metadata], str]) -> Format:
    return Format(lambda auths, options, current: {"": render(auths, options)})


FORMATS: dict[str, Format] = {
    "dockerconfigjson": _document(dockerconfigjson),
    "kubernetes-secret": _document(kubernetes_secret),
    "registries-yaml": Format(registries_yaml, merges=True),
    "containerd-hosts": Format(containerd_hosts, per_registry=True),
}


def listing(files: Files) -> str:
    """What a format rendered, as one text: the document, or each file under its name."""
    if list(files) == [""]:
        return files[""]
    return "".join(f"# {name}\n{text}\n" for name, text in sorted(files.items()))
