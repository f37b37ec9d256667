"""Docker's config.json: add or remove our entries, keeping every other key, its mode and owner."""

from __future__ import annotations

import json
import os

from docker_credential_ecr import files

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

HELPER = "ecr"


def path_for(environ: Mapping[str, str]) -> str:
    """Where Docker reads its configuration: ``$DOCKER_CONFIG/config.json`` or ``~/.docker``."""
    directory = environ.get("DOCKER_CONFIG") or os.path.join(
        environ.get("HOME") or os.path.expanduser("~"), ".docker"
    )
    return os.path.join(directory, "config.json")


def load(path: str) -> dict[str, object]:
    """Read config.json; a missing file is an empty configuration."""
    from docker_credential_ecr import files

    found = files.read_regular(path)
    if found is None:
        return {}
    try:
        document = json.loads(found[0])
    except RecursionError:  # nested deeper than the parser goes: not a config.json
        raise ValueError(f"{path} is not valid JSON (nested too deeply)") from None
    if not isinstance(document, dict):
        raise ValueError(f"{path} does not hold a JSON object")  # noqa: TRY004 - bad data, not a bug
    return document


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


def save(path: str, document: Mapping[str, object]) -> None:
    """Atomically replace ``path``, keeping its mode and owner (0600 for a new file)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        files.replace_file(path, render(document).encode())
        return
    owner = (info.st_uid, info.st_gid) if os.geteuid() == 0 else None
    files.replace_file(path, render(document).encode(), info.st_mode & 0o7777, owner)
