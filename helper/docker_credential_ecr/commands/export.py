"""``export``: fresh tokens as a pull secret, for what pulls without a credential helper.

Kubernetes pull secrets, Swarm, Rancher registry credentials.  Each output format is
one function in :data:`FORMATS`; a new one is one function and one entry.
"""

from __future__ import annotations

import base64
import json
import os

from docker_credential_ecr import files, trust
from docker_credential_ecr.commands.context import targets
from docker_credential_ecr.errors import NAME, InputError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from docker_credential_ecr.commands.context import Context

Auths = dict[str, dict[str, str]]


def dockerconfigjson(auths: Auths, args: argparse.Namespace) -> str:
    """The ``.dockerconfigjson`` document: ``{"auths": {host: {username, password, auth}}}``."""
    return json.dumps({"auths": auths}, indent=2) + "\n"


def kubernetes_secret(auths: Auths, args: argparse.Namespace) -> str:
    """A ``kubernetes.io/dockerconfigjson`` Secret manifest, for ``kubectl apply -f``."""
    metadata = {"name": args.name}
    if args.namespace:
        metadata["namespace"] = args.namespace
    encoded = base64.b64encode(dockerconfigjson(auths, args).encode()).decode()
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": encoded},
    }
    return json.dumps(secret, indent=2) + "\n"


FORMATS: dict[str, Callable[[Auths, argparse.Namespace], str]] = {
    "dockerconfigjson": dockerconfigjson,
    "kubernetes-secret": kubernetes_secret,
}


def arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """Declare export's options."""
    parser.add_argument("hosts", nargs="*", metavar="HOST")
    parser.add_argument("--format", default="dockerconfigjson", choices=sorted(FORMATS))
    parser.add_argument("--output", help="write it to this file, atomically, mode 0600")
    parser.add_argument("--name", default="ecr-pull", help="kubernetes-secret: its name")
    parser.add_argument("--namespace", help="kubernetes-secret: its namespace")


def main(args: argparse.Namespace, ctx: Context) -> int:
    """Fetch (or reuse) a token per registry and write the document."""
    auths = {}
    for target in targets(ctx, args.hosts):
        token = ctx.tokens.token(target)
        auth = base64.b64encode(f"{token.user}:{token.secret}".encode()).decode()
        auths[target.host] = {"username": token.user, "password": token.secret, "auth": auth}
    if not auths:
        raise InputError(f"{NAME} export: name registries, or configure or cache some first")
    document = FORMATS[args.format](auths, args)
    if args.output:
        try:
            files.replace_file(os.path.abspath(args.output), document.encode())
        except trust.UntrustedPath as exc:
            raise InputError(
                f"{NAME} export: not writing {args.output}: {exc}; "
                "write it in a directory only you and root can write"
            ) from None
        ctx.out.write(f"{args.output}: written ({len(auths)} registries)\n")
    else:
        ctx.out.write(document)
    return 0
