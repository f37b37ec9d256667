"""What every operator command works with, and the small helpers they share."""

from __future__ import annotations

import argparse
import time

from docker_credential_ecr import registry
from docker_credential_ecr.errors import NAME, InputError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import NoReturn, TextIO

    from docker_credential_ecr.config import CachePlace, Options
    from docker_credential_ecr.fileconfig import FileConfig
    from docker_credential_ecr.logins import LoginStore
    from docker_credential_ecr.resolver import Target
    from docker_credential_ecr.tokens import TokenService


class Context:
    """What a command reads of the configuration, the services it uses, and the edges
    (environment, streams, clock): each part by itself, built by cli."""

    def __init__(
        self,
        *,
        file: FileConfig,
        cache: CachePlace,
        aws: Options,
        tokens: TokenService,
        logins: LoginStore,
        environ: Mapping[str, str],
        out: TextIO,
        err: TextIO,
        clock: Callable[[], float],
        reload: Callable[[], Context] | None = None,
    ) -> None:
        self.file = file
        self.cache = cache
        self.aws = aws
        self.tokens = tokens
        self.logins = logins
        self.environ = environ
        self.out = out
        self.err = err  # a command's failure: one line here, as every CLI reports it
        self.clock = clock
        # A new context from the configuration as it is now (refresh --watch on SIGHUP).
        self.reload = reload


class Parser(argparse.ArgumentParser):
    """An argument parser whose mistakes are one line and exit status 1, like every error here."""

    def error(self, message: str) -> NoReturn:
        """Raise the mistake as an InputError (argparse would print usage and exit 2)."""
        raise InputError(f"{self.prog}: {message} (see --help)")


def known_hosts(ctx: Context) -> list[str]:
    """Registries to act on by default: configured exact hosts, alias targets, cached hosts."""
    found = {h for h in ctx.file.registries if registry.parse(h) is not None}
    found.update(ctx.file.aliases.values())
    found.update(entry.host for entry in ctx.tokens.cached_entries() if entry.current)
    return sorted(found)


def targets(ctx: Context, hosts: list[str]) -> list[Target]:
    """The registries named (or else the known ones); an unknown name is an InputError."""
    chosen = []
    for host in hosts or known_hosts(ctx):
        target = ctx.tokens.target(host)
        if target is None:
            raise InputError(f"{NAME}: {host} is not an ECR registry (nor an alias of one)")
        chosen.append(target)
    return chosen


def when(moment: float) -> str:
    """A moment as UTC ISO 8601, to the second.

    >>> when(0)
    '1970-01-01T00:00:00Z'
    """
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))
