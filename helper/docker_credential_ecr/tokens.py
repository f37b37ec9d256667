"""Tokens for ECR registries: the service the kubelet mode, the Docker store and the
operator commands share.

A server URL is resolved once into a ``Target``: the registry it names (directly or
through an alias), the configuration section that applies, and the cache key of that
identity.  Everything after works on the target, so the configuration is looked up in
one place.
"""

from __future__ import annotations

from docker_credential_ecr.errors import CredentialsNotFound, TokenError
from docker_credential_ecr.registry import Registry, host_of, parse
from docker_credential_ecr.resolver import Target

TYPE_CHECKING = False  # the idiom: see seams.py
if TYPE_CHECKING:
    from collections.abc import Callable

    from docker_credential_ecr.cache import Cache
    from docker_credential_ecr.fileconfig import FileConfig, RegistryConfig, WebIdentity
    from docker_credential_ecr.resolver import Resolver
    from docker_credential_ecr.token import AuthToken


class Entry:
    """A cached token as the commands show it: whose, and when its refresh is due."""

    __slots__ = ("current", "host", "refresh_at", "tag", "token")

    def __init__(
        self, host: str, tag: str, token: AuthToken, current: bool, config: RegistryConfig
    ) -> None:
        self.host = host
        self.tag = tag
        self.token = token
        self.current = current  # whether it is the identity configured now
        self.refresh_at = token.refresh_at(config.refresh_before)


class TokenService:
    """Tokens for ECR registries under their configured identities and cache rules."""

    def __init__(
        self,
        resolver: Resolver,
        cache: Cache,
        file: FileConfig,
        identity_tag: Callable[[str], str],
    ) -> None:
        self._resolver = resolver
        self._cache = cache
        self._file = file
        self._identity_tag = identity_tag

    def target(self, server_url: str, web_identity: WebIdentity | None = None) -> Target | None:
        """The target a server URL names, directly or through an alias; None if not ECR's.

        ``web_identity`` (the kubelet mode) replaces the configured identity with a
        service account's role, and so the cache key too.
        """
        found = parse(self._file.resolve_alias(host_of(server_url)))
        if found is None:
            return None
        config = self._file.for_host(found.host)
        if web_identity is not None:
            config = config.with_web_identity(web_identity)
        return self._target(found, config)

    def _target(self, registry: Registry, config: RegistryConfig) -> Target:
        from docker_credential_ecr.cache import key

        return Target(registry, config, key(registry.host, self._identity_tag(config.identity())))

    def token(self, target: Target, *, force: bool = False) -> AuthToken:
        """A token for the target: cached if fresh, else refreshed under the lock."""
        return self._resolver.get(target, force=force)

    def served(self, target: Target) -> AuthToken:
        """A token for a client about to pull; CredentialsNotFound where it may go anonymous."""
        try:
            return self.token(target)
        except TokenError:
            if target.registry.public:
                # ECR Public serves anonymous pulls; without a token the client should try that.
                raise CredentialsNotFound from None
            raise

    def lease(
        self, server_url: str, web_identity: WebIdentity | None = None
    ) -> tuple[AuthToken, float] | None:
        """A token and when it enters its refresh window (the kubelet's seams.Provider).

        None for a host not ECR's; raises CredentialsNotFound when ECR Public is to be
        pulled anonymously, TokenError when no token can be had.
        """
        target = self.target(server_url, web_identity)
        if target is None:
            return None
        token = self.served(target)
        return token, token.refresh_at(target.config.refresh_before)

    def configured(self) -> list[str]:
        """The registries the configuration names exactly, and its aliases' own names."""
        exact = [h for h in self._file.registries if parse(h) is not None]
        return sorted({*exact, *self._file.aliases})

    def cached(self, target: Target) -> AuthToken | None:
        """The token cached for the target, fresh or not, without calling AWS."""
        return self._cache.read(target.key)

    def cached_entries(self) -> list[Entry]:
        """Every cached token, under whichever identity it was cached."""
        from docker_credential_ecr.cache import KEY_SEPARATOR, key

        found = []
        for cache_key, token in self._cache.entries():
            host, _, tag = cache_key.partition(KEY_SEPARATOR)
            config = self._file.for_host(host)
            current = key(host, self._identity_tag(config.identity())) == cache_key
            found.append(Entry(host, tag, token, current, config))
        return found
