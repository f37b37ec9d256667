"""One soak worker: calls the helper at random for a while, checks every answer, prints stats.

Usage: python soak_worker.py HELPER_COMMAND_JSON SECONDS INDEX ECR_HOST...
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from typing import Any

NOT_FOUND = b"credentials not found in native keychain\n"


def main(argv: list[str]) -> int:
    cmd, seconds, index, hosts = json.loads(argv[0]), float(argv[1]), int(argv[2]), argv[3:]
    rng = random.Random(index)
    stats: dict[str, Any] = {"calls": 0, "failures": [], "worst": 0.0}
    mine = f"w{index}.soak.example"

    def run(args: list[str], data: str) -> subprocess.CompletedProcess[bytes]:
        started = time.monotonic()
        proc = subprocess.run(
            cmd + args, input=data.encode(), capture_output=True, timeout=60, check=False
        )
        stats["calls"] += 1
        stats["worst"] = max(stats["worst"], time.monotonic() - started)
        return proc

    def failed(*what: object) -> None:
        stats["failures"].append([str(w)[:200] for w in what])

    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        op = rng.random()
        if op < 0.7:
            p = run(["get"], rng.choice(hosts))
            if p.returncode != 0 or not json.loads(p.stdout).get("Secret"):
                failed("get", p.returncode, p.stdout, p.stderr)
        elif op < 0.9:
            n += 1
            secret = f"secret-{index}-{n}"
            p = run(["store"], json.dumps({"ServerURL": mine, "Username": "u", "Secret": secret}))
            q = run(["get"], mine)
            if p.returncode != 0 or q.returncode != 0 or json.loads(q.stdout)["Secret"] != secret:
                failed("store", p.returncode, p.stdout, q.stdout)
            if rng.random() < 0.5:
                e = run(["erase"], mine)
                g = run(["get"], mine)
                if e.returncode != 0 or g.stdout != NOT_FOUND:
                    failed("erase", e.returncode, e.stdout, g.stdout)
        else:
            p = run(["list"], "")
            if p.returncode != 0 or not isinstance(json.loads(p.stdout), dict):
                failed("list", p.returncode, p.stdout)
    print(json.dumps(stats))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
