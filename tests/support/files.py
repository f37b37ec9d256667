"""What the tests ask of files on disk."""

from __future__ import annotations

import stat
from pathlib import Path


def mode(path: Path) -> int:
    """A path's permission bits, the link's own if it is one."""
    return stat.S_IMODE(path.lstat().st_mode)
