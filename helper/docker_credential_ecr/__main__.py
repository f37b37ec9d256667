"""Run the helper as ``python -m docker_credential_ecr`` (how a background refresh starts it)."""

from __future__ import annotations

from docker_credential_ecr import cli

cli.entry()
