"""Operator commands: one module each, registered in one table.

``cli`` dispatches from :data:`COMMANDS` and ``--help`` prints it.  A command module
has ``arguments(parser, name)`` to declare its options and ``main(args, ctx)`` to run;
adding a command is one module plus one row.  None of this is on the path Docker takes.
"""

from __future__ import annotations

import importlib
from typing import NamedTuple

from docker_credential_ecr.errors import NAME, HelperError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from docker_credential_ecr.commands.context import Context, Parser


class Command(NamedTuple):
    """A row of the table: the name typed, the module that implements it, what it does."""

    name: str
    module: str
    summary: str


COMMANDS = (
    Command("refresh", "refresh", "refresh tokens that are due (--all: every one; --watch: stay)"),
    Command("status", "status", "cached tokens (never the token itself) and stored logins"),
    Command("doctor", "doctor", "check configuration, credentials, Docker config and AWS access"),
    Command("policy", "policy", "print the minimal IAM policy (--pull: and pulling)"),
    Command(
        "configure",
        "configure",
        "add our credHelpers (and credsStore) to Docker's config"
        " (--kubelet: make this the kubelet's credential provider)",
    ),
    Command("unconfigure", "configure", "remove them again"),
    Command("export", "export", "a pull secret with fresh tokens (dockerconfigjson, Kubernetes)"),
)


def find(name: str) -> Command | None:
    """The command called ``name``, if there is one."""
    return next((c for c in COMMANDS if c.name == name), None)


def table() -> str:
    """The commands and what they do, one per line, for ``--help``."""
    width = max(len(c.name) for c in COMMANDS)
    return "".join(f"  {c.name.ljust(width)}  {c.summary}\n" for c in COMMANDS)


def parser_for(command: Command) -> Parser:
    """The command's own parser, with every option its module declares."""
    from docker_credential_ecr.commands.context import Parser

    module = importlib.import_module(f"{__name__}.{command.module}")
    parser = Parser(prog=f"{NAME} {command.name}", description=command.summary)
    module.arguments(parser, command.name)
    return parser


def run(command: Command, argv: Sequence[str], ctx: Context) -> int:
    """Parse ``argv`` for ``command`` and run it; every failure is one line and status 1."""
    module = importlib.import_module(f"{__name__}.{command.module}")
    parser = parser_for(command)
    try:
        try:
            args = parser.parse_args(list(argv))
        except SystemExit as exc:  # --help has been printed
            return int(exc.code or 0)
        return int(module.main(args, ctx))
    except HelperError as exc:
        ctx.err.write(f"{exc}\n")
        return 1
    except (OSError, ValueError) as exc:
        ctx.err.write(f"{NAME} {command.name}: {exc}\n")
        return 1
