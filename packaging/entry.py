"""Entry point of the frozen executable."""

from __future__ import annotations

from docker_credential_ecr.cli import entry

entry()
