"""The examples in docstrings of the pure modules are tests too."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "docker_credential_ecr.registry",
    "docker_credential_ecr.token",
    "docker_credential_ecr.cache",
    "docker_credential_ecr.logins",
    "docker_credential_ecr.protocol",
    "docker_credential_ecr.errors",
    "docker_credential_ecr.dockerconfig",
    "docker_credential_ecr.commands.context",
    "docker_credential_ecr.commands.refresh",
    "docker_credential_ecr.commands.status",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0
    assert result.failed == 0
