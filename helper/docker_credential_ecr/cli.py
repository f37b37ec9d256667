"""Composition root: argv, environment and streams in; settings, cache and backend built here.

Three modes start here, each from :func:`bootstrap`: a Docker protocol verb (:func:`run`),
a kubelet request and an operator command.  Each mode reports an error its channel's one
way: the Docker protocol's line on stdout, the kubelet's on stderr, a command's on stdout.
"""

from __future__ import annotations

import os
import sys
import time

from docker_credential_ecr import __version__, kubelet, log, protocol
from docker_credential_ecr.errors import NAME, DeadlineExceeded, HelperError, InputError, one_line

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, MutableMapping, Sequence
    from typing import BinaryIO, NoReturn, TextIO

    from docker_credential_ecr.backend import DockerStore
    from docker_credential_ecr.cache import Cache
    from docker_credential_ecr.config import Settings
    from docker_credential_ecr.fileconfig import RegistryConfig
    from docker_credential_ecr.logins import LoginStore
    from docker_credential_ecr.registry import Registry
    from docker_credential_ecr.resolver import Target
    from docker_credential_ecr.token import AuthToken
    from docker_credential_ecr.tokens import TokenService

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


class FetchAbandoned(Exception):
    """A fetch ran past its deadline: its thread may still be blocked in the network."""


def main(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    stdin: BinaryIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the helper with ``argv`` (default: ``sys.argv[1:]``); return the exit status.

    The streams and the environment default to the process's; tests pass their own.
    After a fetch that ran past its deadline, the process ends at once, with status 1.
    """
    environ = os.environ if environ is None else environ
    try:
        return _dispatch(
            _arguments(argv), environ, stdin, stdout or sys.stdout, stderr or sys.stderr
        )
    except FetchAbandoned:
        # Rather than wait for the blocked thread at interpreter shutdown.
        exit_now(1)


def _arguments(argv: Sequence[str] | None) -> list[str]:
    """The arguments given, or the process's own as the name it was run under means them."""
    if argv is not None:
        return list(argv)
    return kubelet.program_arguments(sys.argv[0], sys.argv[1:])


def _dispatch(
    args: list[str], environ: Mapping[str, str], stdin: BinaryIO | None, out: TextIO, err: TextIO
) -> int:
    """Help, the version, or the mode the first argument names."""
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
        out.flush()
        return run(
            action,
            environ,
            stdin or sys.stdin.buffer,
            _bytes(out, sys.stdout),
            _bytes(err, sys.stderr),
        )
    if action == kubelet.ACTION:
        return _kubelet(args[1:], environ, stdin, out, err)
    return _command(action, args[1:], environ, out, err)


def _bytes(stream: TextIO, default: TextIO) -> BinaryIO:
    """The byte stream under ``stream``; ``default``'s when it has none (a StringIO)."""
    buffer: BinaryIO | None = getattr(stream, "buffer", None)
    return buffer or default.buffer


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


class Boot:
    """What every mode starts from: its settings, logging on, refused files warned of."""

    def __init__(
        self,
        settings: Settings,
        environ: Mapping[str, str],
        botocore_environ: MutableMapping[str, str] | None,
    ) -> None:
        self.settings = settings
        self.environ = environ
        self._botocore_environ = botocore_environ

    def aws_environment(self) -> None:
        """Give botocore, before it is imported, only the files that passed the trusted-path rule.

        Deferred to the first fetch (or a command's start), so that a cache hit pays nothing.
        """
        if self.settings.aws_changes and self._botocore_environ is not None:
            from docker_credential_ecr import awsfiles

            awsfiles.apply(self.settings.aws_changes, self._botocore_environ)


def bootstrap(environ: Mapping[str, str]) -> Boot:
    """Read the settings from ``environ``, start logging and warn of refused files.

    A malformed setting raises HelperError, for the mode to report in its channel.
    """
    from docker_credential_ecr.config import Settings

    settings = Settings(environ)
    _configure_logging(settings)
    _warn_refused(settings)
    # botocore reads the process's own environment: it is changed only when that is the
    # one the helper was given (a test's in-process call passes another).
    return Boot(settings, environ, os.environ if environ is os.environ else None)


def run(
    action: str,
    environ: Mapping[str, str],
    stdin: BinaryIO,
    stdout: BinaryIO,
    stderr: BinaryIO | None = None,
) -> int:
    """Build the helper from ``environ`` and answer one protocol action.

    After answering, raise FetchAbandoned if a fetch ran past its deadline.
    """
    try:
        boot = bootstrap(environ)
    except HelperError as exc:
        return protocol.report(exc, action, stdout, stderr)
    fetcher = _Fetcher(boot)
    services = _build(boot, fetcher, background=boot.settings.background_refresh)
    status = protocol.handle(services.store, action, stdin, stdout, stderr)
    _log_heavy(action, status)
    fetcher.settle()
    return status


def _kubelet(
    extra: Sequence[str],
    environ: Mapping[str, str],
    stdin: BinaryIO | None,
    out: TextIO,
    err: TextIO,
) -> int:
    """Answer the kubelet: one CredentialProviderRequest on stdin, its response on stdout."""
    if extra:
        # AWS's plugin accepts (and ignores) arguments; a configuration written for it works.
        warn(f"{kubelet.ACTION} ignores its {len(extra)} other argument(s)")
    out.flush()
    stdout = _bytes(out, sys.stdout)
    fetcher = None
    try:
        request = kubelet.read_request(stdin or sys.stdin.buffer)
        boot = bootstrap(environ)
        web_identity = kubelet.web_identity_of(request, boot.settings.web_identity_role)
        # A refresh in another process could not carry the service account's token.
        background = boot.settings.background_refresh and web_identity is None
        fetcher = _Fetcher(boot)
        services = _build(boot, fetcher, background=background)
        status = kubelet.handle(services.tokens, request, web_identity, stdout, warn, time.time)
        _log_heavy(kubelet.ACTION, status)
    except HelperError as exc:
        status = _kubelet_error(exc, err)
    if fetcher is not None:
        fetcher.settle()
    return status


def _kubelet_error(exc: HelperError, err: TextIO) -> int:
    """Report an error as the kubelet shows it: one line on stderr; the exit status, 1."""
    line = one_line(str(exc))
    err.write((line if line.startswith(NAME) else f"{NAME}: {line}") + "\n")
    err.flush()
    return 1


def _command(
    name: str, argv: Sequence[str], environ: Mapping[str, str], out: TextIO, err: TextIO
) -> int:
    """Run an operator command from the table."""
    from docker_credential_ecr import commands
    from docker_credential_ecr.commands.context import Context

    command = commands.find(name)
    if command is None:
        # What Docker shows of a helper's failure is its stdout: an action it may send
        # one day is answered there, as docker-credential-helpers answers it.
        return _command_error(InputError(f"{NAME}: unknown action: {name}"), out)

    def context() -> Context:
        """The command's context from the configuration as it is now; raises HelperError."""
        boot = bootstrap(environ)
        # No background refreshes from here: this may be one, and must not start another.
        services = _build(boot, _Fetcher(boot), background=False)
        # The command sees the environment it was given; botocore (doctor's) only what passed.
        settings = boot.settings
        made = Context(
            file=settings.file,
            cache=settings.cache,
            aws=settings.aws,
            tokens=services.tokens,
            logins=services.logins,
            environ=dict(environ),
            out=out,
            err=err,
            clock=time.time,
            reload=context,
        )
        boot.aws_environment()
        return made

    try:
        ctx = context()
    except HelperError as exc:
        return _command_error(exc, err)
    return commands.run(command, argv, ctx)


def _command_error(exc: HelperError, err: TextIO) -> int:
    """Report an error as every command does (``commands.run``): its line; the exit status, 1."""
    err.write(f"{exc}\n")
    return 1


def _log_heavy(action: str, status: int) -> None:
    """Tell an operator (and the tests) whether this call paid for loading the AWS SDK.

    A cache hit must not.
    """
    if log.enabled:
        heavy = ", ".join(m for m in _HEAVY_MODULES if m in sys.modules) or "none"
        log.debug("%s exited %d; heavy modules loaded: %s", action, status, heavy)


_HEAVY_MODULES = ("boto3", "botocore", "filelock", "platformdirs", "urllib3", "prometheus_client")


class _Services:
    """What one call is served by: the token service, the Docker store, the logins."""

    __slots__ = ("logins", "store", "tokens")

    def __init__(self, tokens: TokenService, store: DockerStore, logins: LoginStore) -> None:
        self.tokens = tokens
        self.store = store
        self.logins = logins


def _build(boot: Boot, fetcher: _Fetcher, *, background: bool) -> _Services:
    """Compose the cache, the token service and the Docker store around ``fetcher``."""
    from docker_credential_ecr.backend import DockerStore
    from docker_credential_ecr.cache import NullCache, TokenCache
    from docker_credential_ecr.logins import LoginStore
    from docker_credential_ecr.resolver import Resolver
    from docker_credential_ecr.tokens import TokenService

    settings = boot.settings
    cache: Cache = TokenCache(settings.cache.directory) if settings.cache.enabled else NullCache()
    spawn = None
    if background and cache.enabled:
        # The environment as this process was given it, before botocore's was changed.
        child_environ = dict(boot.environ)

        def spawn(target: Target, cache: Cache = cache) -> bool:
            from docker_credential_ecr.background import refresh

            return refresh(cache, target.registry, target.key, child_environ)

    resolver = Resolver(cache, fetcher, time.time, warn, settings.lock_timeout, spawn)
    tokens = TokenService(resolver, cache, settings.file, settings.identity_tag)
    logins = LoginStore(
        os.path.join(settings.cache.directory, "logins") if settings.cache.trusted else None
    )
    store = DockerStore(
        tokens, cache, logins, time.time, warn, ignore_storage=settings.ignore_creds_storage
    )
    return _Services(tokens, store, logins)


def _warn_refused(settings: Settings) -> None:
    """Say which files and cache directories failed the trusted-path rule, and what was done."""
    for line in settings.refused:
        warn(line)
    if not settings.cache.refused:
        return
    why = "; ".join(settings.cache.refused)
    if settings.cache.trusted:
        warn(f"not keeping tokens in {why}; using {settings.cache.directory}")
    else:
        warn(
            f"tokens are not cached: {why}; set AWS_ECR_CACHE_DIR to a directory that only "
            "you and root can write"
        )


class _Fetcher:
    """Fetches from AWS, importing boto3 only when a token must really be fetched."""

    def __init__(self, boot: Boot) -> None:
        self._boot = boot
        # The resolver may answer with a cached token over a missed deadline: only the
        # fetcher sees every one.
        self._overran = False

    def __call__(self, registry: Registry, config: RegistryConfig) -> AuthToken:
        self._boot.aws_environment()
        started = time.perf_counter()
        from docker_credential_ecr.ecr import make_fetcher

        log.debug("imported boto3 in %.1f ms", 1000 * (time.perf_counter() - started))
        try:
            return make_fetcher(self._boot.settings.aws, time.time)(registry, config)
        except DeadlineExceeded:
            self._overran = True
            raise

    def settle(self) -> None:
        """Raise FetchAbandoned if a fetch ran past its deadline, whatever was answered."""
        if self._overran:
            raise FetchAbandoned


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
    for before in logger.handlers[:]:  # a watch's reload configures logging again
        logger.removeHandler(before)
    logger.addHandler(handler)
    logger.setLevel(settings.log_level or "INFO")
    log.enabled = logger.isEnabledFor(logging.DEBUG)
