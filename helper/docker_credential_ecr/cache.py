"""The on-disk token cache: one small file per registry host and AWS identity.

Reads take no lock: every write is atomic.  A refresh holds filelock's flock
on a separate ``.lock`` file, which is not deleted while anyone may hold it, so
that every waiter locks the same inode; filelock opens it with ``O_NOFOLLOW``
and mode 0600.  filelock is imported only when a lock is wanted: a cache hit
takes none.  The file format is plain lines, not JSON, because a cache hit must
stay cheap to start.
"""

from __future__ import annotations

import os

from docker_credential_ecr import files
from docker_credential_ecr.token import AuthToken

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from filelock import UnixFileLock

MAGIC = "docker-credential-ecr token v1"
SUFFIX = ".token"
KEY_SEPARATOR = "~"
_FAILED = ".failed"
_LOCK = ".lock"
# A lock or failure note whose token is gone and that nothing touched for this long
# belongs to an identity no longer used: a service account's token the kubelet has
# replaced (each has its own key), a profile since edited.
ORPHAN_AGE = 86400.0


# How often a waiter tries the lock again: it goes on within this long of the
# holder finishing, and 31 waiters polling this often cost a stampede little.
POLL_INTERVAL = 0.01


def _file_lock(path: str) -> UnixFileLock:
    """The refresh lock at ``path``: a flock, never a soft lock, the file kept on release."""
    import filelock

    # thread_local=False: whoever has the release function may call it.
    return filelock.UnixFileLock(
        path,
        mode=0o600,
        thread_local=False,
        poll_interval=POLL_INTERVAL,
        preserve_lock_file=True,
    )


def key(host: str, identity_tag: str) -> str:
    """The cache key of a registry host for an identity: also its file's name, less SUFFIX.

    >>> key("1.dkr.ecr.x", "default")
    '1.dkr.ecr.x~default'
    """
    return f"{host}{KEY_SEPARATOR}{identity_tag}"


def host_of_key(cache_key: str) -> str:
    """The registry host a cache key is for.

    >>> host_of_key(key("1.dkr.ecr.x", "default"))
    '1.dkr.ecr.x'
    """
    return cache_key.partition(KEY_SEPARATOR)[0]


def encode(token: AuthToken) -> bytes:
    """Serialise a token to the cache file format.

    >>> decode(encode(AuthToken("AWS", "pw", "https://h", 1.0, 2.5)))
    AuthToken(user='AWS', endpoint='https://h', requested_at=1.0, expires_at=2.5)
    """
    fields = (token.user, token.secret, token.endpoint)
    if any("\n" in f or "\r" in f for f in fields):
        raise ValueError("token fields must not contain line breaks")
    lines = (MAGIC, repr(token.requested_at), repr(token.expires_at), *fields)
    return ("\n".join(lines) + "\n").encode()


def decode(data: bytes) -> AuthToken | None:
    """Parse a cache file; anything malformed reads as None (an empty cache).

    C twin: packaging/fastpath.c decode

    >>> decode(b"garbage") is None
    True
    """
    try:
        magic, requested, expires, user, secret, endpoint, end = data.decode().split("\n")
        token = AuthToken(user, secret, endpoint, float(requested), float(expires))
    except ValueError:
        return None
    if magic != MAGIC or end or not secret or not token.expires_at > token.requested_at:
        return None
    return token


class TokenCache:
    """Tokens on disk under ``directory``, keyed by ``<host>~<identity tag>``."""

    enabled = True

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def _path(self, key: str) -> str:
        return os.path.join(self.directory, key + SUFFIX)

    def read(self, key: str) -> AuthToken | None:
        """Return the cached token for ``key``, or None when absent or unreadable.

        C twin: packaging/fastpath.c read_token
        """
        data = files.read_private(self._path(key))
        return None if data is None else decode(data)

    def write(self, key: str, token: AuthToken, now: float) -> None:
        """Store ``token`` under ``key``; drop expired entries and dead writers' leftovers.

        Raises OSError when the cache cannot be written safely.
        """
        files.ensure_private_dir(self.directory)
        files.write_private(self._path(key), encode(token))
        files.remove(os.path.join(self.directory, key + _FAILED))
        for other, cached in self._entries():
            if other != key and cached.expired(now):
                files.remove(self._path(other))
        files.remove_stale_temporaries(self.directory, now)
        self._remove_orphans(now)

    def _remove_orphans(self, now: float) -> None:
        """Remove locks and failure notes of keys that have no token and were not used lately.

        A lock file is removed only while we hold its lock, so no refresh is
        holding it; a waiter that opened it before finds it unlinked once it has
        the lock, and filelock then takes the lock of the file at the path anew.
        """
        try:
            names = set(os.listdir(self.directory))
        except OSError:
            return
        for name in names:
            stem, dot, ending = name.rpartition(".")
            if not dot or "." + ending not in (_LOCK, _FAILED) or stem + SUFFIX in names:
                continue
            path = os.path.join(self.directory, name)
            try:
                if os.lstat(path).st_mtime >= now - ORPHAN_AGE:
                    continue
                if "." + ending == _LOCK:
                    _remove_unused(path)
                else:
                    os.unlink(path)
            except OSError:
                pass

    def acquire(self, key: str, timeout: float) -> Callable[[], None]:
        """Take the refresh lock for ``key`` and return the function that releases it.

        Raises OSError when the lock file cannot be made or is not a plain file
        of ours (a link, another account's) and TimeoutError when the lock is
        not had within ``timeout`` seconds.
        """
        lock = self._lock(key)
        try:
            lock.acquire(timeout=timeout)
        except TimeoutError:  # filelock.Timeout, which names the path rather than the key
            raise TimeoutError(f"refresh lock for {key} busy for {timeout:g}s") from None
        return lock.release

    def refreshing(self, key: str) -> bool:
        """Tell whether another process holds the refresh lock for ``key`` at this instant.

        Raises OSError when the lock file cannot be opened.
        """
        lock = self._lock(key)
        try:
            lock.acquire(blocking=False)
        except TimeoutError:
            return True
        lock.release()
        return False

    def _lock(self, key: str) -> UnixFileLock:
        """The refresh lock of ``key``, in the private directory it needs."""
        files.ensure_private_dir(self.directory)
        return _file_lock(os.path.join(self.directory, key + _LOCK))

    def note_failure(self, key: str, reason: str) -> None:
        """Remember why the last refresh of ``key`` failed (cleared by the next write)."""
        try:
            files.ensure_private_dir(self.directory)
            files.write_private(os.path.join(self.directory, key + _FAILED), reason.encode())
        except OSError:
            pass  # best effort: the failure itself is what matters, and it is reported

    def last_failure(self, key: str) -> str | None:
        """Why the last refresh of ``key`` failed, if it did and nothing has been written since."""
        data = files.read_private(os.path.join(self.directory, key + _FAILED), 4096)
        return None if data is None else data.decode(errors="replace")

    def erase_host(self, host: str) -> None:
        """Remove every cached token for ``host``, whatever the identity."""
        prefix = key(host, "")
        try:
            names = os.listdir(self.directory)
        except OSError:
            return
        for name in names:
            if name.startswith(prefix) and name.endswith((SUFFIX, _FAILED)):
                files.remove(os.path.join(self.directory, name))

    def entries(self) -> list[tuple[str, AuthToken]]:
        """Return ``(key, token)`` for every readable cache entry."""
        return list(self._entries())

    def _names(self) -> list[str]:
        try:
            return [n for n in os.listdir(self.directory) if n.endswith(SUFFIX)]
        except OSError:
            return []

    def _entries(self) -> Iterator[tuple[str, AuthToken]]:
        for name in self._names():
            token = self.read(name[: -len(SUFFIX)])
            if token is not None:
                yield name[: -len(SUFFIX)], token


def _remove_unused(path: str) -> None:
    """Unlink a lock file, if no one holds its lock."""
    lock = _file_lock(path)
    try:
        lock.acquire(blocking=False)
    except TimeoutError:
        return
    try:
        os.unlink(path)
    finally:
        lock.release()


def _nothing() -> None:
    """Release a lock that was never taken."""


class NullCache:
    """The cache when there is none (disabled, or no trusted directory): keeps nothing.

    It has TokenCache's methods, so callers never ask which of the two they hold.
    """

    enabled = False

    def read(self, key: str) -> AuthToken | None:
        """Nothing is cached."""
        return None

    def write(self, key: str, token: AuthToken, now: float) -> None:
        """Keep nothing."""

    def acquire(self, key: str, timeout: float) -> Callable[[], None]:
        """No lock is needed where nothing is written."""
        return _nothing

    def refreshing(self, key: str) -> bool:
        """No refresh runs for a cache that keeps nothing."""
        return False

    def note_failure(self, key: str, reason: str) -> None:
        """Remember nothing."""

    def last_failure(self, key: str) -> str | None:
        """Nothing was remembered."""
        return None

    def erase_host(self, host: str) -> None:
        """There is nothing to erase."""

    def entries(self) -> list[tuple[str, AuthToken]]:
        """No entries."""
        return []


Cache = TokenCache | NullCache
