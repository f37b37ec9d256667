"""The credential store Docker talks to (seams.Helper): ECR hosts get tokens from the
token service, other hosts the logins ``docker login`` stored."""

from __future__ import annotations

from docker_credential_ecr.errors import NAME, CacheError, CredentialsNotFound
from docker_credential_ecr.token import DEFAULT_LIFETIME, AuthToken, expiry_of_password

TYPE_CHECKING = False  # the idiom: see seams.py
if TYPE_CHECKING:
    from collections.abc import Callable

    from docker_credential_ecr.cache import Cache
    from docker_credential_ecr.logins import LoginStore
    from docker_credential_ecr.tokens import TokenService


class DockerStore:
    """The protocol's four actions over the token service, the token cache and the logins."""

    def __init__(
        self,
        tokens: TokenService,
        cache: Cache,
        logins: LoginStore,
        clock: Callable[[], float],
        warn: Callable[[str], None],
        *,
        ignore_storage: bool = False,
    ) -> None:
        self._tokens = tokens
        self._cache = cache
        self._logins = logins
        self._clock = clock
        self._warn = warn
        self._ignore_storage = ignore_storage

    def get(self, server_url: str) -> tuple[str, str]:
        """Return ``(username, secret)`` for a server, fetching an ECR token when needed."""
        target = self._tokens.target(server_url)
        if target is None:
            found = self._logins.get(server_url)
            if found is None:
                raise CredentialsNotFound
            return found
        token = self._tokens.served(target)
        return token.user, token.secret

    def add(self, server_url: str, username: str, secret: str) -> None:
        """Keep a ``docker login``: as the host's token for ECR, as a stored login otherwise."""
        if self._ignore_storage:
            return
        target = self._tokens.target(server_url)
        try:
            if target is None:
                self._logins.put(server_url, username, secret)
                return
            if not self._cache.enabled:
                self._warn(f"caching is disabled, so the login for {target.host} is not kept")
                return
            now = self._clock()
            expires = expiry_of_password(secret) or now + DEFAULT_LIFETIME
            token = AuthToken(username, secret, f"https://{target.host}", now, expires)
            if token.expired(now):
                self._warn(f"the password given for {target.host} has expired; not keeping it")
                return
            self._cache.write(target.key, token, now)
        except (OSError, ValueError) as exc:
            raise CacheError(f"{NAME}: cannot store the login for {server_url}: {exc}") from None

    def delete(self, server_url: str) -> None:
        """Forget a login and any cached token for the server's host."""
        if self._ignore_storage:
            return
        try:
            self._logins.erase(server_url)
            target = self._tokens.target(server_url)
            if target is not None:
                self._cache.erase_host(target.host)
        except OSError as exc:
            raise CacheError(f"{NAME}: cannot erase {server_url}: {exc}") from None

    def list(self) -> dict[str, str]:
        """Return ``{server URL: username}`` for cached tokens, stored logins, and the
        configured registries and aliases that have no token yet.

        ``docker build`` with ``credsStore`` (the legacy builder) asks ``get`` for each
        one listed, so a registry listed only once cached would fail its first build.
        Listing calls no AWS.
        """
        found: dict[str, str] = {f"https://{host}": "AWS" for host in self._tokens.configured()}
        now = self._clock()
        for _key, token in self._cache.entries():
            if not token.expired(now):
                found[token.endpoint] = token.user
        found.update(self._logins.entries())
        return found
