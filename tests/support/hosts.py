"""The registry hosts the tests ask for: the usual one, and one of each form."""

from __future__ import annotations

from docker_credential_ecr.registry import PUBLIC_HOSTS, private_forms

ECR_HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


def every_host_form() -> list[str]:
    """One host of each form registry.parse knows, built from its own tables."""
    hosts = sorted(PUBLIC_HOSTS)
    return hosts + [
        f"123456789012.{form.prefix}us-east-1.{suffix}" for form, suffix in private_forms()
    ]
