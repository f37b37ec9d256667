"""``doctor``: check everything a pull from ECR depends on, and say how to fix what is wrong.

It never prints a secret: credentials appear as their source and a masked key id.
"""

from __future__ import annotations

import os
import socket
import stat
import time
import urllib.parse

import botocore.exceptions

from docker_credential_ecr import dockerconfig, ecr
from docker_credential_ecr.commands import deliverycheck
from docker_credential_ecr.commands.context import known_hosts
from docker_credential_ecr.errors import one_line
from docker_credential_ecr.registry import Registry, host_of
from docker_credential_ecr.token import CLOCK_SKEW, describe_offset

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping

    import boto3.session
    import botocore.config
    from mypy_boto3_ecr import ECRClient
    from mypy_boto3_ecr_public import ECRPublicClient

    from docker_credential_ecr.commands.context import Context
    from docker_credential_ecr.fileconfig import RegistryConfig
    from docker_credential_ecr.resolver import Target

_AWS_ERRORS = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)


class Report:
    """Lines of ``ok`` and ``problem``; the exit status is 1 if there was any problem."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.problems = 0

    def ok(self, what: str) -> None:
        self.ctx.out.write(f"ok       {what}\n")

    def problem(self, what: str, fix: str) -> None:
        self.problems += 1
        self.ctx.out.write(f"PROBLEM  {what}\n         fix: {fix}\n")


def arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """Declare doctor's options."""
    from docker_credential_ecr.commands import kubeletcheck, kubeletsetup

    parser.add_argument("hosts", nargs="*", metavar="HOST")
    parser.add_argument(
        "--kubelet",
        action="store_true",
        help="look through the kubelet's eyes: its provider config, program and environment",
    )
    kubeletsetup.dir_argument(parser)
    parser.add_argument(
        "--kubelet-config",
        metavar="FILE",
        help="the kubelet's --image-credential-provider-config (default: under --kubelet-dir)",
    )
    parser.add_argument(
        "--kubelet-bin-dir",
        metavar="DIR",
        help="the kubelet's --image-credential-provider-bin-dir (default: under --kubelet-dir)",
    )
    parser.add_argument(
        "--kubelet-env-file",
        action="append",
        default=None,
        metavar="FILE",
        help="the kubelet's service environment (default: RKE2's and K3s's that exist)",
    )
    parser.set_defaults(default_env_files=kubeletcheck.ENVIRONMENT_FILES)


def main(args: argparse.Namespace, ctx: Context) -> int:
    """Check the configuration, cache, Docker's config and each registry; return the exit status."""
    report = Report(ctx)
    files = ctx.file.files
    report.ok(f"configuration: {', '.join(files) if files else 'no file (environment only)'}")
    if args.kubelet:
        return _kubelet(args, ctx, report)
    _check_trusted(report, ctx)
    hosts = [host_of(h) for h in args.hosts] or known_hosts(ctx)
    if not hosts:
        report.problem(
            "no registries to check: none named, configured or cached",
            "name one: docker-credential-ecr doctor <account>.dkr.ecr.<region>.amazonaws.com",
        )
    docker = _docker_config(report, ctx)
    for host in hosts:
        target = ctx.tokens.target(host)
        if target is None:
            report.problem(
                f"{host}: not an ECR registry host (nor a configured alias)",
                "check the spelling: <12-digit account>.dkr.ecr.<region>.amazonaws.com",
            )
            continue
        _check_docker_entry(report, docker, host, target.host)
        _check_registry(report, ctx, target)
    deliverycheck.check(report, ctx)
    ctx.out.write("all is well\n" if not report.problems else f"{report.problems} problem(s)\n")
    return 1 if report.problems else 0


def _kubelet(args: argparse.Namespace, ctx: Context, report: Report) -> int:
    from docker_credential_ecr.commands import kubeletcheck, kubeletsetup

    _program, config = kubeletsetup.paths(args.kubelet_dir)
    config = args.kubelet_config or config
    bin_dir = args.kubelet_bin_dir or os.path.join(args.kubelet_dir, "bin")
    env_files = args.kubelet_env_file or args.default_env_files
    kubeletcheck.check(report, ctx, config, bin_dir, env_files)
    ctx.out.write("all is well\n" if not report.problems else f"{report.problems} problem(s)\n")
    return 1 if report.problems else 0


def _check_trusted(report: Report, ctx: Context) -> None:
    for refused in ctx.cache.refused:
        report.problem(
            f"cache directory {refused}, which others could change",
            "set AWS_ECR_CACHE_DIR to a directory that only you and root can write "
            "(see docs/security.md)",
        )
    if ctx.cache.trusted:
        _check_cache(report, ctx.cache.directory)


def _check_cache(report: Report, directory: str) -> None:
    try:
        info = os.lstat(directory)
    except FileNotFoundError:
        report.ok(f"cache directory {directory}: not there yet, made (0700) on first use")
        return
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        report.problem(
            f"cache directory {directory} is not a directory (or is a symlink)",
            f"remove it, or set AWS_ECR_CACHE_DIR elsewhere: rm -rf {directory}",
        )
    elif info.st_uid != os.geteuid():
        report.problem(
            f"cache directory {directory} is owned by uid {info.st_uid}, not {os.geteuid()}",
            f"chown -R {os.geteuid()} {directory}",
        )
    elif stat.S_IMODE(info.st_mode) != 0o700:
        report.problem(
            f"cache directory {directory} has mode {stat.filemode(info.st_mode)}",
            f"chmod 700 {directory}",
        )
    else:
        report.ok(f"cache directory {directory}: yours, 0700")


def _docker_config(report: Report, ctx: Context) -> dict[str, object]:
    path = dockerconfig.path_for(ctx.environ)
    try:
        document = dockerconfig.load(path)
    except (OSError, ValueError) as exc:
        report.problem(f"Docker config {path}: {exc}", f"fix or remove {path}")
        return {}
    made = "" if os.path.lexists(path) else " (not there yet: configure makes it)"
    report.ok(f"Docker config: {path}{made}")
    return document


def _check_docker_entry(
    report: Report, document: dict[str, object], host: str, target: str
) -> None:
    helpers = document.get("credHelpers")
    helpers = helpers if isinstance(helpers, dict) else {}
    if helpers.get(host) == dockerconfig.HELPER or helpers.get(target) == dockerconfig.HELPER:
        report.ok(f"{host}: Docker uses the helper (credHelpers)")
    elif document.get("credsStore") == dockerconfig.HELPER and host not in helpers:
        report.ok(f"{host}: Docker uses the helper (credsStore)")
    else:
        report.problem(
            f"{host}: Docker does not use docker-credential-ecr for it",
            f"docker-credential-ecr configure --registry {host}",
        )


def _describe(config: RegistryConfig) -> str:
    if config.aws_access_key_id:
        base = f"static keys from {config.source}"
    elif config.profile:
        base = f"profile {config.profile!r}"
    else:
        base = "the default credential chain"
    return base + (f", then role {config.role_arn}" if config.role_arn else "")


def _check_registry(report: Report, ctx: Context, target: Target) -> None:
    """Credentials, caller identity, reachability, GetAuthorizationToken: stop at the first
    that fails, since each needs the one before."""
    registry, config = target.registry, target.config
    bconfig = ecr.botocore_config(ctx.aws, attempts=1)
    session = _check_credentials(report, registry, config, bconfig, ctx.environ)
    if session is None or not _check_caller(report, registry, session, config, bconfig, ctx):
        return
    client = ecr.client_for(session, registry, bconfig, config.region)
    _check_reachable(report, registry.host, client.meta.endpoint_url, ctx)
    _check_token(report, registry, client)


def _check_credentials(
    report: Report,
    registry: Registry,
    config: RegistryConfig,
    bconfig: botocore.config.Config,
    environ: Mapping[str, str],
) -> boto3.session.Session | None:
    try:
        session = ecr.session_for(registry, config, bconfig)
        credentials = session.get_credentials()
    except _AWS_ERRORS as exc:
        why = one_line(str(exc))
        report.problem(
            f"{registry.host}: cannot get AWS credentials ({_describe(config)}): {why}",
            "check the profile, role trust policy or keys in the configuration",
        )
        return None
    if credentials is None:
        from docker_credential_ecr.commands import imdscheck

        # The last place the SDK looked is the instance role: say why it had none.
        why, fix = imdscheck.explain(environ)
        report.problem(f"{registry.host}: {ecr.NO_CREDENTIALS}; {why}", fix)
        return None
    key = credentials.access_key
    report.ok(
        f"{registry.host}: credentials from {credentials.method} ({_describe(config)}), "
        f"key {key[:4]}...{key[-4:]}"
    )
    return session


def _check_caller(
    report: Report,
    registry: Registry,
    session: boto3.session.Session,
    config: RegistryConfig,
    bconfig: botocore.config.Config,
    ctx: Context,
) -> bool:
    try:
        sts = ecr.sts_client(session, registry, config, bconfig)
        caller = sts.get_caller_identity()["Arn"]
        where, proxy, _ = _route(sts.meta.endpoint_url, ctx.environ, _STS_VARIABLES)
        way = f"through the proxy {proxy}" if proxy else "directly"
        report.ok(f"{registry.host}: caller {caller} (STS {where}, {way})")
    except _AWS_ERRORS as exc:
        offset = ecr.refused_offset(getattr(exc, "response", {}), time.time())
        if offset is not None:
            _clock_problem(report, registry.host, offset)  # the signature's time, not the key
            return False
        report.problem(
            f"{registry.host}: STS GetCallerIdentity failed: {one_line(str(exc))}",
            "the credentials may be expired or revoked; renew them",
        )
        return False
    return True


def _check_token(report: Report, registry: Registry, client: ECRClient | ECRPublicClient) -> None:
    started, sent = time.monotonic(), time.time()
    try:
        served = ecr.ask(client, registry)[3]
    except botocore.exceptions.ClientError as exc:
        offset = ecr.refused_offset(exc.response, time.time())
        if offset is not None:
            _clock_problem(report, registry.host, offset)
            return
        report.problem(
            f"{registry.host}: GetAuthorizationToken: {ecr.aws_error(exc)}",
            "allow it for this identity: docker-credential-ecr policy (and, across accounts, "
            "the repository policy)",
        )
        return
    except botocore.exceptions.BotoCoreError as exc:
        report.problem(
            f"{registry.host}: GetAuthorizationToken: {one_line(str(exc))}",
            "check the network path to AWS",
        )
        return
    # The token itself is never shown.
    took = (time.monotonic() - started) * 1000
    report.ok(f"{registry.host}: GetAuthorizationToken works ({took:.0f} ms)")
    _check_clock(report, registry.host, served, (sent + time.time()) / 2)


def _check_clock(report: Report, host: str, served: float | None, local: float) -> None:
    """This host's clock against AWS's, by the Date of its answer."""
    if served is None:
        return
    offset = served - local
    if abs(offset) <= CLOCK_SKEW:
        report.ok(f"{host}: clock within {max(1, round(abs(offset)))}s of AWS's")
    else:
        _clock_problem(report, host, offset)


def _clock_problem(report: Report, host: str, offset: float) -> None:
    report.problem(
        f"{host}: clock: {describe_offset(offset)}, by the Date of its answer; "
        "AWS refuses requests signed more than 5 minutes off",
        "set the clock and keep it set: timedatectl set-ntp true (or chrony, or ntpd)",
    )


def _check_reachable(report: Report, host: str, url: str, ctx: Context) -> None:
    """The endpoint in effect and the way to it (direct, or the proxy the environment
    names), and that a connection gets there."""
    where, proxy, target = _route(url, ctx.environ, _ENDPOINT_VARIABLES)
    started = time.monotonic()
    try:
        with socket.create_connection(target, timeout=ctx.aws.connect_timeout):
            pass
    except OSError as exc:
        via = f" (the proxy for {where})" if proxy else ""
        report.problem(
            f"{host}: cannot reach {target[0]}:{target[1]}{via}: {exc}",
            "open the path to the ECR API endpoint (proxy, firewall, VPC endpoint, DNS)",
        )
        return
    way = f"through the proxy {proxy}" if proxy else "directly"
    elapsed = (time.monotonic() - started) * 1000
    report.ok(f"{host}: ECR API {where}, {way}: reachable in {elapsed:.0f} ms")


def _route(
    url: str, environ: Mapping[str, str], variables: tuple[str, ...]
) -> tuple[str, str | None, tuple[str, int]]:
    """The endpoint as the report names it (with the one of ``variables`` that chose it),
    the proxy to it (if any), and what to connect to."""
    parts = urllib.parse.urlsplit(url)
    named = next((v for v in variables if environ.get(v)), None)
    where = f"{url} ({named})" if named else url
    proxy = proxy_for(parts.scheme, parts.hostname or "", environ)
    through = urllib.parse.urlsplit(proxy) if proxy else parts
    default = 80 if proxy or parts.scheme != "https" else 443
    return where, proxy, (through.hostname or "", through.port or default)


_ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_ECR", "AWS_ENDPOINT_URL_ECR_PUBLIC", "AWS_ENDPOINT_URL")
_STS_VARIABLES = ("AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL")


def _bypassed(host: str, no_proxy: str) -> bool:
    """Whether ``no_proxy`` (``*``, hosts and domain suffixes, with or without a dot)
    names ``host``."""
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        name = entry.rsplit(":", 1)[0].lstrip(".")
        if entry == "*" or (name and (host == name or host.endswith("." + name))):
            return True
    return False


def proxy_for(scheme: str, host: str, environ: Mapping[str, str]) -> str | None:
    """The proxy the environment names for ``scheme`` to ``host`` (as botocore reads it:
    ``https_proxy``/``HTTPS_PROXY``, ``no_proxy``/``NO_PROXY``), or None.

    >>> proxy_for("https", "api.ecr.us-east-1.amazonaws.com", {"HTTPS_PROXY": "http://p:3128"})
    'http://p:3128'
    >>> proxy_for("https", "api.ecr.us-east-1.amazonaws.com",
    ...           {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": ".amazonaws.com"})
    """

    def named(name: str) -> str:
        return environ.get(name.lower()) or environ.get(name.upper()) or ""

    proxy = named(f"{scheme}_proxy")
    if not proxy or _bypassed(host, named("no_proxy")):
        return None
    return proxy
