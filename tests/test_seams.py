"""The interfaces of seams.py against what implements them: the same methods, with the
same parameters, so a fake written to a protocol is a fake of the real thing.

mypy checks the assignments where the composition root (cli) builds each object; this
checks at run time, parameter by parameter, what the type checker lets through
structurally (names and defaults, which keyword callers depend on).
"""

from __future__ import annotations

import inspect

import pytest

from docker_credential_ecr import seams
from docker_credential_ecr.backend import DockerStore
from docker_credential_ecr.cache import NullCache, TokenCache
from docker_credential_ecr.tokens import TokenService

IMPLEMENTATIONS = [
    (seams.Helper, DockerStore),
    (seams.Provider, TokenService),
    (seams.Cache, TokenCache),
    (seams.Cache, NullCache),
]


def members(protocol: type) -> list[str]:
    """The methods a protocol declares."""
    return [n for n, v in vars(protocol).items() if inspect.isfunction(v) and not n.startswith("_")]


def parameters(function: object) -> list[tuple[str, object, object]]:
    """A method's parameters after ``self``: name, kind, default."""
    signature = inspect.signature(function)  # type: ignore[arg-type]
    return [(p.name, p.kind, p.default) for p in list(signature.parameters.values())[1:]]


@pytest.mark.parametrize(
    ("protocol", "implementation"), IMPLEMENTATIONS, ids=lambda x: getattr(x, "__name__", "")
)
def test_each_implementation_has_every_method_of_its_protocol_as_declared(
    protocol: type, implementation: type
) -> None:
    declared = members(protocol)
    assert declared, protocol
    for name in declared:
        assert parameters(getattr(implementation, name)) == parameters(getattr(protocol, name)), (
            f"{implementation.__name__}.{name}"
        )


def test_the_check_sees_a_parameter_renamed() -> None:
    class Renamed:
        def lease(self, url: str, web_identity: object = None) -> None:
            """Like TokenService.lease, its first parameter renamed."""

    assert parameters(Renamed.lease) != parameters(seams.Provider.lease)
