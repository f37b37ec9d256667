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

    C twin: packaging/fastpath.c read_private
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

    Every level is made and checked by descriptor (``trust.make_dirs``), so a
    directory another user makes or swaps in on the way is refused, not used.  An
    existing directory is never chmod-ed: it may be shared, and what others wrote
    into it while it was open cannot be undone.  Raises OSError with a one-line
    reason when it is not safe: a symlink, not a directory, owned by another user,
    or writable by group or others.
    """
    euid = os.geteuid()
    absolute = os.path.abspath(path)
    parent = open_dir(os.path.dirname(absolute), create=True)
    try:
        name = os.path.basename(absolute)
        try:
            os.mkdir(name, 0o700, dir_fd=parent)
        except FileExistsError:
            pass
        info = os.stat(name, dir_fd=parent, follow_symlinks=False)
    finally:
        os.close(parent)
    if stat.S_ISLNK(info.st_mode):
        raise OSError(f"{path} is a symlink")
    if not stat.S_ISDIR(info.st_mode):
        raise OSError(f"{path} is not a directory")
    if info.st_uid != euid:
        raise OSError(f"{path} is owned by uid {info.st_uid}, not {euid}")
    if info.st_mode & 0o022:
        raise OSError(f"{path} is writable by others (mode {stat.S_IMODE(info.st_mode):o})")


def write_private(path: str, data: bytes) -> None:
    """Atomically replace ``path`` with ``data`` as a 0600 file in an already-private directory.

    The data goes to a new temporary file beside ``path`` that is synced and
    renamed over it, so readers see the old or the new content, never a part.
    """
    replace_file(path, data, 0o600)


def open_dir(directory: str, *, create: bool = False) -> int:
    """Open a directory that passes the trusted-path rule; return its descriptor.

    With ``create``, what is missing of it is made 0700, by descriptor.  Whatever
    is done in it afterwards goes through the descriptor (``dir_fd``): nothing
    is resolved by name again between the check and the use.
    """
    from docker_credential_ecr import trust

    euid = os.geteuid()
    absolute = os.path.abspath(directory)
    resolved = trust.make_dirs(absolute, euid) if create else trust.check_dir(absolute, euid)
    fd = os.open(resolved, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW)
    try:
        # The walk checked every directory above; this one is checked again as opened.
        trust.check_fd(fd, directory, euid)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_append(path: str) -> int:
    """Open (or create, 0600) a log file for appending, only as the trusted-path rule allows.

    The directory must pass the rule; the file is opened through it without following
    a symlink, and must be a regular file of root's or this user's with one link (a
    hard link in a shared directory could name any file of root's).
    """
    from docker_credential_ecr import trust

    euid = os.geteuid()
    directory = open_dir(os.path.dirname(os.path.abspath(path)))
    try:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | _NOFOLLOW
        fd = os.open(os.path.basename(path), flags, 0o600, dir_fd=directory)
    finally:
        os.close(directory)
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1 or info.st_uid not in (0, euid):
        os.close(fd)
        raise trust.UntrustedPath(f"{path} is not a regular file of uid {euid} with one link")
    return fd


def replace_file(
    path: str, data: bytes, mode: int = 0o600, owner: tuple[int, int] | None = None
) -> None:
    """Atomically replace ``path`` with ``data``, ``mode`` (no set-ID bits) and ``owner``.

    For files outside the private cache directory: Docker's config.json, an
    exported pull secret.  The directory must pass the trusted-path rule and is
    opened once; the temporary file is made, written and renamed through its
    descriptor.  The temporary file is created 0600 and only then given ``mode``,
    so the data is never readable by others on the way; on any error it is removed.
    """
    directory = open_dir(os.path.dirname(path) or ".")
    try:
        replace_at(directory, os.path.basename(path), data, mode, owner)
    finally:
        os.close(directory)


def replace_at(
    directory: int, name: str, data: bytes, mode: int, owner: tuple[int, int] | None = None
) -> None:
    """``replace_file`` inside an open directory: ``openat``, write, sync, ``renameat``."""
    tmp = f".{name}{TEMPORARY}{os.getpid()}-{os.urandom(4).hex()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600, dir_fd=directory)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fchmod(fd, mode & 0o777)
            if owner is not None:
                os.fchown(fd, *owner)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, name, src_dir_fd=directory, dst_dir_fd=directory)
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=directory)
        except FileNotFoundError:
            pass
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
