"""Run the helper as ``python -m helper``."""

from __future__ import annotations

from docker_credential_ecr import cli

cli.entry()
