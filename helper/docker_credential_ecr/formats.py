"""The documents that carry registry credentials to what cannot call a helper: one table
of renderers, shared by ``export`` and the deliveries of ``refresh``.

A renderer takes the credentials (``{host: {username, password, auth}}``) and the
options of its format; a new format is one function and one entry in :data:`FORMATS`.
"""

from __future__ import annotations

import base64
import json

TYPE_CHECKING = False  # the idiom: see seams.py
if TYPE_CHECKING:
    from collections.abc import Callable

    from docker_credential_ecr.token import AuthToken

Auths = dict[str, dict[str, str]]


class Options:
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


def dockerconfigjson(auths: Auths, options: Options) -> str:
    """The ``.dockerconfigjson`` document: ``{"auths": {host: {username, password, auth}}}``."""
    return json.dumps({"auths": auths}, indent=2) + "\n"


def kubernetes_secret(auths: Auths, options: Options) -> str:
    """``kubernetes.io/dockerconfigjson`` Secrets for ``kubectl apply -f``: one, or a ``List``
    of one per namespace."""
    encoded = base64.b64encode(dockerconfigjson(auths, options).encode()).decode()
    secrets = [_secret(options, namespace, encoded) for namespace in options.namespaces or (None,)]
    if len(secrets) == 1:
        return json.dumps(secrets[0], indent=2) + "\n"
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": secrets}, indent=2) + "\n"


def _secret(options: Options, namespace: str | None, encoded: str) -> dict[str, object]:
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


FORMATS: dict[str, Callable[[Auths, Options], str]] = {
    "dockerconfigjson": dockerconfigjson,
    "kubernetes-secret": kubernetes_secret,
}
