"""Docker's config.json: add or remove our entries, keeping every other key, its mode and owner."""

from __future__ import annotations

import errno
import json
import os
import stat

from docker_credential_ecr import files

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

HELPER = "ecr"


def path_for(environ: Mapping[str, str]) -> str:
    """Where Docker reads its configuration: ``$DOCKER_CONFIG/config.json`` or ``~/.docker``."""
    directory = environ.get("DOCKER_CONFIG") or os.path.join(
        environ.get("HOME") or os.path.expanduser("~"), ".docker"
    )
    return os.path.join(directory, "config.json")


def container_paths(environ: Mapping[str, str], euid: int) -> list[str]:
    """The ``auth.json`` files podman, buildah and skopeo read (containers-auth.json(5)):
    ``$REGISTRY_AUTH_FILE`` alone if set; else each runtime one that exists (``podman
    login`` writes one, and once it exists they read no other: under
    ``$XDG_RUNTIME_DIR``, or ``/run/containers/<uid>``, where rootful podman keeps it
    even when that variable is set), then the persistent one under ``$XDG_CONFIG_HOME``
    (made if missing, so our entries survive a reboot).

    >>> container_paths({"HOME": "/h", "XDG_RUNTIME_DIR": "/nonexistent"}, 1000)
    ['/h/.config/containers/auth.json']
    """
    if environ.get("REGISTRY_AUTH_FILE"):
        return [environ["REGISTRY_AUTH_FILE"]]
    runtime = environ.get("XDG_RUNTIME_DIR")
    found = [os.path.join(runtime, "containers", "auth.json")] if runtime else []
    found.append(f"/run/containers/{euid}/auth.json")
    config = environ.get("XDG_CONFIG_HOME") or os.path.join(
        environ.get("HOME") or os.path.expanduser("~"), ".config"
    )
    existing = [p for p in dict.fromkeys(found) if os.path.exists(p)]
    return [*existing, os.path.join(config, "containers", "auth.json")]


def load(path: str) -> dict[str, object]:
    """Read config.json; a missing file (or directory) is an empty configuration."""
    try:
        directory = files.open_dir(os.path.dirname(path) or ".")
    except FileNotFoundError:
        return {}
    try:
        return parse(path, read_at(directory, os.path.basename(path)))
    finally:
        os.close(directory)


def read_at(directory: int, name: str) -> tuple[bytes, os.stat_result] | None:
    """A regular file's bytes and status, read through its open directory; None if absent.

    Never through a symlink (config.json is replaced whole, so a link would be
    lost anyway), never blocking on a FIFO.
    """
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC,
                     dir_fd=directory)  # fmt: skip
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError(f"{name} is a symlink; point it at the file itself") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(f"{name} is not a regular file")
        return os.read(fd, files.READ_LIMIT + 1)[: files.READ_LIMIT], info
    finally:
        os.close(fd)


def parse(path: str, found: tuple[bytes, os.stat_result] | None) -> dict[str, object]:
    """The JSON object a config.json holds (empty for a missing file)."""
    if found is None:
        return {}
    try:
        document = json.loads(found[0])
    except RecursionError:  # nested deeper than the parser goes: not a config.json
        raise ValueError(f"{path} is not valid JSON (nested too deeply)") from None
    if not isinstance(document, dict):
        raise ValueError(f"{path} does not hold a JSON object")  # noqa: TRY004 - bad data, not a bug
    return document


def edit(path: str, change: Callable[[dict[str, object]], dict[str, object]]) -> None:
    """Apply ``change`` to config.json and replace it atomically, all through one descriptor.

    The directory is opened once (made 0700 if missing), after the trusted-path rule
    passed for it and every directory above; the file is read, and its replacement
    written and renamed, through that descriptor.  Its mode (without set-ID bits)
    and, for root, its owner are kept; a new file is 0600.
    """
    parent = os.path.dirname(path) or "."
    try:
        directory = files.open_dir(parent)
    except FileNotFoundError:
        change({})  # a mistake in the change is reported before anything is made
        directory = files.open_dir(parent, create=True)
    try:
        name = os.path.basename(path)
        found = read_at(directory, name)
        data = render(change(parse(path, found))).encode()
        if found is None:
            files.replace_at(directory, name, data, 0o600)
            return
        info = found[1]
        owner = (info.st_uid, info.st_gid) if os.geteuid() == 0 else None
        files.replace_at(directory, name, data, info.st_mode, owner)
    finally:
        os.close(directory)


def configure(
    document: dict[str, object], registries: Iterable[str], creds_store: bool
) -> dict[str, object]:
    """Return ``document`` with our credHelpers entries (and credsStore) added.

    >>> configure({"auths": {}}, ["1.dkr.ecr.x"], False)
    {'auths': {}, 'credHelpers': {'1.dkr.ecr.x': 'ecr'}}
    """
    result = dict(document)
    helpers = dict(_helpers(result))
    helpers.update(dict.fromkeys(registries, HELPER))
    if helpers:
        result["credHelpers"] = helpers
    if creds_store:
        result["credsStore"] = HELPER
    return result


def unconfigure(document: dict[str, object], registries: Iterable[str] | None) -> dict[str, object]:
    """Return ``document`` without our entries (all of them, or those of ``registries``).

    >>> unconfigure({"credsStore": "ecr", "credHelpers": {"a": "ecr", "b": "pass"}}, None)
    {'credHelpers': {'b': 'pass'}}
    """
    result = dict(document)
    wanted = None if registries is None else set(registries)
    helpers = {
        host: name
        for host, name in _helpers(result).items()
        if name != HELPER or (wanted is not None and host not in wanted)
    }
    if helpers:
        result["credHelpers"] = helpers
    else:
        result.pop("credHelpers", None)
    if wanted is None and result.get("credsStore") == HELPER:
        del result["credsStore"]
    return result


def _helpers(document: Mapping[str, object]) -> dict[str, str]:
    helpers = document.get("credHelpers", {})
    if not isinstance(helpers, dict):
        raise ValueError("credHelpers is not a JSON object")  # noqa: TRY004 - bad data, not a bug
    return dict(helpers)


def render(document: Mapping[str, object]) -> str:
    """Serialise as Docker does: indented with tabs."""
    return json.dumps(document, indent="\t") + "\n"
