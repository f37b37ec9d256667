"""The trusted-path rule: may anyone but this user and root change what a directory holds?

The helper runs as root on every ``docker pull``; a directory it reads tokens from,
writes them to, or (in the frozen executable) runs code from must not be one that
another user can swap or fill.  As OpenSSH's ``safe_path`` and sudo's
``sudo_secure_dir`` do, every directory from ``/`` down to it must be owned by root or
the effective user and not writable by group or others, unless it is sticky (``/tmp``:
others cannot rename or delete what is ours there).

The path is resolved here, component by component, as the kernel would: each
directory is opened with ``O_NOFOLLOW`` under its verified parent and checked through
its descriptor, and a symlink is followed only if it is owned by root or the user (it
sits in a verified directory, so no one else can change it).  So every directory the
resolution passes through is verified, including those that only a symlink leads
through, and a component swapped during the walk is caught, not followed.

Inside a user namespace that does not map its parent's uid 0 (rootless podman and buildah
run credential helpers in one: uid 0 there is the user), the kernel shows root's files
as owned by the overflow uid (``/proc/sys/kernel/overflowuid``, 65534), as it shows
every other owner it cannot map.  There, and only there, that uid counts as root's
(``unmapped_root``): the process is not root on the host and cannot become it, and a
directory above a user's home or runtime directory that another user owned would
already give that user the account.  Everywhere else 65534 is ``nobody``, trusted no
more than anyone.

Components that do not exist yet are fine: the helper creates them itself, 0700.  A
component that is not a directory ends the walk without a verdict: using the path
then fails with its own clear error.  ``packaging/trust.c`` applies the same rule in
the launcher, laid out as this walk is (each function names its twin), so that a change
to one is made to the other in the same place; ``tests/test_trust.py`` checks that the
two agree.
"""

from __future__ import annotations

import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

_DIR = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_SYMLINKS = 40  # as Linux's path resolution


class UntrustedPath(OSError):
    """A directory that someone other than this user and root could change.

    C twin: packaging/trust.c's refuse.
    """


def check_dir(path: str, euid: int) -> str:
    """Return ``path`` resolved if it passes the rule; raise UntrustedPath naming what fails.

    C twin: packaging/trust.c's trust_check_dir.
    """
    if not path.startswith("/"):
        raise UntrustedPath(f"{path} is not an absolute path")
    walk = _Walk(euid)
    try:
        return walk.resolve(path)
    finally:
        walk.close()


def make_dirs(path: str, euid: int, mode: int = 0o700) -> str:
    """Create what is missing of ``path`` by descriptor, checking every level; return it resolved.

    Each missing directory is made with ``mkdirat`` under its verified parent and then
    opened ``O_NOFOLLOW`` and checked like any other: one that another user put there,
    or swapped, between the two is refused, never entered.
    """
    if not path.startswith("/"):
        raise UntrustedPath(f"{path} is not an absolute path")
    walk = _Walk(euid, create=mode)
    try:
        return walk.resolve(path)
    finally:
        walk.close()


def check_file(path: str, euid: int) -> str | None:
    """Why ``path`` must not be read by this user, or None if it may be (or is absent).

    A file is trusted as its directories are: a regular file owned by root or the
    user, writable by no one else, reached through directories (and symlinks) that
    pass the rule.  Nobody else can then change or swap it, so it may be opened by name.
    """
    for _ in range(MAX_SYMLINKS):
        try:
            directory = check_dir(os.path.dirname(path) or "/", euid)
            info = os.lstat(os.path.join(directory, os.path.basename(path)))
        except (FileNotFoundError, NotADirectoryError):
            return None  # nothing there to read
        except OSError as exc:
            return str(exc) if isinstance(exc, UntrustedPath) else f"{path}: {exc.strerror}"
        if stat.S_ISLNK(info.st_mode):
            if not _trusted_owner(info.st_uid, euid):
                return f"{path} is a symlink owned by uid {info.st_uid}"
            link = os.path.join(directory, os.path.basename(path))
            path = os.path.join(directory, os.readlink(link))
            continue
        if not stat.S_ISREG(info.st_mode):
            return f"{path} is not a regular file"
        return _why_not(info, path, euid, sticky_ok=False)
    return f"{path}: too many levels of symbolic links"


class _Walk:
    """The directories resolved so far, each held open and verified.

    C twin: packaging/trust.c's struct walk; each method's twin is named at the method.
    """

    # C twin: packaging/trust.c's trust_init.
    def __init__(self, euid: int, create: int | None = None) -> None:
        self.euid = euid
        self.create = create  # the mode of directories to make, or None to make none
        self.links = 0
        self.done: list[tuple[str, int]] = [("", os.open("/", _DIR))]
        try:
            check_fd(self.done[0][1], "/", euid)
        except OSError:
            self.close()
            raise

    # C twin: packaging/trust.c's trust_close.
    def close(self) -> None:
        for _, fd in self.done:
            os.close(fd)

    # C twin: packaging/trust.c's here.
    def here(self, part: str) -> str:
        return "/".join(name for name, _ in self.done) + "/" + part

    # C twin: packaging/trust.c's joined.
    def joined(self, rest: list[str]) -> str:
        return "/" + "/".join([name for name, _ in self.done[1:]] + [p for p in rest if p])

    # C twin: packaging/trust.c's up.
    def up(self, to: int) -> None:
        while len(self.done) > max(to, 1):
            os.close(self.done.pop()[1])

    # C twin: packaging/trust.c's resolve (and pop, for todo.pop()).
    def resolve(self, path: str) -> str:
        todo = path.split("/")[::-1]  # a stack: the next component last
        while todo:
            part = todo.pop()
            if part in ("", "."):
                continue
            if part == "..":
                self.up(len(self.done) - 1)
                continue
            try:
                info = self.lstat(part)
            except FileNotFoundError:
                return self.joined([part, *todo[::-1]])  # the rest is created later
            except OSError as exc:
                raise UntrustedPath(f"{self.here(part)}: {exc.strerror}") from None
            if stat.S_ISLNK(info.st_mode):
                todo.extend(self.follow(part, info)[::-1])
            elif stat.S_ISDIR(info.st_mode):
                self.enter(part)
            else:
                return self.joined([part, *todo[::-1]])  # using it fails with its own error
        return self.joined([])

    def lstat(self, part: str) -> os.stat_result:
        """The component's status; with ``create``, a missing one is made first.

        C twin: packaging/trust.c's trust_lstat, which never creates.
        """
        parent = self.done[-1][1]
        try:
            return os.stat(part, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            if self.create is None:
                raise
        try:
            os.mkdir(part, self.create, dir_fd=parent)
        except FileExistsError:
            pass  # made by another process just now: it is checked like any other
        return os.stat(part, dir_fd=parent, follow_symlinks=False)

    def follow(self, part: str, info: os.stat_result) -> list[str]:
        """Return the components of a trusted symlink's target (from / if absolute).

        C twin: packaging/trust.c's follow.
        """
        here = self.here(part)
        self.links += 1
        if self.links > MAX_SYMLINKS:
            raise UntrustedPath(f"{here}: too many levels of symbolic links")
        if not _trusted_owner(info.st_uid, self.euid):
            raise UntrustedPath(f"{here} is a symlink owned by uid {info.st_uid}")
        try:
            target = os.readlink(part, dir_fd=self.done[-1][1])
        except OSError as exc:
            raise UntrustedPath(f"{here} changed while being checked") from exc
        if target.startswith("/"):
            self.up(1)
        return target.split("/")

    # C twin: packaging/trust.c's enter.
    def enter(self, part: str) -> None:
        here = self.here(part)
        try:
            child = os.open(part, _DIR, dir_fd=self.done[-1][1])
        except OSError as exc:
            raise UntrustedPath(f"{here} changed while being checked") from exc
        self.done.append((part, child))
        check_fd(child, here, self.euid)


def check_fd(fd: int, path: str, euid: int) -> None:
    """Raise UntrustedPath unless the open directory ``fd`` passes the rule itself.

    C twin: packaging/trust.c's check_fd.
    """
    why = _why_not(os.fstat(fd), path, euid, sticky_ok=True)
    if why:
        raise UntrustedPath(why)


def _why_not(info: os.stat_result, path: str, euid: int, *, sticky_ok: bool) -> str | None:
    """The rule for one directory or file: its owner, and who else may write it.

    C twin: packaging/trust.c's why_not (directories only, so always ``sticky_ok``).
    """
    if not _trusted_owner(info.st_uid, euid):
        return f"{path} is owned by uid {info.st_uid}"
    if info.st_mode & 0o022 and not (sticky_ok and info.st_mode & stat.S_ISVTX):
        who = {0o020: "group", 0o002: "others"}.get(info.st_mode & 0o022, "group and others")
        return f"{path} is writable by {who} (mode {stat.S_IMODE(info.st_mode):o})"
    return None


def _trusted_owner(uid: int, euid: int) -> bool:
    """Root, the user, or root as a user namespace that does not map it shows it.

    C twin: packaging/trust.c's trusted_owner.
    """
    return uid in (0, euid) or uid == unmapped_root()


_unmapped_root: list[int | None] = []  # read once: a process does not leave its namespace


def unmapped_root() -> int | None:
    """The overflow uid, in a user namespace that maps no uid 0 of its parent; else None.

    Read from ``/proc`` only when an owner is neither root nor the user, so a trusted
    path costs nothing more.  Anything unreadable means None: the stricter rule.

    C twin: packaging/trust.c's unmapped_root.
    """
    if not _unmapped_root:
        _unmapped_root.append(_read_unmapped_root())
    return _unmapped_root[0]


def _read_unmapped_root() -> int | None:
    """C twin: packaging/trust.c's read_unmapped_root."""
    try:
        with open("/proc/self/uid_map", encoding="ascii") as lines:
            if any(line.split()[1:2] == ["0"] for line in lines):
                return None  # root is mapped: its files show as its uid here
        with open("/proc/sys/kernel/overflowuid", encoding="ascii") as overflow:
            return int(overflow.read())
    except (OSError, ValueError):
        return None


def first_trusted(candidates: Iterable[str], euid: int) -> tuple[str | None, list[str]]:
    """Return the first candidate that passes the rule, resolved, and why each before it failed.

    The resolved path is what must be used from then on: re-resolving a symlink later
    would not be the walk that was checked.
    """
    refused: list[str] = []
    for candidate in candidates:
        try:
            return check_dir(candidate, euid), refused
        except OSError as exc:
            refused.append(f"{candidate}: {exc}")
    return None, refused
