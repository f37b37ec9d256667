"""Measure docker-credential-ecr against AWS's Go helper, in a private network namespace.

Run by scripts/bench, which installs the tools, builds the programs and starts
this under ``unshare --mount --net``.  Inside, loopback is the whole network:
the real AWS API host names resolve to 127.0.0.1 (a bind-mounted /etc/hosts),
where tests/fakeaws.py serves ECR, ECR Public and STS over TLS with a CA made
here.  Both helpers therefore run with AWS's default endpoints and no
overrides, which the Go helper (AWS SDK for Go v2 1.17) could not take anyway.

Every figure is measured in this run; ratios compare figures from this run.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from docker_credential_ecr.config import Settings  # noqa: E402 - beside it
from fakeaws import FakeAWS, make_certificate  # noqa: E402 - the path is set just above

HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
KUBELET_REQUEST = json.dumps(
    {
        "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
        "kind": "CredentialProviderRequest",
        "image": f"{HOST}/team/app:1.0",
    }
)
API_HOSTS = [
    "api.ecr.us-east-1.amazonaws.com",
    "ecr.us-east-1.amazonaws.com",
    "api.ecr-public.us-east-1.amazonaws.com",
    "ecr-public.us-east-1.amazonaws.com",
    "sts.amazonaws.com",
    "sts.us-east-1.amazonaws.com",
]


def sh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), check=True, text=True, capture_output=True)


def make_world(work: Path) -> Path:
    """Loopback up, API hosts on 127.0.0.1, a CA for them; returns the CA bundle."""
    sh("ip", "link", "set", "lo", "up")
    sh("mount", "--make-rprivate", "/")
    hosts = work / "hosts"
    hosts.write_text("127.0.0.1 localhost\n" + "".join(f"127.0.0.1 {h}\n" for h in API_HOSTS))
    sh("mount", "--bind", str(hosts), "/etc/hosts")
    ca, _, _ = make_certificate(work, list(API_HOSTS))
    return ca


class Bench:
    def __init__(self, work: Path, fake: FakeAWS, ca: Path, runs: int) -> None:
        self.work = work
        self.fake = fake
        self.runs = runs
        self.hostfile = work / "host.txt"
        self.hostfile.write_text(HOST + "\n")
        self.kubelet_request = work / "kubelet-request.json"
        self.kubelet_request.write_text(KUBELET_REQUEST)
        home = work / "home"
        home.mkdir()
        self.base_env = {
            "PATH": os.environ["PATH"],
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "AWS_ACCESS_KEY_ID": "AKIDBENCHMARK0000001",
            "AWS_SECRET_ACCESS_KEY": "bench-secret",
            "AWS_REGION": "us-east-1",
            "AWS_CA_BUNDLE": str(ca),
            "SSL_CERT_FILE": str(ca),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": str(work / "aws-config-absent"),
            "AWS_SHARED_CREDENTIALS_FILE": str(work / "aws-credentials-absent"),
            "DOCKER_CREDENTIAL_ECR_RUNTIME_DIR": str(work / "runtime"),
        }
        (work / "runtime").mkdir(mode=0o700)

    def env(self, cache: Path, **extra: str) -> dict[str, str]:
        return {**self.base_env, "AWS_ECR_CACHE_DIR": str(cache), **extra}

    def get(self, exe: str, env: dict[str, str]) -> str:
        proc = subprocess.run(
            [exe, "get"],
            input=HOST,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if proc.returncode != 0:
            raise SystemExit(
                f"bench: {exe} get failed: {proc.stdout.strip()} {proc.stderr.strip()}"
            )
        return str(json.loads(proc.stdout)["Secret"])

    def hyperfine(
        self,
        name: str,
        exe: str,
        env: dict[str, str],
        prepare: str | None = None,
        runs: int | None = None,
        warmup: int = 3,
        request: tuple[str, Path] | None = None,
    ) -> dict[str, float]:
        """Time ``exe ACTION < FILE`` (by default a ``get`` of HOST) with hyperfine."""
        action, stdin = request or ("get", self.hostfile)
        out = self.work / f"hf-{name}.json"
        cmd = [
            "hyperfine",
            "--style",
            "none",
            "--warmup",
            str(warmup),
            "--runs",
            str(runs or self.runs),
            "--export-json",
            str(out),
        ]
        if prepare:
            cmd += ["--prepare", prepare]
        cmd.append(f"{exe} {action} < {stdin} > /dev/null")
        proc = subprocess.run(cmd, env=env, check=False, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"bench: {name}: {proc.stderr.strip()}")
        times = sorted(t * 1000 for t in json.loads(out.read_text())["results"][0]["times"])
        return {
            "median_ms": round(statistics.median(times), 2),
            "p90_ms": round(times[max(0, int(len(times) * 0.9) - 1)], 2),
            "runs": len(times),
        }

    def paced_gets(self, exe: str, env: dict[str, str], n: int) -> list[float]:
        """``n`` gets, one starting each second (or as soon as the last ends); their wall times."""
        walls = []
        start = time.monotonic()
        for i in range(n):
            time.sleep(max(0.0, start + i - time.monotonic()))  # pacing, not synchronisation
            began = time.monotonic()
            self.get(exe, env)
            walls.append(time.monotonic() - began)
        return walls

    def peak_rss_kib(self, exe: str, env: dict[str, str], runs: int = 5) -> int:
        # GNU time, not wait4 here: a child's peak RSS survives exec, so a direct
        # child of this Python process would report at least this process's size.
        peaks = []
        for _ in range(runs):
            with open(self.hostfile, "rb") as stdin:
                proc = subprocess.run(
                    ["/usr/bin/time", "-f", "%M", exe, "get"],
                    stdin=stdin,
                    capture_output=True,
                    text=True,
                    env=env,
                    check=False,
                )
            if proc.returncode != 0:
                raise SystemExit(f"bench: {exe} failed while measuring memory: {proc.stderr}")
            peaks.append(int(proc.stderr.strip().splitlines()[-1]))
        return int(statistics.median(peaks))

    def concurrent_cold(self, exe: str, cache: Path, n: int = 32) -> dict[str, float]:
        shutil.rmtree(cache, ignore_errors=True)
        self.fake.reset()
        env = self.env(cache)
        request = self.work / "concurrent-request"
        request.write_text(HOST)
        start = time.perf_counter()
        # Each reads the request from a file: writing to one pipe after another
        # would let each process finish before the next one starts.
        procs = []
        for _ in range(n):
            with request.open("rb") as stdin:
                procs.append(
                    subprocess.Popen(
                        [exe, "get"],
                        stdin=stdin,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        env=env,
                    )
                )
        results = [p.communicate(timeout=120) for p in procs]
        wall = time.perf_counter() - start
        tokens: set[str] = set()
        failed = 0
        for proc, (out, err) in zip(procs, results, strict=True):
            try:
                tokens.add(json.loads(out)["Secret"])
            except (ValueError, KeyError):
                failed += 1
                print(f"bench: {exe}: {out[:200]!r} {err[:200]!r}", file=sys.stderr)
            else:
                failed += proc.returncode != 0
        return {
            "api_calls": self.fake.total_calls(),
            "wall_ms": round(wall * 1000, 1),
            "failed": failed,
            "distinct_tokens": len(tokens),
        }


def build_role_config(work: Path) -> Path:
    config = work / "aws-role-config"
    config.write_text(
        "[profile base]\naws_access_key_id = AKIDBASEPROFILE00001\naws_secret_access_key = base\n"
        "region = us-east-1\n\n"
        "[profile puller]\nrole_arn = arn:aws:iam::123456789012:role/puller\n"
        "source_profile = base\nregion = us-east-1\n"
    )
    return config


def size_of(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b else float("inf")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single", required=True, help="our single-file executable")
    parser.add_argument("--tarball", required=True, help="our one-folder bundle tarball")
    parser.add_argument("--floor-single", required=True)
    parser.add_argument("--floor-onedir", required=True, help="the floor program in its folder")
    parser.add_argument(
        "--floor-boto3", required=True, help="the simplest frozen boto3 program (one-folder)"
    )
    parser.add_argument(
        "--day-lifetime",
        type=float,
        default=660.0,
        help="token lifetime (s) of the day-of-pulls row, which lasts three of them",
    )
    parser.add_argument("--go", default=shutil.which("docker-credential-ecr-login") or "")
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--json", default=str(ROOT / "docs" / "benchmarks.json"))
    parser.add_argument(
        "--miss-only", action="store_true", help="measure only cache misses; print, write nothing"
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="dce-bench-"))
    ca = make_world(work)
    fake = FakeAWS(
        tls=(str(work / "server.crt"), str(work / "server.key")), address=("127.0.0.1", 443)
    ).start()
    try:
        return run(args, work, fake, ca)
    finally:
        fake.stop()
        shutil.rmtree(work, ignore_errors=True)


def kubelet_hit(b: Bench, helpers: dict[str, str], work: Path, fake: FakeAWS) -> dict[str, Any]:
    """The kubelet's request, answered from the cache the Docker mode's hits warmed."""
    kubelet: dict[str, Any] = {}
    for name in ("single", "onedir"):
        fake.reset()
        kubelet[name] = b.hyperfine(
            f"kubelet-{name}",
            helpers[name],
            b.env(work / f"hit-{name}"),
            request=("get-credentials", b.kubelet_request),
        )
        kubelet[name]["api_calls"] = fake.total_calls()
    return kubelet


def cache_miss(b: Bench, helpers: dict[str, str], work: Path, role_config: Path) -> dict[str, Any]:
    """Gets with an empty cache: static keys (each form, the boto3 floor, Go), an assumed role.

    Each run erases the token first, so the lock, the fetch and the cache write
    are all in it; and where the single file's miss goes.
    """
    miss: dict[str, Any] = {}
    role_env = {"AWS_PROFILE": "puller", "AWS_CONFIG_FILE": str(role_config)}
    forms = ("single", "onedir", "floor_boto3", "go")
    for name, extra in [(n, {}) for n in forms] + [
        (f"role_{n}", role_env) for n in ("single", "floor_boto3", "go")
    ]:
        cache = work / f"miss-{name}"
        env = b.env(cache, **extra)
        if extra:
            del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
        exe = helpers[name.removeprefix("role_")]
        b.fake.reset()
        miss[name] = b.hyperfine(f"miss-{name}", exe, env, prepare=f"rm -rf {cache}", runs=20)
        miss[name]["api_calls"] = dict(b.fake.calls)
    miss["phases"] = miss_phases(b, helpers["single"], work / "miss-phases")
    return miss


# The helper's own account of a miss, at debug level (cli._LazyFetcher, ecr._fetch).
_IMPORTED = re.compile(r"imported (?:boto3|botocore) in ([0-9.]+) ms")
_FETCHED = re.compile(r"credentials ([0-9.]+) ms, client ([0-9.]+) ms, request ([0-9.]+) ms")


def miss_phases(b: Bench, exe: str, cache: Path, runs: int = 20) -> dict[str, float]:
    """Median time of each part of a miss, as the helper logs it, and the rest.

    The rest is the wall time less the logged parts: starting the program,
    reading the configuration and the cache, the lock, writing the token and
    ending the process, but also what measuring costs (debug logging, and
    starting the program from this Python rather than hyperfine).
    """
    parts: dict[str, list[float]] = {}
    env = b.env(cache, DOCKER_CREDENTIAL_ECR_LOG_LEVEL="DEBUG")
    for _ in range(runs):
        shutil.rmtree(cache, ignore_errors=True)
        start = time.perf_counter()
        proc = subprocess.run(
            [exe, "get"], input=HOST, env=env, capture_output=True, text=True, check=True
        )
        wall = (time.perf_counter() - start) * 1000
        imported, fetched = _IMPORTED.search(proc.stderr), _FETCHED.search(proc.stderr)
        found: list[tuple[str, float]] = [("total", wall)]
        if imported and fetched:  # builds before 2026-12-02 log none of it
            logged = [float(imported[1]), *(float(x) for x in fetched.groups())]
            names = ("imports", "credentials", "client", "request")
            found += [*zip(names, logged, strict=True), ("rest", wall - sum(logged))]
        for name, value in found:
            parts.setdefault(name, []).append(value)
    return {f"{k}_ms": round(statistics.median(v), 1) for k, v in parts.items()}


def refresh_window(b: Bench, work: Path, single: str) -> dict[str, Any]:
    """A token inside its refresh window, each run starting from the same due token.

    --prepare re-seeds it.  By default get answers at once and refreshes in the
    background; with background refresh off it waits for AWS first.
    """
    window: dict[str, Any] = {}
    seed = work / "due.token"
    now = time.time()
    seed.write_text(
        f"docker-credential-ecr token v1\n{now - 7 * 3600!r}\n{now + 5 * 3600!r}\n"
        f"AWS\nc2VlZGVk\nhttps://{HOST}\n"
    )
    for name, extra in (
        ("background", {}),
        ("synchronous", {"DOCKER_CREDENTIAL_ECR_BACKGROUND_REFRESH": "false"}),
    ):
        cache = work / f"window-{name}"
        tag = Settings(b.env(cache, **extra)).identity_tag()
        entry = cache / f"{HOST}~{tag}.token"
        prepare = f"mkdir -p -m 700 {cache} && cp {seed} {entry} && chmod 600 {entry}"
        b.fake.reset()
        window[name] = b.hyperfine(
            f"window-{name}", single, b.env(cache, **extra), prepare=prepare, runs=20
        )
    # The way a token really passes through its window: due once, then the
    # background refresh lands and the following gets are plain hits.
    cache = work / "window-passing"
    entry = cache / f"{HOST}~{Settings(b.env(cache)).identity_tag()}.token"
    cache.mkdir(mode=0o700)
    shutil.copy(seed, entry)
    entry.chmod(0o600)
    b.fake.reset()
    window["passing"] = b.hyperfine("window-passing", single, b.env(cache), runs=60, warmup=0)
    window["passing"]["api_calls"] = b.fake.total_calls()
    return window


# The endpoint's delay in the day-of-pulls row: a get that took this long waited on AWS.
DAY_DELAY = 0.5


def day_of_pulls(b: Bench, helpers: dict[str, str], work: Path, lifetime: float) -> dict[str, Any]:
    """One ``get`` a second for three token lifetimes; how many waited on AWS, after the first.

    Three pullers at once, each with its own cache: ours with ``refresh --watch``
    running, ours alone, the Go helper.  The endpoint answers after DAY_DELAY, so
    a get that took that long waited for AWS, itself or behind a refresh that held
    the lock.  The lifetime must exceed twice the helper's 5-minute clock-skew
    margin: a due token is served while a refresh runs only while it is that far
    from expiry (real ECR tokens live 12 hours).
    """
    b.fake.reset()
    b.fake.lifetime, b.fake.delay = lifetime, DAY_DELAY
    pullers = {"with_service": "single", "without_service": "single", "go": "go"}
    envs = {name: b.env(work / f"day-{name}") for name in pullers}
    service = subprocess.Popen(
        [helpers["single"], "refresh", "--watch", "--interval", "60", HOST],
        env=envs["with_service"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    gets = int(3 * lifetime)
    try:
        with concurrent.futures.ThreadPoolExecutor(len(pullers)) as pool:
            walls = dict(
                zip(
                    pullers,
                    pool.map(
                        lambda name: b.paced_gets(helpers[pullers[name]], envs[name], gets),
                        pullers,
                    ),
                    strict=True,
                )
            )
    finally:
        service.terminate()
        service.wait(timeout=30)
        b.fake.lifetime, b.fake.delay = 12 * 3600.0, 0.0
    return {
        name: {
            "gets": len(w),
            "first_waited": w[0] >= DAY_DELAY,
            "waited_after_first": sum(t >= DAY_DELAY for t in w[1:]),
            "median_ms": round(statistics.median(w) * 1000, 1),
        }
        for name, w in walls.items()
    } | {"lifetime_s": lifetime}


def run(args: argparse.Namespace, work: Path, fake: FakeAWS, ca: Path) -> int:
    b = Bench(work, fake, ca, args.runs)
    # tar(1): TarFile.extractall's filter needs Python 3.11.4.
    (work / "onedir").mkdir()
    subprocess.run(["tar", "-xzf", args.tarball, "-C", str(work / "onedir")], check=True)
    onedir = str(work / "onedir" / "docker-credential-ecr" / "docker-credential-ecr")
    helpers = {
        "single": args.single,
        "onedir": onedir,
        "go": args.go,
        "floor_boto3": args.floor_boto3,
    }
    if args.miss_only:
        miss = cache_miss(b, helpers, work, build_role_config(work))
        print(json.dumps({k: v.get("median_ms", v) for k, v in miss.items()}, indent=1))
        return 0
    floors = {"floor_single": args.floor_single, "floor_onedir": args.floor_onedir}
    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "kernel": platform.release(),
            "python": sys.version.split()[0],
        },
        "date": time.strftime("%Y-%m-%d"),
        "go_helper_version": sh(args.go, "version").stdout.strip(),
    }

    # 1. Cache-hit latency.
    hit: dict[str, Any] = {}
    for name, exe in helpers.items():
        env = b.env(work / f"hit-{name}")
        b.get(exe, env)
        fake.reset()
        hit[name] = b.hyperfine(f"hit-{name}", exe, env)
        hit[name]["api_calls"] = fake.total_calls()
    for name, exe in floors.items():
        hit[name] = b.hyperfine(name, exe, b.env(work / "floor"))
    # The same hits answered by Python: any DOCKER_CREDENTIAL_ECR_* setting
    # (here a made-up one) turns the launcher's native answer off.
    for name in ("single", "onedir"):
        env = b.env(work / f"hit-{name}", DOCKER_CREDENTIAL_ECR_FASTPATH="off")
        hit[f"{name}_python"] = b.hyperfine(f"hit-{name}-python", helpers[name], env)
    results["cache_hit"] = hit

    results["kubelet_hit"] = kubelet_hit(b, helpers, work, fake)

    # 2. A profile that assumes a role.
    config = build_role_config(work)
    role: dict[str, Any] = {}
    for name in ("single", "go"):
        exe = helpers[name]
        env = b.env(work / f"role-{name}", AWS_PROFILE="puller", AWS_CONFIG_FILE=str(config))
        del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
        fake.reset()
        b.get(exe, env)
        first = dict(fake.calls)
        fake.reset()
        role[name] = b.hyperfine(f"role-{name}", exe, env, runs=20)
        calls = sum(fake.calls.values())
        role[name].update(
            {
                "first_get_calls": first,
                "calls_per_later_get": round(calls / (role[name]["runs"] + 3), 2),
                "sts_calls_per_later_get": round(
                    fake.calls.get("sts:AssumeRole", 0) / (role[name]["runs"] + 3), 2
                ),
            }
        )
    results["role_profile"] = role

    # 3. Cache miss: every run starts with an empty cache.
    results["cache_miss"] = cache_miss(b, helpers, work, config)

    results["refresh_window"] = refresh_window(b, work, args.single)

    # 4. 32 concurrent cold gets against an endpoint that takes 200 ms to answer.
    fake.delay = 0.2
    results["concurrent_cold_32"] = {
        name: b.concurrent_cold(helpers[name], work / f"cold-{name}") for name in ("single", "go")
    }
    fake.delay = 0.0

    # 5. Memory and size.
    results["peak_rss_kib"] = {
        name: b.peak_rss_kib(exe, b.env(work / f"hit-{name}")) for name, exe in helpers.items()
    }
    results["size_bytes"] = {
        "single": size_of(Path(args.single)),
        "onedir_tarball": size_of(Path(args.tarball)),
        "onedir_unpacked": size_of(work / "onedir"),
        "go": size_of(Path(args.go)),
    }

    # 6. A day of pulls, shortened: last, since it changes the endpoint's tokens.
    results["day_of_pulls"] = day_of_pulls(b, helpers, work, args.day_lifetime)

    evaluate(results)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"\nJSON: {args.json}")
    return 0


def evaluate(results: dict[str, Any]) -> None:
    """Add the ratios and the targets' verdicts to ``results``."""
    r = results
    h, m = r["cache_hit"], r["cache_miss"]
    r["ratios"] = {
        "onedir_vs_floor": ratio(h["onedir"]["median_ms"], h["floor_onedir"]["median_ms"]),
        "onedir_python_vs_floor": ratio(
            h["onedir_python"]["median_ms"], h["floor_onedir"]["median_ms"]
        ),
        "single_python_vs_floor": ratio(
            h["single_python"]["median_ms"], h["floor_single"]["median_ms"]
        ),
        "single_python_vs_go": ratio(h["single_python"]["median_ms"], h["go"]["median_ms"]),
        "onedir_vs_go": ratio(h["onedir"]["median_ms"], h["go"]["median_ms"]),
        "single_vs_floor": ratio(h["single"]["median_ms"], h["floor_single"]["median_ms"]),
        "single_vs_go": ratio(h["single"]["median_ms"], h["go"]["median_ms"]),
        "kubelet_single_vs_floor": ratio(
            r["kubelet_hit"]["single"]["median_ms"], h["floor_single"]["median_ms"]
        ),
        "kubelet_single_vs_go_hit": ratio(
            r["kubelet_hit"]["single"]["median_ms"], h["go"]["median_ms"]
        ),
        "role_go_vs_single": ratio(
            r["role_profile"]["go"]["median_ms"], r["role_profile"]["single"]["median_ms"]
        ),
        **{
            f"miss_{k}_vs_{floor}": ratio(m[k]["median_ms"], m[floor]["median_ms"])
            for k, floor in (
                ("single", "floor_boto3"),
                ("onedir", "floor_boto3"),
                ("role_single", "role_floor_boto3"),
                ("single", "go"),
                ("onedir", "go"),
                ("role_single", "role_go"),
            )
        },
    }
    x = r["ratios"]
    r["targets"] = {
        "onedir hit <= 1.3x floor": x["onedir_vs_floor"] <= 1.3,
        "onedir hit <= 5x Go": x["onedir_vs_go"] <= 5,
        "single hit <= 1.3x floor": x["single_vs_floor"] <= 1.3,
        "single hit <= 10x Go": x["single_vs_go"] <= 10,
        "kubelet warm request: no API call": all(
            k["api_calls"] == 0 for k in r["kubelet_hit"].values()
        ),
        "role: <= 1 STS + 1 ECR call per token lifetime": sum(
            r["role_profile"]["single"]["first_get_calls"].values()
        )
        <= 2
        and r["role_profile"]["single"]["calls_per_later_get"] == 0,
        "role: >= 3x faster than Go": x["role_go_vs_single"] >= 3,
        "32 cold gets: exactly 1 API call": r["concurrent_cold_32"]["single"]["api_calls"] == 1,
        "miss (single file) <= 0.7x the boto3 floor": x["miss_single_vs_floor_boto3"] <= 0.7,
        "miss (one-folder) <= 0.7x the boto3 floor": x["miss_onedir_vs_floor_boto3"] <= 0.7,
        "assumed-role miss <= 0.7x the boto3 floor": x["miss_role_single_vs_role_floor_boto3"]
        <= 0.7,
        "day of pulls, service running: no get waits on AWS after the first": r["day_of_pulls"][
            "with_service"
        ]["waited_after_first"]
        == 0,
        "single file <= 30 MB": r["size_bytes"]["single"] <= 30 * 1024 * 1024,
    }


def row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def table(r: dict[str, Any]) -> str:
    """The results as Markdown: hits and sizes, then misses and services, ratios, targets."""
    return "\n".join([*hit_rows(r), "", *miss_rows(r), "", *day_rows(r), "", *verdict_rows(r)])


def hit_rows(r: dict[str, Any]) -> list[str]:
    """Cache hits, memory and size, for each form and the floors."""
    h, rss, size = r["cache_hit"], r["peak_rss_kib"], r["size_bytes"]
    kh = r["kubelet_hit"]
    forms = ("single", "onedir", "go", "floor_single", "floor_onedir")
    return [
        row(
            "measurement",
            "ours: single file",
            "ours: one-folder",
            "Go helper",
            "floor: single",
            "floor: one-folder",
        ),
        row(*["---"] * 6),
        row(
            "cache-hit `get`, median / p90 (ms)",
            *(f"{h[k]['median_ms']} / {h[k]['p90_ms']}" for k in forms),
        ),
        row(
            "... answered by Python (native path off), median / p90 (ms)",
            *(
                f"{h[k]['median_ms']} / {h[k]['p90_ms']}"
                for k in ("single_python", "onedir_python")
            ),
            "",
            "",
            "",
        ),
        row(
            "kubelet `get-credentials`, warm cache, median / p90 (ms)",
            *(f"{kh[k]['median_ms']} / {kh[k]['p90_ms']}" for k in ("single", "onedir")),
            "",
            "",
            "",
        ),
        row("API calls during cache hits", *(h[k]["api_calls"] for k in forms[:3]), "", ""),
        row("peak RSS of a cache hit (MiB)", *(f"{rss[k] / 1024:.1f}" for k in forms[:3]), "", ""),
        row(
            "size (MB)",
            f"{size['single'] / 1e6:.1f}",
            f"{size['onedir_tarball'] / 1e6:.1f} (.tar.gz), "
            f"{size['onedir_unpacked'] / 1e6:.1f} unpacked",
            f"{size['go'] / 1e6:.1f}",
            "",
            "",
        ),
    ]


def miss_rows(r: dict[str, Any]) -> list[str]:
    """Roles, refresh windows, misses and stampedes: ours (single file), the boto3 floor, Go."""
    role, miss, cold = r["role_profile"], r["cache_miss"], r["concurrent_cold_32"]
    win = r["refresh_window"]

    def timed(k: str) -> str:
        return f"{miss[k]['median_ms']} / {miss[k]['p90_ms']}"

    return [
        row("measurement", "ours (single file)", "simplest frozen boto3 program", "Go helper"),
        row("---", "---", "---", "---"),
        row(
            "cache-miss `get`, median / p90 (ms)",
            f"{timed('single')} (one-folder: {timed('onedir')})",
            timed("floor_boto3"),
            timed("go"),
        ),
        row(
            "... its parts, median (ms)",
            "; ".join(f"{k.removesuffix('_ms')} {v}" for k, v in miss["phases"].items()),
            "",
            "",
        ),
        row(
            "assumed-role cache miss (STS + ECR), median / p90 (ms)",
            *(timed(k) for k in ("role_single", "role_floor_boto3", "role_go")),
        ),
        row("assumed-role profile `get`, median (ms)", role["single"]["median_ms"], "",
            role["go"]["median_ms"]),
        row("... API calls on the first `get`", role["single"]["first_get_calls"], "",
            role["go"]["first_get_calls"]),
        row("... API calls per later `get`", role["single"]["calls_per_later_get"], "",
            role["go"]["calls_per_later_get"]),
        row(
            "`get` of a token in its refresh window, median / p90 (ms)",
            f"first get in the window {win['background']['median_ms']} (refreshing first instead: "
            f"{win['synchronous']['median_ms']}); 60 gets as a token passes through it: "
            f"{win['passing']['median_ms']} / {win['passing']['p90_ms']}, "
            f"{win['passing']['api_calls']} API call",
            "",
            "",
        ),
        row("32 concurrent cold `get`s: API calls", cold["single"]["api_calls"], "",
            cold["go"]["api_calls"]),
        row(
            "32 concurrent cold `get`s: wall time (ms), failures",
            f"{cold['single']['wall_ms']}, {cold['single']['failed']}",
            "",
            f"{cold['go']['wall_ms']}, {cold['go']['failed']}",
        ),
    ]  # fmt: skip


def day_rows(r: dict[str, Any]) -> list[str]:
    """The day of pulls: gets that waited on AWS, with and without the refresh service."""
    day = r["day_of_pulls"]
    forms = ("with_service", "without_service", "go")

    def cell(k: str) -> str:
        first = "waited" if day[k]["first_waited"] else "did not wait"
        return f"{day[k]['waited_after_first']} of {day[k]['gets'] - 1} (the first {first})"

    return [
        row(
            f"a day of pulls: 1 `get`/s for 3 token lifetimes of {day['lifetime_s']:g} s",
            "ours, `refresh --watch` running",
            "ours alone",
            "Go helper",
        ),
        row("---", "---", "---", "---"),
        row("`get`s that waited on AWS, after the first", *(cell(k) for k in forms)),
        row("median `get` (ms)", *(day[k]["median_ms"] for k in forms)),
    ]


def verdict_rows(r: dict[str, Any]) -> list[str]:
    """Every ratio, then every target and whether it was met."""
    return [
        row("ratio", "value"),
        row("---", "---"),
        *(row(k, v) for k, v in r["ratios"].items()),
        "",
        row("target", "met"),
        row("---", "---"),
        *(row(k, "yes" if v else "NO") for k, v in r["targets"].items()),
    ]


if __name__ == "__main__":
    raise SystemExit(main())
