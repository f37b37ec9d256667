"""The credential store Docker talks to: ECR hosts get tokens, other hosts get stored logins."""

from __future__ import annotations

from docker_credential_ecr import registry
from docker_credential_ecr.errors import NAME, CacheError, CredentialsNotFound, TokenError
from docker_credential_ecr.token import DEFAULT_LIFETIME, AuthToken, expiry_of_password

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from docker_credential_ecr.cache import Cache
    from docker_credential_ecr.config import Settings
    from docker_credential_ecr.fileconfig import RegistryConfig, WebIdentity
    from docker_credential_ecr.logins import LoginStore
    from docker_credential_ecr.resolver import Resolver

    # Named here: the class's own list() hides the builtin.
    Logins = list[tuple[str, str]]
    Entries = list[tuple[str, str, AuthToken, bool]]


class EcrBackend:
    """Implements the protocol's Helper over a resolver, a token cache and a login store."""

    def __init__(
        self,
        resolver: Resolver,
        cache: Cache,
        logins: LoginStore,
        settings: Settings,
        clock: Callable[[], float],
        warn: Callable[[str], None],
        *,
        ignore_storage: bool = False,
    ) -> None:
        self._resolver = resolver
        self._cache = cache
        self._logins = logins
        self._settings = settings
        self._clock = clock
        self._warn = warn
        self._ignore_storage = ignore_storage

    def get(self, server_url: str) -> tuple[str, str]:
        """Return ``(username, secret)`` for a server, fetching an ECR token when needed."""
        reg = self.registry_for(server_url)
        if reg is None:
            found = self._logins.get(server_url)
            if found is None:
                raise CredentialsNotFound
            return found
        token = self._served(reg, self._settings.file.for_host(reg.host))
        return token.user, token.secret

    def lease(
        self, server_url: str, web_identity: WebIdentity | None = None
    ) -> tuple[AuthToken, float] | None:
        """A token for an ECR server and when it enters its refresh window; None if not ECR.

        ``web_identity`` (the kubelet mode) replaces the configured identity with
        a service account's role.  Raises CredentialsNotFound when ECR Public is
        to be pulled anonymously, TokenError when no token can be had.
        """
        reg = self.registry_for(server_url)
        if reg is None:
            return None
        config = self._settings.file.for_host(reg.host)
        if web_identity is not None:
            config = config.with_web_identity(web_identity)
        token = self._served(reg, config)
        return token, token.refresh_at(config.refresh_before)

    def _served(self, reg: registry.Registry, config: RegistryConfig) -> AuthToken:
        try:
            return self.token_for(reg, config=config)
        except TokenError:
            if reg.public:
                # ECR Public serves anonymous pulls; without a token the client should try that.
                raise CredentialsNotFound from None
            raise

    def add(self, server_url: str, username: str, secret: str) -> None:
        """Keep a ``docker login``: as the host's token for ECR, as a stored login otherwise."""
        if self._ignore_storage:
            return
        reg = self.registry_for(server_url)
        try:
            if reg is None:
                self._logins.put(server_url, username, secret)
                return
            if not self._cache.enabled:
                self._warn(f"caching is disabled, so the login for {reg.host} is not kept")
                return
            now = self._clock()
            expires = expiry_of_password(secret) or now + DEFAULT_LIFETIME
            token = AuthToken(username, secret, f"https://{reg.host}", now, expires)
            if token.expired(now):
                self._warn(f"the password given for {reg.host} has expired; not keeping it")
                return
            self._cache.write(self.key(reg.host), token, now)
        except (OSError, ValueError) as exc:
            raise CacheError(f"{NAME}: cannot store the login for {server_url}: {exc}") from None

    def delete(self, server_url: str) -> None:
        """Forget a login and any cached token for the server's host."""
        if self._ignore_storage:
            return
        try:
            self._logins.erase(server_url)
            reg = self.registry_for(server_url)
            if reg is not None:
                self._cache.erase_host(reg.host)
        except OSError as exc:
            raise CacheError(f"{NAME}: cannot erase {server_url}: {exc}") from None

    def list(self) -> dict[str, str]:
        """Return ``{server URL: username}`` for cached tokens and stored logins."""
        found: dict[str, str] = {}
        now = self._clock()
        for _key, token in self._cache.entries():
            if not token.expired(now):
                found[token.endpoint] = token.user
        found.update(self._logins.entries())
        return found

    def token_for(
        self,
        reg: registry.Registry,
        *,
        force: bool = False,
        config: RegistryConfig | None = None,
    ) -> AuthToken:
        """Return a token for an ECR registry, with its configured identity and cache rules."""
        config = config or self._settings.file.for_host(reg.host)
        return self._resolver.get(
            reg,
            self.key(reg.host, config),
            config,
            cached_ok=config.cache is not False,
            force=force,
        )

    def cached(self, reg: registry.Registry) -> tuple[AuthToken | None, RegistryConfig]:
        """The token cached for a registry under its configured identity, and that configuration."""
        config = self._settings.file.for_host(reg.host)
        return self._cache.read(self.key(reg.host, config)), config

    def cached_entries(self) -> Entries:
        """Every cached token: (host, identity tag, token, whether it is the current identity's)."""
        from docker_credential_ecr.cache import KEY_SEPARATOR

        found = []
        for cache_key, token in self._cache.entries():
            host, _, tag = cache_key.partition(KEY_SEPARATOR)
            found.append((host, tag, token, self.key(host) == cache_key))
        return found

    def list_logins(self) -> Logins:
        """``(server URL, username)`` of every login ``store`` kept."""
        return self._logins.entries()

    def key(self, host: str, config: RegistryConfig | None = None) -> str:
        """The cache key of a registry host: the host and the identity configured for it."""
        from docker_credential_ecr.cache import key

        config = config or self._settings.file.for_host(host)
        return key(host, self._settings.identity_tag(config.identity()))

    def registry_for(self, server_url: str) -> registry.Registry | None:
        """The ECR registry a server URL names, directly or through a configured alias."""
        target = self._settings.file.resolve_alias(registry.host_of(server_url))
        return registry.parse(target)
