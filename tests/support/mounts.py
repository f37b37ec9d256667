"""Command prefixes (root only) that put a directory of the test's on a system path."""

from __future__ import annotations

from pathlib import Path


def with_own(directory: Path, mountpoint: str) -> list[str]:
    """A command prefix (root only): run in a private mount namespace with ``directory``
    on ``mountpoint``, so that what the command writes there lands in the test's own
    temporary directory and no other process, this run's other worker included, sees it.
    """
    directory.mkdir(mode=0o755, exist_ok=True)
    # -n: libmount would otherwise record the bind in /run/mount/utab, making /run/mount
    # on a host that lacks it (and with ``mountpoint`` /run, before the bind hides it).
    script = 'mount -n --make-rprivate / && mount -n --bind "$0" "$1" && shift && exec "$@"'
    return ["unshare", "--mount", "sh", "-c", script, str(directory), mountpoint]


def with_var_cache(directory: Path) -> list[str]:
    """A command prefix: run in a private mount namespace with ``directory`` on /var/cache.

    Root's last-resort cache is /var/cache/docker-credential-ecr; tests that make it
    needed see it, for real, in their own temporary directory.
    """
    return with_own(directory, "/var/cache")
