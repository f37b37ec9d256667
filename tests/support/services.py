"""The helper's services in-process: a token service and a Docker store over a real
cache on disk, with a scripted fetcher at the seam where ecr.py would call AWS."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

from docker_credential_ecr import fileconfig
from docker_credential_ecr.backend import DockerStore
from docker_credential_ecr.cache import Cache, TokenCache
from docker_credential_ecr.commands.context import Context
from docker_credential_ecr.errors import TokenError
from docker_credential_ecr.fileconfig import FileConfig, RegistryConfig
from docker_credential_ecr.logins import LoginStore
from docker_credential_ecr.registry import Registry
from docker_credential_ecr.resolver import Resolver
from docker_credential_ecr.token import AuthToken
from docker_credential_ecr.tokens import TokenService

HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
OTHER = "210987654321.dkr.ecr.eu-west-1.amazonaws.com"
ALIAS = "registry.example.com"
T0 = 1_800_000_000.0
CONFIG = f"""
[aliases]
"{ALIAS}" = "{HOST}"

[registries."{OTHER}"]
profile = "puller"
"""


def tag(extra: str) -> str:
    """An identity tag that shows what it was made from."""
    return f"tag({extra})" if extra else "default"


class World:
    """A token service and a Docker store over one cache, with a scripted fetcher."""

    def __init__(self, tmp_path: Path, cache: Cache | None = None, config: str = CONFIG) -> None:
        self.now = T0
        self.asked: list[tuple[str, RegistryConfig]] = []
        self.fail = False
        self.warnings: list[str] = []
        self.cache = TokenCache(str(tmp_path / "cache")) if cache is None else cache
        self.file: FileConfig = fileconfig.parse(config, str(tmp_path / "config.toml"))
        resolver = Resolver(self.cache, self.fetch, self.clock, self.warnings.append, 1.0)
        self.tokens = TokenService(resolver, self.cache, self.file, tag)
        self.logins = LoginStore(str(tmp_path / "logins"))
        self.store = DockerStore(
            self.tokens, self.cache, self.logins, self.clock, self.warnings.append
        )

    def clock(self) -> float:
        return self.now

    def put(self, host: str, age: float = 0, life: float = 43200, tag: str = "default") -> None:
        """Cache a token for ``host`` issued ``age`` seconds ago, living ``life`` seconds."""
        issued = self.now - age
        token = AuthToken("AWS", "secret", f"https://{host}", issued, issued + life)
        self.cache.write(f"{host}~{tag}", token, self.now)

    def fetch(self, registry: Registry, config: RegistryConfig) -> AuthToken:
        self.asked.append((registry.host, config))
        if self.fail:
            raise TokenError(registry.host, "AccessDeniedException: no")
        n = len(self.asked)
        return AuthToken("AWS", f"s{n}", f"https://{registry.host}", self.now, self.now + 43200)


def context(world: World, tmp_path: Path, environ: dict[str, str] | None = None) -> Context:
    """The operator commands' context over ``world``'s services, writing to buffers."""
    return command_context(world.tokens, world.logins, world.clock, tmp_path, world.file, environ)


def command_context(
    tokens: TokenService,
    logins: LoginStore | None,
    clock: Callable[[], float],
    tmp_path: Path,
    file: FileConfig | None = None,
    environ: dict[str, str] | None = None,
) -> Context:
    """A command context over these services, the rest as a clean environment sets it."""
    from docker_credential_ecr.config import Settings
    from support.environ import clean_env

    settings = Settings(clean_env(tmp_path, None))
    return Context(
        file=settings.file if file is None else file,
        cache=settings.cache,
        aws=settings.aws,
        tokens=tokens,
        logins=logins,  # type: ignore[arg-type]  # None: a command that must not use them
        environ=environ or {},
        out=io.StringIO(),
        err=io.StringIO(),
        clock=clock,
    )


def output(ctx: Context) -> str:
    """What a command wrote on its output."""
    out = ctx.out
    assert isinstance(out, io.StringIO)
    return out.getvalue()


def errors(ctx: Context) -> str:
    """What a command wrote on its error stream."""
    err = ctx.err
    assert isinstance(err, io.StringIO)
    return err.getvalue()
