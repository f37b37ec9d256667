"""This program as a file: how to run it again, and what was installed."""

from __future__ import annotations

import sys

from docker_credential_ecr import config

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping


def command(environ: Mapping[str, str]) -> list[str]:
    """How to run this very program again: its launcher, the frozen program, or this Python.

    ``environ`` is the environment the program was given: a built executable's launcher
    names itself there.
    """
    launcher = config.launcher(environ)
    if launcher:
        return [launcher]
    if getattr(sys, "frozen", False):
        return [sys.executable]
    return [sys.executable, "-m", "docker_credential_ecr"]
