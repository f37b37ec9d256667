"""A second user (uid 54321) for the tests root runs: its command prefix and its Python."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator

OTHER = 54321
AS_OTHER = ["setpriv", f"--reuid={OTHER}", f"--regid={OTHER}", "--clear-groups"]

# Run as another user: swap two paths (RENAME_EXCHANGE) as fast as the kernel allows,
# to race whatever root resolves by name.  It says "swapping" once it has begun.
SWAPPER = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
a, b = (p.encode() for p in sys.argv[1:3])
print("swapping", flush=True)
while True:
    libc.renameat2(-100, a, -100, b, 2)  # RENAME_EXCHANGE
"""


def their_python() -> str:
    """A Python the other user can run: the system's (a Python built under root's 0700
    home, as pyenv's, may not load its library for them)."""
    return next((p for p in ("/usr/bin/python3",) if os.access(p, os.X_OK)), sys.executable)


@contextlib.contextmanager
def as_other(script: str, *args: str, ready: bytes) -> Iterator[None]:
    """Run a Python ``script`` as the other user until the block ends; it has begun once it
    has printed ``ready``."""
    proc = subprocess.Popen([*AS_OTHER, their_python(), "-c", script, *args],
                            stdout=subprocess.PIPE)  # fmt: skip
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline() == ready
        yield
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
