"""The checkout's root, and the places a test run must leave as it found them."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent

# Tests write only under their temporary directories.  /tmp itself is shared with
# everything else on the machine, so only the names the helper would use there are watched.
WATCHED = ("/", "/opt", "/var/lib", "/var/cache", "/var/tmp", "/etc", "/run", "/dev/shm")
# The helper's own cache too: building the executable creates it (its first run unpacks
# there), after which a test's leak into it would go unseen one level up.
WATCHED_IN_HOME = (
    ".cache",
    ".cache/docker-credential-ecr",
    ".cache/docker-credential-ecr/runtime",
    ".config",
    ".docker",
    ".aws",
    ".local/share",
)


def _entries(directory: str) -> set[str]:
    try:
        return set(os.listdir(directory))
    except OSError:
        return set()


def snapshot() -> dict[str, set[str]]:
    """What each watched place holds now, by place."""
    home = os.path.expanduser("~")
    places = [*WATCHED, home, *(os.path.join(home, d) for d in WATCHED_IN_HOME)]
    found = {place: _entries(place) for place in places}
    found["/tmp"] = {n for n in _entries("/tmp") if n.startswith("docker-credential-ecr")}
    return found


def left_since(before: dict[str, set[str]]) -> list[str]:
    """What is in a watched place now that was not in ``before`` (a ``snapshot()``)."""
    after = snapshot()
    return sorted(
        os.path.join(place, name)
        for place, names in after.items()
        for name in names - before[place]
    )
