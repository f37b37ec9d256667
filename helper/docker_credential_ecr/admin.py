"""Operator commands: refresh, status, policy, configure, unconfigure, export.

They run on the same backend as the protocol verbs; none of them is on the
path Docker takes, so they may import freely.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import time

from docker_credential_ecr import dockerconfig, files, registry
from docker_credential_ecr.cache import KEY_SEPARATOR, host_of_key
from docker_credential_ecr.errors import NAME, HelperError, InputError, TokenError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any, NoReturn, TextIO

    from docker_credential_ecr.backend import EcrBackend
    from docker_credential_ecr.cache import TokenCache
    from docker_credential_ecr.config import Settings

COMMANDS = ("refresh", "status", "policy", "configure", "unconfigure", "export", "doctor")

TOKEN_ACTIONS = [
    "ecr:GetAuthorizationToken",
    "ecr-public:GetAuthorizationToken",
    "sts:GetServiceBearerToken",
]
PULL_ACTIONS = [
    "ecr:BatchCheckLayerAvailability",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchGetImage",
]


class Context:
    """What the commands work with, built by cli from the environment."""

    def __init__(
        self,
        settings: Settings,
        backend: EcrBackend,
        cache: TokenCache | None,
        environ: Mapping[str, str],
        out: TextIO,
        clock: Callable[[], float],
    ) -> None:
        self.settings = settings
        self.backend = backend
        self.cache = cache
        self.environ = environ
        self.out = out
        self.clock = clock


def run(command: str, argv: Sequence[str], ctx: Context) -> int:
    """Run one operator command; return the exit status."""
    parser = _parser(command)
    try:
        try:
            args = parser.parse_args(list(argv))
        except SystemExit as exc:  # --help has been printed
            return int(exc.code or 0)
        return int(args.handler(args, ctx))
    except HelperError as exc:
        ctx.out.write(f"{exc}\n")
        return 1
    except (OSError, ValueError) as exc:
        ctx.out.write(f"{NAME} {command}: {exc}\n")
        return 1


class _Parser(argparse.ArgumentParser):
    """An argument parser whose mistakes are one line and exit status 1, like every error here."""

    def error(self, message: str) -> NoReturn:
        raise InputError(f"{self.prog}: {message} (see --help)")


def _parser(command: str) -> argparse.ArgumentParser:
    parser = _Parser(prog=f"{NAME} {command}")
    if command == "refresh":
        parser.description = "Refresh ECR tokens that are due (or all with --all)."
        parser.add_argument("hosts", nargs="*", metavar="HOST")
        parser.add_argument("--all", action="store_true", help="refresh even tokens that are fresh")
        parser.add_argument(
            "--watch", action="store_true", help="stay running; refresh ahead of expiry"
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=300.0,
            metavar="SECONDS",
            help="with --watch: the longest sleep between checks (default 300)",
        )
        parser.set_defaults(handler=_refresh)
    elif command == "status":
        parser.description = "Show cached tokens (never the token itself) and stored logins."
        parser.add_argument("--json", action="store_true")
        parser.set_defaults(handler=_status)
    elif command == "doctor":
        parser.description = "Check the configuration, credentials, Docker config and AWS access."
        parser.add_argument("hosts", nargs="*", metavar="HOST")
        parser.set_defaults(handler=_doctor)
    elif command == "policy":
        parser.description = "Print the minimal IAM policy for the helper."
        parser.add_argument(
            "--pull", action="store_true", help="add the actions a host needs to pull"
        )
        parser.set_defaults(handler=_policy)
    elif command in ("configure", "unconfigure"):
        parser.description = (
            f"{'Add' if command == 'configure' else 'Remove'} our entries in Docker's config.json."
        )
        parser.add_argument("--registry", action="append", default=None, metavar="HOST")
        parser.add_argument(
            "--docker-config", help="the file (default: $DOCKER_CONFIG or ~/.docker)"
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="print the result, change nothing"
        )
        if command == "configure":
            parser.add_argument(
                "--creds-store", action="store_true", help='also set "credsStore": "ecr"'
            )
        parser.set_defaults(handler=_configure if command == "configure" else _unconfigure)
    else:
        parser.description = "Print a .dockerconfigjson document with fresh tokens."
        parser.add_argument("hosts", nargs="*", metavar="HOST")
        parser.add_argument("--format", default="dockerconfigjson", choices=["dockerconfigjson"])
        parser.add_argument("--output", help="write it to this file, atomically, mode 0600")
        parser.set_defaults(handler=_export)
    return parser


def _known_hosts(ctx: Context) -> list[str]:
    """Registries to act on by default: configured exact hosts, alias targets, cached hosts."""
    found = {h for h in ctx.settings.file.registries if registry.parse(h) is not None}
    found.update(ctx.settings.file.aliases.values())
    if ctx.cache is not None:
        for key, _ in ctx.cache.entries():
            host = host_of_key(key)
            if ctx.backend.key(host) == key:
                found.add(host)
    return sorted(found)


def _registries(ctx: Context, hosts: list[str]) -> list[registry.Registry]:
    chosen = []
    for host in hosts or _known_hosts(ctx):
        reg = ctx.backend.registry_for(host)
        if reg is None:
            raise InputError(f"{NAME}: {host} is not an ECR registry (nor an alias of one)")
        chosen.append(reg)
    return chosen


def _refresh(args: argparse.Namespace, ctx: Context) -> int:
    if args.watch:
        return _watch(args, ctx)
    regs = _registries(ctx, args.hosts)
    if not regs:
        ctx.out.write(f"{NAME} refresh: nothing to refresh (no cached or configured registries)\n")
        return 0
    failed = 0
    for reg in regs:
        config = ctx.settings.file.for_host(reg.host)
        cached = ctx.cache.read(ctx.backend.key(reg.host)) if ctx.cache is not None else None
        now = ctx.clock()
        if not args.all and cached is not None and cached.fresh(now, config.refresh_before):
            ctx.out.write(
                f"{reg.host}: fresh until {_when(cached.refresh_at(config.refresh_before))}\n"
            )
            continue
        try:
            # Not forced unless asked: a refresh that another process finished
            # while this one waited for the lock is taken as it is.
            token = ctx.backend.token_for(reg, force=args.all)
        except TokenError as exc:
            failed += 1
            ctx.out.write(f"{reg.host}: failed: {exc.reason}\n")
            continue
        ctx.out.write(f"{reg.host}: refreshed, expires {_when(token.expires_at)}\n")
    return 1 if failed else 0


def _watch(args: argparse.Namespace, ctx: Context) -> int:
    """Refresh each registry a little after it enters its refresh window, until SIGTERM.

    Each refresh is jittered over the first tenth of the window so that a fleet
    does not call AWS in step; a failing registry is retried with exponential
    backoff (capped at ``--interval``) while its token is still valid.
    """
    import random
    import signal
    import threading

    if args.interval <= 0:
        raise InputError(f"{NAME} refresh: --interval must be positive")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    rng = random.Random()  # noqa: S311 - jitter, not secrecy
    retry_at: dict[str, float] = {}
    failures: dict[str, int] = {}
    jitter: dict[str, float] = {}
    ctx.out.write(f"{NAME} refresh --watch: started\n")
    ctx.out.flush()
    while not stop.is_set():
        now = ctx.clock()
        wake = now + args.interval
        for reg in _registries(ctx, args.hosts):
            config = ctx.settings.file.for_host(reg.host)
            cached = ctx.cache.read(ctx.backend.key(reg.host)) if ctx.cache is not None else None
            if cached is not None:
                window = cached.expires_at - cached.refresh_at(config.refresh_before)
                due = cached.refresh_at(config.refresh_before) + jitter.setdefault(
                    f"{reg.host}@{cached.expires_at}", rng.uniform(0, 0.1 * window)
                )
            else:
                due = now
            due = max(due, retry_at.get(reg.host, 0.0))
            if due > now:
                wake = min(wake, due)
                continue
            try:
                token = ctx.backend.token_for(reg)
            except TokenError as exc:
                failures[reg.host] = failures.get(reg.host, 0) + 1
                delay = min(args.interval, 2.0 ** failures[reg.host]) * rng.uniform(0.5, 1.0)
                retry_at[reg.host] = now + delay
                wake = min(wake, retry_at[reg.host])
                ctx.out.write(f"{reg.host}: failed: {exc.reason}; retrying in {delay:.0f}s\n")
            else:
                failures.pop(reg.host, None)
                retry_at.pop(reg.host, None)
                ctx.out.write(f"{reg.host}: refreshed, expires {_when(token.expires_at)}\n")
            ctx.out.flush()
        stop.wait(max(0.5, wake - ctx.clock()))
    ctx.out.write(f"{NAME} refresh --watch: stopped\n")
    return 0


def _when(moment: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))


def _status(args: argparse.Namespace, ctx: Context) -> int:
    now = ctx.clock()
    rows: list[dict[str, Any]] = []
    if ctx.cache is not None:
        for key, token in ctx.cache.entries():
            host, _, tag = key.partition(KEY_SEPARATOR)
            refresh_at = token.refresh_at(ctx.settings.file.for_host(host).refresh_before)
            state = (
                "expired" if token.expired(now) else "fresh" if now < refresh_at else "refresh due"
            )
            rows.append(
                {
                    "registry": host,
                    "identity": tag,
                    "current_identity": ctx.backend.key(host) == key,
                    "user": token.user,
                    "age_s": round(now - token.requested_at),
                    "expires": _when(token.expires_at),
                    "refresh_at": _when(refresh_at),
                    "state": state,
                }
            )
    logins = [{"server": s, "user": u} for s, u in ctx.backend.list_logins()]
    if args.json:
        ctx.out.write(json.dumps({"tokens": rows, "logins": logins}, indent=2) + "\n")
        return 0
    ctx.out.write(f"cache: {ctx.settings.cache_dir}{'' if ctx.cache else ' (disabled)'}\n")
    ctx.out.write(f"config: {', '.join(ctx.settings.file.files) or 'none'}\n")
    header = ("REGISTRY", "IDENTITY", "AGE", "EXPIRES", "REFRESH AT", "STATE")
    table = [header] + [
        (
            r["registry"],
            r["identity"] + ("" if r["current_identity"] else " (other)"),
            _duration(r["age_s"]),
            r["expires"],
            r["refresh_at"],
            r["state"],
        )
        for r in rows
    ]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    for row in table:
        ctx.out.write(
            "  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() + "\n"
        )
    for login in logins:
        ctx.out.write(f"login: {login['server']} as {login['user']}\n")
    return 0


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _doctor(args: argparse.Namespace, ctx: Context) -> int:
    from docker_credential_ecr import doctor

    return doctor.run(ctx, [registry.host_of(h) for h in args.hosts], _known_hosts(ctx))


def _policy(args: argparse.Namespace, ctx: Context) -> int:
    statements: list[dict[str, object]] = [
        {"Sid": "GetRegistryTokens", "Effect": "Allow", "Action": TOKEN_ACTIONS, "Resource": "*"}
    ]
    if args.pull:
        statements.append(
            {
                "Sid": "PullImages",
                "Effect": "Allow",
                "Action": PULL_ACTIONS,
                "Resource": "arn:aws:ecr:*:*:repository/*",
            }
        )
    ctx.out.write(json.dumps({"Version": "2012-10-17", "Statement": statements}, indent=2) + "\n")
    return 0


def _docker_config_path(args: argparse.Namespace, ctx: Context) -> str:
    return str(args.docker_config or dockerconfig.path_for(ctx.environ))


def _configure(args: argparse.Namespace, ctx: Context) -> int:
    hosts = [registry.host_of(h) for h in (args.registry or [])]
    if not hosts and not args.creds_store:
        hosts = _known_hosts(ctx)
        if not hosts:
            raise InputError(
                f"{NAME} configure: name registries with --registry HOST, or use --creds-store"
            )
    path = _docker_config_path(args, ctx)
    result = dockerconfig.configure(dockerconfig.load(path), hosts, args.creds_store)
    return _write_docker_config(path, result, args.dry_run, ctx)


def _unconfigure(args: argparse.Namespace, ctx: Context) -> int:
    hosts = None if not args.registry else [registry.host_of(h) for h in args.registry]
    path = _docker_config_path(args, ctx)
    result = dockerconfig.unconfigure(dockerconfig.load(path), hosts)
    return _write_docker_config(path, result, args.dry_run, ctx)


def _write_docker_config(
    path: str, document: dict[str, object], dry_run: bool, ctx: Context
) -> int:
    if dry_run:
        ctx.out.write(dockerconfig.render(document))
    else:
        dockerconfig.save(path, document)
        ctx.out.write(f"{path}: updated\n")
    return 0


def _export(args: argparse.Namespace, ctx: Context) -> int:
    auths = {}
    for reg in _registries(ctx, args.hosts):
        token = ctx.backend.token_for(reg)
        auth = base64.b64encode(f"{token.user}:{token.secret}".encode()).decode()
        auths[reg.host] = {"username": token.user, "password": token.secret, "auth": auth}
    if not auths:
        raise InputError(f"{NAME} export: name registries, or configure or cache some first")
    document = json.dumps({"auths": auths}, indent=2) + "\n"
    if args.output:
        files.replace_file(os.path.abspath(args.output), document.encode())
        ctx.out.write(f"{args.output}: written ({len(auths)} registries)\n")
    else:
        ctx.out.write(document)
    return 0
