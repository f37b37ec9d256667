"""``configure`` and ``unconfigure``: our entries in Docker's config.json, added or removed.

With ``--kubelet``, the kubelet's credential provider instead (``kubeletsetup``).
"""

from __future__ import annotations

import os

from docker_credential_ecr import dockerconfig, registry, trust
from docker_credential_ecr.commands import kubeletsetup
from docker_credential_ecr.commands.context import known_hosts
from docker_credential_ecr.errors import NAME, InputError

# A config.json in another user's tree can be swapped under root as it is edited.
FIX = (
    "run it as the user who owns that file, or with --docker-config in a directory "
    "only you and root can write"
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from docker_credential_ecr.commands.context import Context


def arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """Declare the options of configure (or unconfigure)."""
    parser.add_argument("--registry", action="append", default=None, metavar="HOST")
    parser.add_argument(
        "--docker-config",
        help="the file (default: config.json in $DOCKER_CONFIG, else in ~/.docker)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the result, change nothing")
    parser.add_argument(
        "--kubelet",
        action="store_true",
        help="the kubelet's credential provider instead of Docker (docs/kubernetes.md)",
    )
    kubeletsetup.dir_argument(parser)
    parser.add_argument("--executable", help="the helper to link (default: this one)")
    parser.add_argument(
        "--containers",
        action="store_true",
        help="podman's, buildah's and skopeo's auth.json instead of Docker's config.json",
    )
    if name == "configure":
        parser.add_argument(
            "--creds-store",
            action="store_true",
            help='set "credsStore": "ecr", the store for every registry'
            " (credHelpers then only for each --registry)",
        )
    parser.set_defaults(apply=configure if name == "configure" else unconfigure, command=name)


def main(args: argparse.Namespace, ctx: Context) -> int:
    """Change config.json (or print the change with ``--dry-run``)."""
    if args.kubelet:
        return (kubeletsetup.setup if args.apply is configure else kubeletsetup.teardown)(args, ctx)
    if args.containers:
        paths = dockerconfig.container_paths(ctx.environ, os.geteuid())
    else:
        paths = [str(args.docker_config or dockerconfig.path_for(ctx.environ))]
    for path in paths:
        _change(args, ctx, path)
    return 0


def _change(args: argparse.Namespace, ctx: Context, path: str) -> None:
    """Change one file of that shape (or print the change with ``--dry-run``)."""
    try:
        if args.dry_run:
            document = dockerconfig.load(os.path.abspath(path))
            prefix = f"# {path}\n" if args.containers else ""
            ctx.out.write(prefix + dockerconfig.render(args.apply(args, ctx, document)))
            return
        dockerconfig.edit(os.path.abspath(path), lambda document: args.apply(args, ctx, document))
    except trust.UntrustedPath as exc:
        raise InputError(f"{NAME} {args.command}: not changing {path}: {exc}; {FIX}") from None
    ctx.out.write(f"{path}: updated\n")


def configure(
    args: argparse.Namespace, ctx: Context, document: dict[str, object]
) -> dict[str, object]:
    """Add credHelpers entries for the named (or known) registries, and credsStore if asked.

    The known ones include each alias's own name: Docker looks a helper up by the host
    an image reference names, so a pull through an alias needs its entry too.
    """
    hosts = [registry.host_of(h) for h in (args.registry or [])]
    if not hosts and not args.creds_store:
        hosts = sorted({*known_hosts(ctx), *ctx.file.aliases})
        if not hosts:
            raise InputError(
                f"{NAME} configure: name registries with --registry HOST, or use --creds-store"
            )
    return dockerconfig.configure(document, hosts, args.creds_store)


def unconfigure(
    args: argparse.Namespace, ctx: Context, document: dict[str, object]
) -> dict[str, object]:
    """Remove our entries (only the named registries' with --registry)."""
    hosts = None if not args.registry else [registry.host_of(h) for h in args.registry]
    return dockerconfig.unconfigure(document, hosts)
