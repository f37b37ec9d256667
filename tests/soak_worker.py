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


class Worker:
    """Calls the helper at random, checking each answer; counts calls, failures, the slowest."""

    def __init__(self, cmd: list[str], index: int, hosts: list[str]) -> None:
        self.cmd = cmd
        self.index = index
        self.hosts = hosts
        self.rng = random.Random(index)
        self.mine = f"w{index}.soak.example"
        self.stored = 0
        self.stats: dict[str, Any] = {"calls": 0, "failures": [], "worst": 0.0}

    def run(self, args: list[str], data: str) -> subprocess.CompletedProcess[bytes]:
        started = time.monotonic()
        proc = subprocess.run(
            self.cmd + args, input=data.encode(), capture_output=True, timeout=60, check=False
        )
        self.stats["calls"] += 1
        self.stats["worst"] = max(self.stats["worst"], time.monotonic() - started)
        return proc

    def failed(self, *what: object) -> None:
        self.stats["failures"].append([str(w)[:200] for w in what])

    def get(self) -> None:
        p = self.run(["get"], self.rng.choice(self.hosts))
        if p.returncode != 0 or not json.loads(p.stdout).get("Secret"):
            self.failed("get", p.returncode, p.stdout, p.stderr)

    def store_and_erase(self) -> None:
        self.stored += 1
        secret = f"secret-{self.index}-{self.stored}"
        login = {"ServerURL": self.mine, "Username": "u", "Secret": secret}
        p = self.run(["store"], json.dumps(login))
        q = self.run(["get"], self.mine)
        if p.returncode != 0 or q.returncode != 0 or json.loads(q.stdout)["Secret"] != secret:
            self.failed("store", p.returncode, p.stdout, q.stdout)
        if self.rng.random() < 0.5:
            e = self.run(["erase"], self.mine)
            g = self.run(["get"], self.mine)
            if e.returncode != 0 or g.stdout != NOT_FOUND:
                self.failed("erase", e.returncode, e.stdout, g.stdout)

    def list_all(self) -> None:
        p = self.run(["list"], "")
        if p.returncode != 0 or not isinstance(json.loads(p.stdout), dict):
            self.failed("list", p.returncode, p.stdout)

    def soak(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            op = self.rng.random()
            if op < 0.7:
                self.get()
            elif op < 0.9:
                self.store_and_erase()
            else:
                self.list_all()


def main(argv: list[str]) -> int:
    worker = Worker(json.loads(argv[0]), int(argv[2]), argv[3:])
    worker.soak(float(argv[1]))
    print(json.dumps(worker.stats))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
