"""Run the helper as ``python -m helper``."""

from __future__ import annotations

from helper import cli

raise SystemExit(cli.main())
