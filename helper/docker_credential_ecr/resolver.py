"""The token logic: serve a fresh cached token, else refresh once under a lock.

Seams: the cache, the fetcher (which talks to AWS), the clock and the warning
sink are all passed in, so tests drive every branch without a network.
"""

from __future__ import annotations

from docker_credential_ecr import log
from docker_credential_ecr.cache import NullCache
from docker_credential_ecr.errors import TokenError
from docker_credential_ecr.token import CLOCK_SKEW, describe_offset

TYPE_CHECKING = False  # the idiom: see seams.py
if TYPE_CHECKING:
    from collections.abc import Callable

    from docker_credential_ecr.fileconfig import RegistryConfig
    from docker_credential_ecr.registry import Registry
    from docker_credential_ecr.seams import Cache, Fetcher
    from docker_credential_ecr.token import AuthToken


_NO_CACHE = NullCache()


class Target:
    """A registry resolved once (``tokens.TokenService.target``): the registry, the
    configuration for it, and the cache key of that identity."""

    # Not a dataclass: a cache hit does not import dataclasses.
    __slots__ = ("config", "key", "registry")

    def __init__(self, registry: Registry, config: RegistryConfig, key: str) -> None:
        self.registry = registry
        self.config = config
        self.key = key

    @property
    def host(self) -> str:
        """The registry's host."""
        return self.registry.host


class Resolver:
    """Find a token for a registry: cache hit, locked refresh, or stale-but-valid fallback."""

    def __init__(
        self,
        cache: Cache,
        fetch: Fetcher,
        clock: Callable[[], float],
        warn: Callable[[str], None],
        lock_timeout: float,
        background: Callable[[Target], bool] | None = None,
    ) -> None:
        """``background(target)`` starts a refresh in another process and says whether it
        did; without it, a token in its refresh window is refreshed before answering."""
        self._cache = cache
        self._background = background
        self._fetch = fetch
        self._clock = clock
        self._warn = warn
        self._lock_timeout = lock_timeout

    def get(self, target: Target, *, force: bool = False) -> AuthToken:
        """Return a token that may be served for ``target``; raise TokenError if there is none.

        The target's configuration gives the identity, the refresh window, and whether
        its tokens are cached at all (``cache = false``); ``force`` fetches even when
        the cached token is fresh (and caches it).
        """
        config, key = target.config, target.key
        cache = self._cache if config.cache is not False else _NO_CACHE
        cached = cache.read(key)
        if not force and cached is not None:
            now = self._clock()
            if cached.fresh(now, config.refresh_before):
                log.debug("cache hit for %s", key)
                return cached
            if cached.usable(now) and self._handed_off(cache, target):
                return cached
        return self._refresh(cache, target, cached, force=force)

    def _handed_off(self, cache: Cache, target: Target) -> bool:
        """A valid token in its refresh window: have another process refresh it, if allowed.

        The network is then that process's business; this one answers at once.
        """
        if self._background is None:
            return False
        failure = cache.last_failure(target.key)
        if failure is not None:
            self._warn(f"{failure}; serving the cached token for {target.host}")
        if not self._background(target):
            return False
        log.debug("refreshing %s in the background", target.key)
        return True

    def _refresh(
        self, cache: Cache, target: Target, cached: AuthToken | None, *, force: bool
    ) -> AuthToken:
        """Fetch under the refresh lock; fall back to a still-valid cached token on failure."""
        release, writable = self._lock(cache, target.key)
        try:
            # Another process may have refreshed while this one waited.
            cached = cache.read(target.key) or cached
            if (
                not force
                and cached is not None
                and cached.fresh(self._clock(), target.config.refresh_before)
            ):
                log.debug("refreshed by another process: %s", target.key)
                return cached
            return self._fetch_or_fall_back(cache, target, cached, writable)
        finally:
            if release is not None:
                release()

    def _fetch_or_fall_back(
        self, cache: Cache, target: Target, cached: AuthToken | None, writable: bool
    ) -> AuthToken:
        """A new token, kept if the cache can take it; else ``cached`` while it is valid."""
        try:
            token = self._fetch_checked(target.registry, target.config)
        except TokenError as exc:
            cache.note_failure(target.key, exc.reason)
            if cached is not None and cached.usable(self._clock()):
                self._warn(f"{exc.reason}; serving the cached token for {target.host}")
                return cached
            raise
        if writable:
            self._keep(cache, target.key, token)
        return token

    def _keep(self, cache: Cache, key: str, token: AuthToken) -> None:
        now = self._clock()
        if token.expired(now):
            return
        try:
            cache.write(key, token, now)
        except OSError as exc:
            self._warn(f"cannot write the token cache ({exc}); continuing without it")

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
        offset = token.clock_offset
        if offset is not None and abs(offset) > CLOCK_SKEW:
            # The token is timed by AWS's clock and cached; the warning is for the clock.
            self._warn(
                f"{describe_offset(offset)} (by the Date of its answer for {registry.host}); "
                "tokens are timed by AWS's clock, but AWS refuses requests signed more than "
                "5 minutes off: set the clock, with NTP"
            )
        elif token.expired(self._clock()):
            self._warn(
                f"the token for {registry.host} expires at {token.expires_at:.0f}, which is past "
                "by this host's clock; check the clock. Using it once without caching it"
            )
        return token
