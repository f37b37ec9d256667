"""Entry point of the frozen executable."""

from __future__ import annotations

from helper.cli import main

raise SystemExit(main())
