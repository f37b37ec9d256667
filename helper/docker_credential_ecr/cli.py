"""Composition root: argv, environment and streams in; settings, cache and fetcher built here."""

from __future__ import annotations

import os
import sys
import time

from docker_credential_ecr import __version__, kubelet, log, protocol
from docker_credential_ecr.errors import NAME, DeadlineExceeded, HelperError, one_line

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import BinaryIO, NoReturn, TextIO

    from docker_credential_ecr.backend import EcrBackend
    from docker_credential_ecr.cache import Cache
    from docker_credential_ecr.config import Settings
    from docker_credential_ecr.fileconfig import RegistryConfig
    from docker_credential_ecr.registry import Registry
    from docker_credential_ecr.token import AuthToken

PACKAGE = "github.com/docker-credential-ecr/docker-credential-ecr"
USAGE = f"""\
Usage: {NAME} <get|store|erase|list|version>
       {NAME} {kubelet.ACTION}
       {NAME} <command> [--help]

A Docker credential helper for Amazon ECR.  Docker runs it; to use it, run
  {NAME} configure --registry <account>.dkr.ecr.<region>.amazonaws.com
or make it the store for every registry with  {NAME} configure --creds-store.
The kubelet runs it as an image credential provider (set up by configure --kubelet):
{kubelet.ACTION}, or the name {kubelet.PROGRAM}, reads a CredentialProviderRequest.

Commands:
{{commands}}
Environment: AWS_PROFILE and the other AWS SDK variables choose the identity;
AWS_ECR_CACHE_DIR, AWS_ECR_DISABLE_CACHE, AWS_ECR_IGNORE_CREDS_STORAGE, AWS_ECR_ROLE_ARN;
DOCKER_CREDENTIAL_ECR_{{CONNECT_TIMEOUT,READ_TIMEOUT,MAX_ATTEMPTS,DEADLINE,LOCK_TIMEOUT}},
DOCKER_CREDENTIAL_ECR_{{LOG_LEVEL,LOG_FILE,BACKGROUND_REFRESH,CONFIG,RUNTIME_DIR}}.
"""


def usage() -> str:
    """The help text, with the table of operator commands."""
    from docker_credential_ecr import commands

    return USAGE.replace("{commands}", commands.table())


def main(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    stdin: BinaryIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the helper with ``argv`` (default: ``sys.argv[1:]``); return the exit status.

    The streams and the environment default to the process's; tests pass their own.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if argv is None:
        args = kubelet.program_arguments(sys.argv[0], args)
    environ = os.environ if environ is None else environ
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    action = args[0] if args else ""
    if action in ("", "-h", "--help", "help"):
        out.write(usage())
        return 0 if action else 1
    if action in ("version", "--version", "-v"):
        out.write(f"{NAME} ({PACKAGE}) {__version__}\n")
        return 0
    if action in protocol.ACTIONS:
        if len(args) > 1:
            out.write(f"{NAME}: {action} takes no arguments, got {' '.join(args[1:])!r}\n")
            return 1
        return _protocol(action, environ, stdin, out, err)
    if action == kubelet.ACTION:
        return _finish(_kubelet(args[1:], environ, stdin, out, err))
    return _command(action, args[1:], environ, out)


def _protocol(
    action: str, environ: Mapping[str, str], stdin: BinaryIO | None, out: TextIO, err: TextIO
) -> int:
    out.flush()
    status = run(
        action,
        environ,
        stdin or sys.stdin.buffer,
        getattr(out, "buffer", None) or sys.stdout.buffer,
        getattr(err, "buffer", None) or sys.stderr.buffer,
    )
    return _finish(status)


_ABANDON = -1


def _finish(status: int) -> int:
    """The exit status; after a fetch that ran past its deadline, exit at once."""
    if status == _ABANDON:
        # A fetch thread may still be blocked in the network: end now rather
        # than wait for it at interpreter shutdown.
        exit_now(1)
    return status


def entry() -> NoReturn:
    """The program's entry point: answer, then end without tearing the interpreter down."""
    exit_now(main())


def exit_now(status: int) -> NoReturn:
    """Flush, run the exit handlers (logging's, coverage's), and end the process.

    After a cache miss, tearing down botocore's few hundred modules and its
    connection pool took 60 to 90 ms, and Docker waits for it: it reads our
    answer until the pipe closes.  Every file the helper writes is already
    synced and renamed by then.
    """
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass  # nobody is reading, or the stream is closed: nothing to keep
    os._exit(status)


def _kubelet(
    extra: Sequence[str],
    environ: Mapping[str, str],
    stdin: BinaryIO | None,
    out: TextIO,
    err: TextIO,
) -> int:
    """Answer the kubelet: one CredentialProviderRequest on stdin, its response on stdout."""
    from docker_credential_ecr.config import Settings

    if extra:
        # AWS's plugin accepts (and ignores) arguments; a configuration written for it works.
        warn(f"{kubelet.ACTION} ignores its {len(extra)} other argument(s)")
    out.flush()
    stdout = getattr(out, "buffer", None) or sys.stdout.buffer
    fetcher = None
    try:
        request = kubelet.read_request(stdin or sys.stdin.buffer)
        settings = Settings(environ)
        _configure_logging(settings)
        web_identity = kubelet.web_identity_of(request, settings.web_identity_role)
        # A refresh in another process could not carry the service account's token.
        background = settings.background_refresh and web_identity is None
        _cache, fetcher, backend = _build(settings, environ, background=background)
        status = kubelet.handle(backend, request, web_identity, stdout, warn, time.time)
        _log_heavy(kubelet.ACTION, status)
    except HelperError as exc:
        line = one_line(str(exc))
        err.write((line if line.startswith(NAME) else f"{NAME}: {line}") + "\n")
        err.flush()
        status = 1
    return _ABANDON if fetcher is not None and fetcher.timed_out else status


def _command(name: str, argv: Sequence[str], environ: Mapping[str, str], out: TextIO) -> int:
    """Run an operator command from the table."""
    from docker_credential_ecr import commands
    from docker_credential_ecr.commands.context import Context
    from docker_credential_ecr.config import Settings

    command = commands.find(name)
    if command is None:
        out.write(f"{NAME}: unknown action: {name}\n")
        return 1
    try:
        settings = Settings(environ)
    except HelperError as exc:
        out.write(f"{exc}\n")
        return 1
    _configure_logging(settings)
    # No background refreshes from here: this may be one, and must not start another.
    _cache, _fetcher, backend = _build(settings, environ, background=False)
    # The command sees the environment it was given; botocore (doctor's) only what passed.
    context = Context(settings, backend, dict(environ), out, time.time)
    _aws_environment(settings, environ)
    return commands.run(command, argv, context)


def run(
    action: str,
    environ: Mapping[str, str],
    stdin: BinaryIO,
    stdout: BinaryIO,
    stderr: BinaryIO | None = None,
) -> int:
    """Build the helper from ``environ`` and answer one protocol action."""
    from docker_credential_ecr.config import Settings

    try:
        settings = Settings(environ)
    except HelperError as exc:
        return protocol.report(exc, action, stdout, stderr)
    _configure_logging(settings)
    _cache, fetcher, backend = _build(settings, environ, background=settings.background_refresh)
    status = protocol.handle(backend, action, stdin, stdout, stderr)
    _log_heavy(action, status)
    return _ABANDON if fetcher.timed_out else status


def _log_heavy(action: str, status: int) -> None:
    """Tell an operator (and the tests) whether this call paid for loading the AWS SDK.

    A cache hit must not.
    """
    if log.enabled:
        heavy = ", ".join(m for m in _HEAVY_MODULES if m in sys.modules) or "none"
        log.debug("%s exited %d; heavy modules loaded: %s", action, status, heavy)


_HEAVY_MODULES = ("boto3", "botocore", "filelock", "platformdirs", "urllib3")


def _build(
    settings: Settings, environ: Mapping[str, str], *, background: bool
) -> tuple[Cache, _LazyFetcher, EcrBackend]:
    """Compose the cache, the AWS fetcher and the backend from the settings."""
    from docker_credential_ecr.backend import EcrBackend
    from docker_credential_ecr.cache import NullCache, TokenCache
    from docker_credential_ecr.logins import LoginStore
    from docker_credential_ecr.resolver import Resolver

    _warn_refused(settings)
    cache: Cache = TokenCache(settings.cache_dir) if settings.cache_enabled else NullCache()
    fetcher = _LazyFetcher(settings, environ)
    spawn = None
    if background and cache.enabled:
        # The environment as this process was given it, before botocore's was changed.
        child_environ = dict(environ)

        def spawn(registry: Registry, key: str, cache: Cache = cache) -> bool:
            from docker_credential_ecr.background import refresh

            return refresh(cache, registry, key, child_environ)

    backend = EcrBackend(
        Resolver(cache, fetcher, time.time, warn, settings.lock_timeout, spawn),
        cache,
        LoginStore(os.path.join(settings.cache_dir, "logins") if settings.cache_trusted else None),
        settings,
        time.time,
        warn,
        ignore_storage=settings.ignore_creds_storage,
    )
    return cache, fetcher, backend


def _aws_environment(settings: Settings, environ: Mapping[str, str]) -> None:
    """Give botocore, before it is imported, only the files that passed the trusted-path rule.

    botocore reads the process's own environment: it is changed only when that is the
    one the helper was given (a test's in-process call passes another).
    """
    if settings.aws_changes and environ is os.environ:
        from docker_credential_ecr import awsfiles

        awsfiles.apply(settings.aws_changes, os.environ)


def _warn_refused(settings: Settings) -> None:
    """Say which files and cache directories failed the trusted-path rule, and what was done."""
    for line in settings.refused:
        warn(line)
    if not settings.cache_refused:
        return
    why = "; ".join(settings.cache_refused)
    if settings.cache_trusted:
        warn(f"not keeping tokens in {why}; using {settings.cache_dir}")
    else:
        warn(
            f"tokens are not cached: {why}; set AWS_ECR_CACHE_DIR to a directory that only "
            "you and root can write"
        )


class _LazyFetcher:
    """Fetches from AWS, importing boto3 only when a token must really be fetched."""

    def __init__(self, settings: Settings, environ: Mapping[str, str]) -> None:
        self._settings = settings
        self._environ = environ
        self.timed_out = False

    def __call__(self, registry: Registry, config: RegistryConfig) -> AuthToken:
        _aws_environment(self._settings, self._environ)
        started = time.perf_counter()
        from docker_credential_ecr.ecr import make_fetcher

        log.debug("imported boto3 in %.1f ms", 1000 * (time.perf_counter() - started))
        try:
            return make_fetcher(self._settings, time.time)(registry, config)
        except DeadlineExceeded:
            self.timed_out = True
            raise


def warn(message: str) -> None:
    """Print a one-line warning on stderr (Docker shows stdout only on failure)."""
    sys.stderr.write(f"{NAME}: warning: {message}\n")
    log.debug("warning: %s", message)


def _log_stream(path: str) -> TextIO:
    """The log file, opened as root may open it: see ``files.open_append``."""
    from docker_credential_ecr import files

    return os.fdopen(files.open_append(path), "a", encoding="utf-8", errors="replace")


def _configure_logging(settings: Settings) -> None:
    if not (settings.log_level or settings.log_file):
        return
    import logging

    try:
        handler: logging.Handler = (
            logging.StreamHandler(_log_stream(settings.log_file))
            if settings.log_file
            else logging.StreamHandler()
        )
    except OSError as exc:
        warn(f"cannot open the log file: {exc}")
        return
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(message)s"))
    logger = logging.getLogger("docker_credential_ecr")
    logger.addHandler(handler)
    logger.setLevel(settings.log_level or "INFO")
    log.enabled = logger.isEnabledFor(logging.DEBUG)
