"""Credentials that ``docker login`` stores for registries that are not ECR.

They make ``credsStore: "ecr"`` a complete store: Docker keeps nothing secret
in config.json.  One 0600 JSON file per server, named by a hash of the
normalised server URL so that any URL maps to a safe file name.
"""

from __future__ import annotations

import os

from docker_credential_ecr import files

_SUFFIX = ".json"


def normalise(server_url: str) -> str:
    """Return the spelling-independent form of a server URL used as the store's key.

    >>> normalise(" HTTPS://Registry.Example:5000/v1/ ")
    'registry.example:5000/v1'
    """
    rest = server_url.strip()
    lowered = rest.lower()
    for scheme in ("https://", "http://"):
        if lowered.startswith(scheme):
            rest = rest[len(scheme) :]
            break
    host, slash, path = rest.partition("/")
    return host.lower() + (slash + path).rstrip("/")


class LoginStore:
    """Username and secret per server URL, kept under ``directory``.

    With no directory (none passed the trusted-path rule) nothing is kept or found.
    """

    def __init__(self, directory: str | None) -> None:
        self.directory = directory

    def _path(self, server_url: str) -> str:
        import hashlib

        if self.directory is None:
            raise OSError("no trusted directory to keep logins in")

        digest = hashlib.sha256(normalise(server_url).encode()).hexdigest()[:32]
        return os.path.join(self.directory, digest + _SUFFIX)

    def put(self, server_url: str, username: str, secret: str) -> None:
        """Keep a login; raises OSError when it cannot be written safely."""
        import json

        record = {"ServerURL": server_url, "Username": username, "Secret": secret}
        path = self._path(server_url)
        directory = os.path.dirname(path)
        files.ensure_private_dir(os.path.dirname(directory))
        files.ensure_private_dir(directory)
        files.write_private(path, json.dumps(record).encode())

    def get(self, server_url: str) -> tuple[str, str] | None:
        """Return ``(username, secret)`` kept for ``server_url``, or None."""
        if self.directory is None:
            return None
        record = self._load(self._path(server_url))
        return None if record is None else (record[1], record[2])

    def erase(self, server_url: str) -> None:
        """Forget the login for ``server_url`` if there is one."""
        if self.directory is not None:
            files.remove(self._path(server_url))

    def entries(self) -> list[tuple[str, str]]:
        """Return ``(server URL, username)`` for every readable login."""
        if self.directory is None:
            return []
        try:
            names = sorted(n for n in os.listdir(self.directory) if n.endswith(_SUFFIX))
        except OSError:
            return []
        found = (self._load(os.path.join(self.directory, n)) for n in names)
        return [(r[0], r[1]) for r in found if r is not None]

    @staticmethod
    def _load(path: str) -> tuple[str, str, str] | None:
        data = files.read_private(path)
        if data is None:
            return None
        import json

        try:
            record = json.loads(data)
            fields = (record["ServerURL"], record["Username"], record["Secret"])
        except (ValueError, TypeError, KeyError, RecursionError):
            return None
        if not all(isinstance(f, str) for f in fields):
            return None
        return fields
