"""The token logic: serve a fresh cached token, else refresh once under a lock.

Seams: the cache, the fetcher (which talks to AWS), the clock and the warning
sink are all passed in, so tests drive every branch without a network.
"""

from __future__ import annotations

from docker_credential_ecr import log
from docker_credential_ecr.errors import TokenError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Protocol

    from docker_credential_ecr.registry import Registry
    from docker_credential_ecr.token import AuthToken

    class Cache(Protocol):
        """What the resolver needs of a token cache."""

        def read(self, key: str) -> AuthToken | None: ...
        def write(self, key: str, token: AuthToken, now: float) -> None: ...
        def acquire(self, key: str, timeout: float) -> Callable[[], None]: ...
        def note_failure(self, key: str, reason: str) -> None: ...
        def last_failure(self, key: str) -> str | None: ...

    from docker_credential_ecr.fileconfig import RegistryConfig

    Fetcher = Callable[[Registry, RegistryConfig], AuthToken]


class Resolver:
    """Find a token for a registry: cache hit, locked refresh, or stale-but-valid fallback."""

    def __init__(
        self,
        cache: Cache | None,
        fetch: Fetcher,
        clock: Callable[[], float],
        warn: Callable[[str], None],
        lock_timeout: float,
        background: Callable[[Registry, str], bool] | None = None,
    ) -> None:
        """``background(registry, key)`` starts a refresh in another process and says whether
        it did; without it, a token in its refresh window is refreshed before answering."""
        self._cache = cache
        self._background = background
        self._fetch = fetch
        self._clock = clock
        self._warn = warn
        self._lock_timeout = lock_timeout

    def get(
        self,
        registry: Registry,
        key: str,
        config: RegistryConfig,
        *,
        cached_ok: bool = True,
        force: bool = False,
    ) -> AuthToken:
        """Return a token that may be served for ``registry``; raise TokenError if there is none.

        ``config`` is the registry's file configuration: identity, refresh
        window; ``cached_ok=False`` bypasses the cache for this registry;
        ``force`` fetches even when the cached token is fresh (and caches it).
        """
        cache = self._cache if cached_ok else None
        refresh_before = config.refresh_before
        if cache is None:
            return self._fetch_checked(registry, config)
        cached = cache.read(key)
        now = self._clock()
        if not force and cached is not None and cached.fresh(now, refresh_before):
            log.debug("cache hit for %s", key)
            return cached
        if not force and cached is not None and cached.usable(now) and self._background is not None:
            # Valid but due: answer now; the network is another process's business.
            failure = cache.last_failure(key)
            if failure is not None:
                self._warn(f"{failure}; serving the cached token for {registry.host}")
            if self._background(registry, key):
                log.debug("refreshing %s in the background", key)
                return cached
        release, writable = self._lock(cache, key)
        try:
            # Another process may have refreshed while this one waited.
            cached = cache.read(key) or cached
            if not force and cached is not None and cached.fresh(self._clock(), refresh_before):
                log.debug("refreshed by another process: %s", key)
                return cached
            try:
                token = self._fetch_checked(registry, config)
            except TokenError as exc:
                cache.note_failure(key, exc.reason)
                if cached is not None and cached.usable(self._clock()):
                    self._warn(f"{exc.reason}; serving the cached token for {registry.host}")
                    return cached
                raise
            now = self._clock()
            if writable and not token.expired(now):
                try:
                    cache.write(key, token, now)
                except OSError as exc:
                    self._warn(f"cannot write the token cache ({exc}); continuing without it")
            return token
        finally:
            if release is not None:
                release()

    def _lock(self, cache: Cache, key: str) -> tuple[Callable[[], None] | None, bool]:
        """Take the refresh lock: (its release, or None; whether the cache can be written).

        A busy lock past its bound means refreshing without it; a cache
        directory that cannot even hold a lock file will not take the token
        either, so that is the one warning this call gives.
        """
        try:
            return cache.acquire(key, self._lock_timeout), True
        except TimeoutError as exc:
            self._warn(f"{exc}; refreshing without it")
            return None, True
        except OSError as exc:
            self._warn(f"cannot use the token cache ({exc}); continuing without it")
            return None, False

    def _fetch_checked(self, registry: Registry, config: RegistryConfig) -> AuthToken:
        token = self._fetch(registry, config)
        if token.expired(self._clock()):
            self._warn(
                f"the token for {registry.host} expires at {token.expires_at:.0f}, which is past "
                "by this host's clock; check the clock. Using it once without caching it"
            )
        return token
