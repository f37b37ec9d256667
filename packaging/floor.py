"""An empty program: the start-up floor of a frozen Python executable."""

from __future__ import annotations
