"""The optional TOML configuration file: per-registry AWS identity, aliases, refresh and cache.

Example (``/etc/docker-credential-ecr/config.toml``)::

    [registries."111111111111.dkr.ecr.us-east-1.amazonaws.com"]
    profile = "prod"

    [registries."*.dkr.ecr.eu-west-1.amazonaws.com"]
    role_arn = "arn:aws:iam::222222222222:role/puller"
    external_id = "fleet"
    refresh_before = 3600

    [metrics]
    textfile = "/var/lib/prometheus/node-exporter/docker_credential_ecr.prom"

    [aliases]
    "registry.internal.example" = "111111111111.dkr.ecr.us-east-1.amazonaws.com"

Files: ``$DOCKER_CREDENTIAL_ECR_CONFIG`` alone if set; else the system file overlaid by
the user's (a registry section or alias in the user's file replaces the system's).
"""

from __future__ import annotations

import os
import stat

from docker_credential_ecr.errors import NAME, InputError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import NoReturn

SYSTEM_FILE = "/etc/docker-credential-ecr/config.toml"
USER_FILE = f"{NAME}/config.toml"  # under XDG_CONFIG's variable, else its directory in HOME
# The XDG rule: this variable if it is absolute, else this under HOME.
XDG_CONFIG = ("XDG_CONFIG_HOME", ".config")

_STRINGS = ("profile", "role_arn", "external_id", "role_session_name", "region",
            "aws_access_key_id", "aws_secret_access_key")  # fmt: skip
_NUMBERS = ("duration_seconds", "refresh_before")
_KEYS = frozenset((*_STRINGS, *_NUMBERS, "cache"))
# What selects the AWS identity, and so belongs in the cache key (not the secret key).
_IDENTITY_KEYS = ("profile", "role_arn", "external_id", "role_session_name", "duration_seconds",
                  "region", "aws_access_key_id")  # fmt: skip


class WebIdentity:
    """A role to assume with a Kubernetes service-account token (the kubelet mode only).

    ``digest`` names the token in cache keys; the token itself is never written anywhere.
    """

    __slots__ = ("digest", "role_arn", "token")

    def __init__(self, role_arn: str, token: str, digest: str) -> None:
        self.role_arn = role_arn
        self.token = token
        self.digest = digest

    def __repr__(self) -> str:
        return f"WebIdentity(role_arn={self.role_arn!r}, digest={self.digest!r})"


class RegistryConfig:
    """The settings for one registry: every field None when the file says nothing."""

    __slots__ = (*_STRINGS, *_NUMBERS, "cache", "source", "web_identity")

    def __init__(self, values: Mapping[str, object] | None = None, source: str = "") -> None:
        values = values or {}
        for name in self.__slots__:
            setattr(self, name, values.get(name))
        self.source = source

    profile: str | None
    role_arn: str | None
    external_id: str | None
    role_session_name: str | None
    region: str | None
    aws_access_key_id: str | None
    aws_secret_access_key: str | None
    duration_seconds: int | None
    refresh_before: float | None
    cache: bool | None
    web_identity: WebIdentity | None

    def identity(self) -> str:
        """The part of the cache key this configuration contributes (never a secret)."""
        parts = [f"{k}={getattr(self, k)}" for k in _IDENTITY_KEYS if getattr(self, k) is not None]
        if self.web_identity is not None:
            # A token got with a service account's token is kept under that token alone.
            wi = self.web_identity
            parts += [f"web_identity_role={wi.role_arn}", f"web_identity_token={wi.digest}"]
        return "\0".join(parts)

    def with_web_identity(self, web_identity: WebIdentity) -> RegistryConfig:
        """This configuration, with the identity replaced by a service account's role."""
        kept = {k: getattr(self, k) for k in ("region", "refresh_before", "cache")}
        copy = RegistryConfig(kept, source=self.source)
        copy.web_identity = web_identity
        return copy

    def __repr__(self) -> str:
        shown = {k: getattr(self, k) for k in self.__slots__ if k != "aws_secret_access_key"}
        return f"RegistryConfig({shown!r})"


_NOTHING = RegistryConfig()


class FileConfig:
    """Registry sections (exact hosts and globs) and aliases, from one or two files."""

    def __init__(self) -> None:
        self.registries: dict[str, RegistryConfig] = {}
        self.aliases: dict[str, str] = {}
        # Delivery sections as written, each with its file and text: only refresh reads
        # them (deliveries.py checks them then), so a get never pays for them.
        self.deliveries: dict[str, tuple[object, str, str]] = {}
        self.files: list[str] = []
        self.refused: list[str] = []  # files not read, each with the reason
        # Where refresh --watch writes its metrics after each pass (None: nowhere).
        self.metrics_file: str | None = None

    def overlay(self, other: FileConfig) -> None:
        """Let ``other``'s sections and aliases replace this one's."""
        self.metrics_file = other.metrics_file or self.metrics_file
        self.registries.update(other.registries)
        self.aliases.update(other.aliases)
        self.deliveries.update(other.deliveries)
        self.files.extend(other.files)
        self.refused.extend(other.refused)

    def for_host(self, host: str) -> RegistryConfig:
        """Return the most specific section matching ``host``: exact, else the longest glob."""
        exact = self.registries.get(host)
        if exact is not None:
            return exact
        globs = [p for p in self.registries if _is_glob(p)]
        if not globs:
            return _NOTHING  # and fnmatch, which imports re, stays unloaded
        import fnmatch

        matches = [p for p in globs if fnmatch.fnmatchcase(host, p)]
        if not matches:
            return _NOTHING
        # More literal characters means more specific: "*.dkr.ecr.eu-west-1.amazonaws.com"
        # beats "*.amazonaws.com".
        return self.registries[max(matches, key=lambda p: (len(p.replace("*", "")), p))]

    def resolve_alias(self, host: str) -> str:
        """Return the registry host an alias stands for, or ``host`` itself."""
        return self.aliases.get(host, host)


def _is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def parse(text: str, path: str) -> FileConfig:
    """Parse one file's text; raise InputError naming the file, line and key of any mistake."""
    import tomllib

    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{NAME}: {path}: {exc}") from None
    config = FileConfig()
    config.files.append(path)
    for key in document:
        if key not in _TABLES:
            expected = f"expected {', '.join(_TABLES)}"
            fail(path, text, key, f"unknown section {key!r} ({expected})")
    tables = {k: _table(path, text, document, k) for k in _TABLES}
    config.metrics_file = _metrics_file(path, text, tables["metrics"])
    for host, section in tables["registries"].items():
        config.registries[host.lower()] = _section(path, text, host, section)
    config.deliveries = {name: (s, path, text) for name, s in tables["deliveries"].items()}
    from docker_credential_ecr import registry

    for alias, target in tables["aliases"].items():
        if not isinstance(target, str) or registry.parse(target) is None:
            fail(path, text, alias, f"alias {alias!r} must name an ECR registry host")
        config.aliases[registry.host_of(alias)] = registry.host_of(target)
    return config


_TABLES = {
    "registries": "must be a table of registry sections",
    "aliases": "must be a table of alias = registry host",
    "deliveries": "must be a table of delivery sections",
    "metrics": "must be a table of metrics settings",
}


def _metrics_file(path: str, text: str, section: dict[str, object]) -> str | None:
    """The [metrics] table's textfile: absolute, and named *.prom as node_exporter reads."""
    for key in section:
        if key != "textfile":
            fail(path, text, key, f"unknown setting {key!r} in [metrics] (expected textfile)")
    value = section.get("textfile")
    if value is None:
        return None
    if not (isinstance(value, str) and value.startswith("/") and value.endswith(".prom")):
        fail(path, text, "textfile", "metrics.textfile must be an absolute path ending in .prom")
    return value


def _table(path: str, text: str, document: dict[str, object], key: str) -> dict[str, object]:
    found = document.get(key, {})
    if not isinstance(found, dict):
        fail(path, text, key, f"{key} {_TABLES[key]}")
    return found


def _section(path: str, text: str, host: str, section: object) -> RegistryConfig:
    if not isinstance(section, dict):
        fail(path, text, host, f"registries.{host!r} must be a table")
    for key, value in section.items():
        problem = _problem(host, key, value)
        if problem:
            fail(path, text, key, problem)
    if ("aws_access_key_id" in section) != ("aws_secret_access_key" in section):
        fail(path, text, host, f"{host!r} needs both aws_access_key_id and aws_secret_access_key")
    values = dict(section)
    if "duration_seconds" in values:
        values["duration_seconds"] = int(values["duration_seconds"])
    if "refresh_before" in values:
        values["refresh_before"] = float(values["refresh_before"])
    return RegistryConfig(values, source=path)


def _problem(host: str, key: str, value: object) -> str | None:
    """What is wrong with one setting of a registry's table, if anything.

    >>> _problem("h", "region", "")
    "region for 'h' must be a non-empty string"
    """
    if key not in _KEYS:
        return f"unknown setting {key!r} for {host!r}"
    if key in _STRINGS and not (isinstance(value, str) and value):
        return f"{key} for {host!r} must be a non-empty string"
    if key in _NUMBERS and not _is_seconds(value):
        return f"{key} for {host!r} must be a positive number of seconds"
    if key == "cache" and not isinstance(value, bool):
        return f"cache for {host!r} must be true or false"
    return None


def _is_seconds(value: object) -> bool:
    """A positive number (TOML's booleans are not numbers here).

    >>> [_is_seconds(v) for v in (1, 0.5, 0, True, "1")]
    [True, True, False, False, False]
    """
    return not isinstance(value, bool) and isinstance(value, int | float) and value > 0


def fail(path: str, text: str, key: str, message: str) -> NoReturn:
    """Raise InputError naming the file, the line where ``key`` first appears, and ``message``."""
    line = next(
        (
            n
            for n, row in enumerate(text.splitlines(), 1)
            if key in row and not row.lstrip().startswith("#")
        ),
        0,
    )
    where = f"{path}:{line}" if line else path
    raise InputError(f"{NAME}: {where}: {message}")


def files_for(environ: Mapping[str, str]) -> list[str]:
    """The configuration files that apply, lowest precedence first (they may not exist)."""
    explicit = environ.get("DOCKER_CREDENTIAL_ECR_CONFIG")
    if explicit:
        return [explicit]
    variable, under_home = XDG_CONFIG
    xdg = environ.get(variable, "")
    home = environ.get("HOME", "")
    if xdg.startswith("/"):
        user = os.path.join(xdg, USER_FILE)
    elif home.startswith("/"):
        user = os.path.join(home, under_home, USER_FILE)
    else:
        return [SYSTEM_FILE]
    return [SYSTEM_FILE, user]


def load(
    environ: Mapping[str, str],
    read: Callable[[str], tuple[str, os.stat_result] | None],
    check: Callable[[str], str | None],
) -> FileConfig:
    """Read and overlay the configuration files; no file means an empty configuration.

    ``read`` returns a file's text and its stat, or None when it does not exist.
    ``check`` says why a file must not be read (``trust.check_file``), or None: such
    a file is left out, and named in ``refused``; named by DOCKER_CREDENTIAL_ECR_CONFIG,
    it is an error.
    """
    config = FileConfig()
    explicit = bool(environ.get("DOCKER_CREDENTIAL_ECR_CONFIG"))
    for path in files_for(environ):
        why = check(path)
        if why and explicit:
            raise InputError(f"{NAME}: DOCKER_CREDENTIAL_ECR_CONFIG={path} cannot be used: {why}")
        if why:
            if os.path.lexists(path):  # else there is nothing to warn of, but it stays unread
                config.refused.append(f"not reading {path} ({why})")
            continue
        found = read(path)
        if found is None:
            if explicit:
                raise InputError(f"{NAME}: DOCKER_CREDENTIAL_ECR_CONFIG={path}: no such file")
            continue
        text, info = found
        layer = parse(text, path)
        if any(r.aws_secret_access_key for r in layer.registries.values()):
            _check_private(path, info)
        config.overlay(layer)
    return config


def _check_private(path: str, info: os.stat_result) -> None:
    """A file holding secret keys is the user's own and private (``load``'s check did the rest)."""
    if info.st_uid != os.geteuid() or info.st_mode & 0o077:
        mode = stat.filemode(info.st_mode)
        raise InputError(
            f"{NAME}: {path} holds AWS secret keys, so it must be owned by uid {os.geteuid()} and "
            f"readable by no one else (it is uid {info.st_uid}, mode {mode}); "
            f"fix with: chown {os.geteuid()} {path} && chmod 600 {path}"
        )


def check_with(euid: int) -> Callable[[str], str | None]:
    """The trusted-path rule for configuration files, as ``load`` takes it."""
    from docker_credential_ecr import trust

    return lambda path: trust.check_file(os.path.abspath(path), euid)


def read_file(path: str) -> tuple[str, os.stat_result] | None:
    """Read a configuration file, or None when it is not there."""
    from docker_credential_ecr import files

    try:
        found = files.read_regular(path)
        return None if found is None else (found[0].decode("utf-8"), found[1])
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{NAME}: cannot read {path}: {exc}") from None
