"""Private files: a 0700 directory the user owns, 0600 files written atomically.

Everything here refuses to follow symlinks and to trust files or directories
that another user owns or can write, because the helper often runs as root and
its files hold registry credentials.
"""

from __future__ import annotations

import os
import stat

_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC
# Opening a FIFO for reading blocks until a writer comes; O_NONBLOCK makes the open
# return at once, and fstat then tells that it is not a regular file.
_READ = os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW
READ_LIMIT = 1 << 20
TEMPORARY = ".tmp-"


def read_private(path: str, limit: int = READ_LIMIT) -> bytes | None:
    """Return a file's bytes if it is a regular file we own that no one else can read.

    Anything else (missing, a symlink, a directory, foreign or loose
    permissions, unreadable, larger than ``limit``) reads as None: the caller
    treats it as absent.
    """
    try:
        fd = os.open(path, _READ)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if (
            not stat.S_ISREG(info.st_mode)
            or info.st_uid != os.geteuid()
            or info.st_mode & 0o077
            or info.st_size > limit
        ):
            return None
        return os.read(fd, limit + 1)[:limit] if info.st_size else b""
    except OSError:
        return None
    finally:
        os.close(fd)


def read_regular(path: str) -> tuple[bytes, os.stat_result] | None:
    """Return a regular file's bytes (up to READ_LIMIT) and status, or None if it is absent.

    Raises OSError for anything else: a FIFO, device or directory, which must
    neither hang the helper nor be read, or a file that cannot be read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(f"{path} is not a regular file")
        return os.read(fd, READ_LIMIT + 1)[:READ_LIMIT], info
    finally:
        os.close(fd)


def ensure_private_dir(path: str) -> None:
    """Create ``path`` as a 0700 directory, or check an existing one.

    An existing directory is never chmod-ed: it may be shared, and what others
    wrote into it while it was open cannot be undone.  Raises OSError with a
    one-line reason when it is not safe: a symlink, not a directory, owned by
    another user, or writable by group or others.
    """
    os.makedirs(path, mode=0o700, exist_ok=True)
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise OSError(f"{path} is a symlink")
    if not stat.S_ISDIR(info.st_mode):
        raise OSError(f"{path} is not a directory")
    if info.st_uid != os.geteuid():
        raise OSError(f"{path} is owned by uid {info.st_uid}, not {os.geteuid()}")
    if info.st_mode & 0o022:
        raise OSError(f"{path} is writable by others (mode {stat.S_IMODE(info.st_mode):o})")


def write_private(path: str, data: bytes) -> None:
    """Atomically replace ``path`` with ``data`` as a 0600 file in an already-private directory.

    The data goes to a new temporary file beside ``path`` that is synced and
    renamed over it, so readers see the old or the new content, never a part.
    """
    replace_file(path, data, 0o600)


def replace_file(
    path: str, data: bytes, mode: int = 0o600, owner: tuple[int, int] | None = None
) -> None:
    """Atomically replace ``path`` (in any directory) with ``data``, ``mode`` and ``owner``.

    For files outside the private cache directory: Docker's config.json, an
    exported pull secret.  The temporary file is created 0600 and only then
    given ``mode``, so the data is never readable by others on the way.
    """
    directory = os.path.dirname(path) or "."
    tmp = os.path.join(
        directory, f".{os.path.basename(path)}{TEMPORARY}{os.getpid()}-{os.urandom(4).hex()}"
    )
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fchmod(fd, mode)
            if owner is not None:
                os.fchown(fd, *owner)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except BaseException:
        remove(tmp)
        raise


def remove_stale_temporaries(directory: str, now: float, age: float = 600.0) -> None:
    """Remove temporary files that a writer killed mid-write left behind.

    A live writer renames its temporary file within milliseconds; one older
    than ``age`` seconds belongs to a process that died.
    """
    try:
        names = [n for n in os.listdir(directory) if n.startswith(".") and TEMPORARY in n]
    except OSError:
        return
    for name in names:
        path = os.path.join(directory, name)
        try:
            if os.lstat(path).st_mtime < now - age:
                os.unlink(path)
        except OSError:
            pass


def remove(path: str) -> None:
    """Remove a file if it is there."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
