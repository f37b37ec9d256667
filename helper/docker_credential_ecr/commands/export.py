"""``export``: fresh tokens as a pull secret, for what pulls without a credential helper.

Kubernetes pull secrets, Swarm, Rancher registry credentials, once; ``refresh``'s
deliveries keep them fresh.  The formats are ``formats.FORMATS``, which both share.
"""

from __future__ import annotations

import os

from docker_credential_ecr import deliveries, formats, trust
from docker_credential_ecr.commands.context import targets
from docker_credential_ecr.errors import NAME, InputError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from docker_credential_ecr.commands.context import Context


def arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """Declare export's options."""
    parser.add_argument("hosts", nargs="*", metavar="HOST")
    parser.add_argument("--format", default="dockerconfigjson", choices=sorted(formats.FORMATS))
    parser.add_argument(
        "--output",
        help="write it to this file, atomically, mode 0600 (registries-yaml: merged into it;"
        " containerd-hosts: a directory, one HOST/hosts.toml each)",
    )
    parser.add_argument("--name", default="ecr-pull", help="kubernetes-secret: its name")
    parser.add_argument(
        "--namespace",
        action="append",
        default=[],
        help="kubernetes-secret: its namespace (again for more: a List of one per namespace)",
    )


def main(args: argparse.Namespace, ctx: Context) -> int:
    """Fetch (or reuse) a token per registry and write the document (or the files)."""
    auths = {t.host: formats.auth_of(ctx.tokens.token(t)) for t in targets(ctx, args.hosts)}
    if not auths:
        raise InputError(f"{NAME} export: name registries, or configure or cache some first")
    output = os.path.abspath(args.output) if args.output else None
    # A one-off delivery: the same rendering, merging and writing as refresh's.
    per_registry = formats.FORMATS[args.format].per_registry
    delivery = deliveries.Delivery(
        "export",
        args.format,
        file=None if per_registry else output,
        directory=output if per_registry else None,
        options=formats.Metadata(args.name, tuple(args.namespace)),
    )
    try:
        made = delivery.render(auths)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{NAME} export: {args.output}: {exc}") from None
    if output is None:
        ctx.out.write(formats.listing(made))
        return 0
    _write(output, made, per_registry, args.output)
    count = f"{len(auths)} {'registry' if len(auths) == 1 else 'registries'}"
    ctx.out.write(f"{args.output}: written ({count})\n")
    return 0


def _write(output: str, made: dict[str, str], per_registry: bool, named: str) -> None:
    """Write the rendered file (or one per registry under ``output``), trusted paths only."""
    try:
        if per_registry:
            deliveries.write_under(output, made)
        else:
            deliveries.write(output, made[""].encode())
    except trust.UntrustedPath as exc:
        raise InputError(
            f"{NAME} export: not writing {named}: {exc}; "
            "write it in a directory only you and root can write"
        ) from None
