"""The refresh processes a ``get`` starts in the background: finding them, waiting for them."""

from __future__ import annotations

import time
from pathlib import Path

from fakeaws import FakeAWS


def background_refreshes(env: dict[str, str]) -> list[int]:
    """Pids of refresh processes started for this test's cache (they run detached)."""
    marker = f"AWS_ECR_CACHE_DIR={env['AWS_ECR_CACHE_DIR']}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker in environ and b"refresh" in cmdline:
            found.append(int(proc.name))
    return found


def wait_for_background_refreshes(env: dict[str, str], fake_aws: FakeAWS, calls: int) -> None:
    """Wait (bounded) until ``calls`` API calls were made and no refresh process is left."""
    deadline = time.monotonic() + 60
    while fake_aws.total_calls() < calls or background_refreshes(env):
        assert time.monotonic() < deadline, (fake_aws.calls, background_refreshes(env))
        time.sleep(0.05)  # polling a condition, bounded by the deadline above
