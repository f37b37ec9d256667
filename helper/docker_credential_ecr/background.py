"""A due token's refresh in another process, so that the ``get`` that found it answers at once."""

from __future__ import annotations

import os

from docker_credential_ecr import log, program

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from docker_credential_ecr.cache import Cache
    from docker_credential_ecr.registry import Registry


def refresh(cache: Cache, registry: Registry, key: str, environ: Mapping[str, str]) -> bool:
    """Start ``refresh HOST`` detached, unless one is already running; say whether one is.

    ``environ`` is the environment the helper was given, before anything changed it
    for botocore: the child reviews it again, as this process did.  The child's stdio
    is /dev/null and it leads its own session, so Docker, which waits for our stdout
    to close, does not wait for it.
    """
    try:
        if cache.refreshing(key):
            return True
    except OSError:
        return False
    run = program.command(environ)
    try:
        null = os.open(os.devnull, os.O_RDWR)
        try:
            os.posix_spawn(
                run[0],
                [*run, "refresh", registry.host],
                environ,
                file_actions=[(os.POSIX_SPAWN_DUP2, null, fd) for fd in (0, 1, 2)],
                setsid=True,
            )
        finally:
            os.close(null)
    except OSError as exc:
        log.debug("cannot start a background refresh: %s", exc)
        return False
    return True
