"""Settings, built once from the environment mapping `cli.main` is given, never from os.environ."""

from __future__ import annotations

import os
import sys
from stat import S_ISREG

from docker_credential_ecr import awsfiles, fileconfig, trust
from docker_credential_ecr.errors import NAME, InputError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

PREFIX = "DOCKER_CREDENTIAL_ECR_"
# The identity tag of the default credential chain, nothing configured.
DEFAULT_TAG = "default"
# The cache's variables, shared with AWS's Go helper; the native path reads them too.
CACHE_DIR_VARIABLE = "AWS_ECR_CACHE_DIR"
DISABLE_CACHE_VARIABLE = "AWS_ECR_DISABLE_CACHE"
# platformdirs' rule on Linux: this variable if it is absolute, else this under HOME.
XDG_CACHE = ("XDG_CACHE_HOME", ".cache")
# Root's cache when the one its environment names fails the trusted-path rule
# (``sudo -E`` keeps a user's HOME): a place only root can write.
ROOT_CACHE_DIR = "/var/cache/docker-credential-ecr"

# Variables that choose which AWS identity boto3 will resolve.  The cache key
# is derived from their values so that a cache hit never resolves credentials,
# yet two identities on one host never share a token.
IDENTITY_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_ROLE_ARN",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
)
# The AWS files that define profiles, as (variable naming the file, botocore's default).
# Their identity (device, inode, size, modification time; one stat each) is part of the
# key too, so an edited profile is a new identity without reading the files.
IDENTITY_FILES = (
    ("AWS_CONFIG_FILE", "~/.aws/config"),
    ("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"),
)

_LOG_LEVELS = ("", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class CachePlace:
    """Where tokens and logins are kept, and whether they are kept at all."""

    __slots__ = ("directory", "enabled", "refused", "trusted")

    def __init__(self, directory: str, trusted: bool, enabled: bool, refused: list[str]) -> None:
        self.directory = directory
        # No directory passes the trusted-path rule: nothing is kept; ``refused`` says why.
        self.trusted = trusted
        self.enabled = enabled and trusted
        self.refused = refused

    @classmethod
    def chosen(cls, environ: Mapping[str, str], euid: int) -> CachePlace:
        """The first candidate directory that passes the trusted-path rule for ``euid``."""
        candidates = cache_dirs(environ, euid)
        chosen, refused = trust.first_trusted(candidates, euid)
        enabled = not environ.get(DISABLE_CACHE_VARIABLE)
        return cls(chosen or candidates[0], chosen is not None, enabled, refused)


class Options:
    """What the AWS side reads of the settings, and nothing else (as ecr-login's Options)."""

    __slots__ = ("connect_timeout", "deadline", "max_attempts", "read_timeout")

    def __init__(
        self, connect_timeout: float, read_timeout: float, max_attempts: int, deadline: float
    ) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_attempts = max_attempts
        self.deadline = deadline

    @classmethod
    def of(cls, environ: Mapping[str, str]) -> Options:
        """The options ``environ`` sets: timeouts, attempts and the whole fetch's deadline."""
        return cls(
            _seconds(environ, "CONNECT_TIMEOUT", 2.0),
            _seconds(environ, "READ_TIMEOUT", 5.0),
            _max_attempts(environ),
            _seconds(environ, "DEADLINE", 25.0),
        )


class Settings:
    """Everything the helper reads from its environment, parsed and checked."""

    __slots__ = (
        "aws",
        "aws_changes",
        "background_refresh",
        "cache",
        "file",
        "identity",
        "ignore_creds_storage",
        "lock_timeout",
        "log_file",
        "log_level",
        "refused",
        "web_identity_role",
    )

    def __init__(
        self,
        environ: Mapping[str, str],
        read: Callable[[str], tuple[str, os.stat_result] | None] = fileconfig.read_file,
        stat: Callable[[str], os.stat_result] = os.stat,
        euid: int | None = None,
    ) -> None:
        euid = os.geteuid() if euid is None else euid
        self.cache = CachePlace.chosen(environ, euid)
        self.ignore_creds_storage = environ.get("AWS_ECR_IGNORE_CREDS_STORAGE", "").lower() in _TRUE
        self.background_refresh = _background_refresh(environ)
        # What botocore will be allowed to read; the key is made from that, not from environ.
        review = awsfiles.review(environ, euid, awsfiles.passwd_home)
        self.aws_changes = review.changes
        self.identity = _identity(review.applied(environ) if review.changes else environ, stat)
        self.log_level = _log_level(environ)
        self.log_file = environ.get(PREFIX + "LOG_FILE", "")
        self.aws = Options.of(environ)
        self.lock_timeout = _seconds(environ, "LOCK_TIMEOUT", 12.0)
        self.file = fileconfig.load(environ, read, fileconfig.check_with(euid))
        # Files not read because another user could change them: one warning line each.
        self.refused = review.refused + self.file.refused
        # The kubelet mode's role for service-account tokens when the account names none.
        self.web_identity_role = environ.get("AWS_ECR_ROLE_ARN", "").strip()

    def identity_tag(self, extra: str = "") -> str:
        """Return a short, file-name-safe digest of the configured AWS identity.

        ``extra`` is what a configuration file section adds to it.  Hashing
        keeps access key ids and profile names out of file names.

        C twin: packaging/fastpath.c identity_tag
        """
        if not extra and not any(
            v.partition("=")[2] not in ("", ABSENT) for v in self.identity.split("\0")
        ):
            return DEFAULT_TAG
        identity = self.identity + ("\0" + extra if extra else "")
        # surrogateescape: hash the variables' bytes as they are, as the launcher does.
        return sha256_hex(identity.encode("utf-8", "surrogateescape"))[:16]


def launcher(environ: Mapping[str, str]) -> str | None:
    """The single file that started this frozen program, as its launcher says; else None.

    The launcher always sets the variable, over whatever the environment held.  Anywhere
    else the variable is the caller's, and root must not run a program the environment
    names (``sudo -E`` keeps it).
    """
    if not getattr(sys, "frozen", False):
        return None
    return environ.get("_DOCKER_CREDENTIAL_ECR_LAUNCHER") or None


def sha256_hex(data: bytes) -> str:
    """SHA-256 without importing hashlib, which loads OpenSSL: too slow for every ``get``."""
    try:
        from _sha256 import sha256  # type: ignore[import-not-found,unused-ignore]  # Python 3.11
    except ImportError:
        try:
            from _sha2 import sha256  # type: ignore[import-not-found,no-redef,unused-ignore]
        except ImportError:
            from hashlib import sha256  # type: ignore[assignment,unused-ignore]
    return str(sha256(data).hexdigest())


def _background_refresh(environ: Mapping[str, str]) -> bool:
    background = environ.get(PREFIX + "BACKGROUND_REFRESH", "true").strip().lower()
    if background not in _TRUE | _FALSE:
        raise InputError(f"{NAME}: {PREFIX}BACKGROUND_REFRESH={background!r} is not true or false")
    return background in _TRUE


def _identity(aws: Mapping[str, str], stat: Callable[[str], os.stat_result]) -> str:
    """What the cache key is made from: the identity variables and the profile files' stat."""
    return "\0".join(
        [f"{n}={aws.get(n, '')}" for n in IDENTITY_VARIABLES]
        + [f"{n}#stat={file_identity(aws, n, d, stat)}" for n, d in IDENTITY_FILES]
    )


def _log_level(environ: Mapping[str, str]) -> str:
    level = environ.get(PREFIX + "LOG_LEVEL", "").strip().upper()
    if level not in _LOG_LEVELS:
        levels = ", ".join(_LOG_LEVELS[1:])
        raise InputError(f"{NAME}: {PREFIX}LOG_LEVEL={level!r} is not one of {levels}")
    return level


def _max_attempts(environ: Mapping[str, str]) -> int:
    attempts = _seconds(environ, "MAX_ATTEMPTS", 3)
    if attempts != int(attempts) or attempts < 1:
        raise InputError(f"{NAME}: {PREFIX}MAX_ATTEMPTS must be a whole number >= 1")
    return int(attempts)


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(PREFIX + name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < 3600:
        raise InputError(f"{NAME}: {PREFIX}{name}={raw!r} is not a number of seconds in (0, 3600)")
    return value


ABSENT = "-"


def file_identity(
    environ: Mapping[str, str], name: str, default: str, stat: Callable[[str], os.stat_result]
) -> str:
    """``device:inode:size:mtime_ns`` of the AWS file botocore would read, or ``-`` if none.

    Not a regular file (``/dev/null``, a directory) is none, as for botocore's ``isfile``.

    C twin: packaging/fastpath.c file_identity
    """
    path = expand_user(os.path.expandvars(environ.get(name) or default), environ)
    try:
        info = stat(path)
    except (OSError, ValueError):
        return ABSENT
    if not S_ISREG(info.st_mode):
        return ABSENT
    return f"{info.st_dev}:{info.st_ino}:{info.st_size}:{info.st_mtime_ns}"


def expand_user(path: str, environ: Mapping[str, str]) -> str:
    """``os.path.expanduser`` (botocore's expansion), reading HOME from ``environ``.

    C twin: packaging/fastpath.c expand_user
    """
    if path == "~" or path.startswith("~/"):
        if "HOME" in environ:
            return environ["HOME"] + path[1:]
        try:
            return _passwd_home() + path[1:]
        except InputError:
            return path
    return os.path.expanduser(path)


def cache_dirs(environ: Mapping[str, str], euid: int) -> tuple[str, ...]:
    """Where tokens may be kept, most preferred first.

    The configured or default directory; for root also a root-owned one, used when
    the first fails the trusted-path rule.
    """
    preferred = environ.get(CACHE_DIR_VARIABLE) or default_cache_dir(environ)
    if euid == 0 and preferred != ROOT_CACHE_DIR:
        return preferred, ROOT_CACHE_DIR
    return (preferred,)


def default_cache_dir(environ: Mapping[str, str]) -> str:
    """Return platformdirs' user cache directory for the helper.

    On Linux the rule (``$XDG_CACHE_HOME`` if absolute, else ``~/.cache``) is
    applied here because importing platformdirs costs more than a whole cache
    hit; a test checks that both agree.  Elsewhere platformdirs decides.

    C twin: packaging/fastpath.c default_cache_dir
    """
    if sys.platform != "linux":
        import platformdirs

        return platformdirs.user_cache_dir(NAME)
    variable, under_home = XDG_CACHE
    xdg = environ.get(variable, "")
    if xdg.startswith("/"):
        return os.path.join(xdg, NAME)
    home = environ.get("HOME", "")
    if not home.startswith("/"):
        home = _passwd_home()
    return os.path.join(home, under_home, NAME)


def _passwd_home() -> str:
    import pwd

    try:
        home = pwd.getpwuid(os.getuid()).pw_dir
    except KeyError:
        home = ""
    if not home.startswith("/"):
        raise InputError(
            f"{NAME}: no home directory for uid {os.getuid()}; set AWS_ECR_CACHE_DIR or HOME"
        )
    return home
