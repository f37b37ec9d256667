"""Tokens, and the cache files an earlier run of the helper would have left."""

from __future__ import annotations

import time
from pathlib import Path

from docker_credential_ecr.cache import encode
from docker_credential_ecr.token import AuthToken
from support.hosts import ECR_HOST


def cache_entry(env: dict[str, str], host: str = ECR_HOST) -> Path:
    """Where the helper keeps ``host``'s token for the identity ``env`` selects."""
    from docker_credential_ecr.cache import SUFFIX, key
    from docker_credential_ecr.config import Settings

    settings = Settings(env)
    tag = settings.identity_tag(settings.file.for_host(host).identity())
    return Path(settings.cache.directory) / (key(host, tag) + SUFFIX)


def make_token(
    secret: str = "seeded",
    age: float = 60.0,
    lifetime: float = 43200.0,
    user: str = "AWS",
    endpoint: str = f"https://{ECR_HOST}",
) -> AuthToken:
    """A token requested ``age`` seconds ago that lives ``lifetime`` seconds in all."""
    now = time.time()
    return AuthToken(user, secret, endpoint, now - age, now - age + lifetime)


def seed(
    env: dict[str, str],
    requested_ago: float,
    expires_in: float,
    secret: str = "seeded",
    host: str = ECR_HOST,
) -> Path:
    """Put a token in the cache as an earlier run would have; return its file."""
    path = cache_entry(env, host)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    token = make_token(secret, requested_ago, requested_ago + expires_in)
    path.write_bytes(encode(token))
    path.chmod(0o600)
    return path
