"""The interfaces between the layers: what each protocol needs of a backend, and the
resolver of a cache and a fetcher.  For type checkers only: nothing imports this module
at run time.

Every module of the helper imports what it needs only for annotations this way::

    TYPE_CHECKING = False
    if TYPE_CHECKING:
        from docker_credential_ecr.seams import Helper

mypy treats any variable named ``TYPE_CHECKING`` as ``typing.TYPE_CHECKING``; at run
time the block is skipped without importing ``typing`` (about 12 ms on a cold start,
more than a whole native cache hit), and with ``from __future__ import annotations`` no
annotation is evaluated.  So the Python path of a ``get`` loads neither ``typing`` nor
this module: it imports ``typing``, which the import-profile test of a cache hit
(``tests/test_imports.py``) forbids.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from docker_credential_ecr.fileconfig import RegistryConfig, WebIdentity
from docker_credential_ecr.registry import Registry
from docker_credential_ecr.token import AuthToken


class Helper(Protocol):
    """A credential store: what the Docker protocol (``protocol.handle``) needs of a backend."""

    def add(self, server_url: str, username: str, secret: str) -> None:
        """Keep credentials for a server (``store``)."""

    def delete(self, server_url: str) -> None:
        """Forget the credentials for a server (``erase``)."""

    def get(self, server_url: str) -> tuple[str, str]:
        """Return ``(username, secret)`` for a server or raise CredentialsNotFound."""
        ...

    def list(self) -> dict[str, str]:
        """Return ``{server URL: username}`` of everything known."""
        ...


class Provider(Protocol):
    """What the kubelet mode (``kubelet.handle``) needs of a backend."""

    def lease(
        self, server_url: str, web_identity: WebIdentity | None = None
    ) -> tuple[AuthToken, float] | None:
        """A token and when it enters its refresh window, or None for a host not ECR's."""
        ...


class Cache(Protocol):
    """What the resolver needs of a token cache (``cache.TokenCache``, ``cache.NullCache``)."""

    def read(self, key: str) -> AuthToken | None:
        """The token cached under ``key``, or None."""
        ...

    def write(self, key: str, token: AuthToken, now: float) -> None:
        """Cache ``token`` under ``key``."""

    def acquire(self, key: str, timeout: float) -> Callable[[], None]:
        """Take the refresh lock of ``key``; return its release."""
        ...

    def note_failure(self, key: str, reason: str) -> None:
        """Record why the last refresh of ``key`` failed."""

    def last_failure(self, key: str) -> str | None:
        """Why the last refresh of ``key`` failed, if it did."""
        ...


# Fetch a token from AWS for a registry and its identity (ecr.make_fetcher's result).
Fetcher = Callable[[Registry, RegistryConfig], AuthToken]
