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
from dataclasses import asdict, dataclass
from pathlib import Path

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


# The records each stage returns.  docs/benchmarks.json is their dataclasses.asdict,
# so renaming or moving a field changes that file's keys, which docs/benchmarks.md
# and earlier runs' files are read against (tests/test_benchmark.py holds them to it).


@dataclass(frozen=True)
class Timing:
    """One command's wall times under hyperfine: median and 90th percentile (ms), runs."""

    median_ms: float
    p90_ms: float
    runs: int

    def counted(self, api_calls: int) -> CountedTiming:
        """This timing with the number of API calls the endpoint saw during it."""
        return CountedTiming(self.median_ms, self.p90_ms, self.runs, api_calls=api_calls)


@dataclass(frozen=True)
class HitComparison:
    """One hit path, the baseline build against this one: wall times and instructions."""

    baseline: Timing
    current: Timing
    baseline_instructions: int
    current_instructions: int

    @property
    def instructions_ratio(self) -> float:
        """This build's instructions over the baseline's: the figure noise does not move.

        Not rounded as ``ratio`` is: the bound is a few per cent.
        """
        return self.current_instructions / max(1, self.baseline_instructions)

    @property
    def wall_ratio(self) -> float:
        """This build's median over the baseline's."""
        return ratio(self.current.median_ms, self.baseline.median_ms)


@dataclass(frozen=True)
class HitAB:
    """A cache hit, native and through Python, of a baseline commit's build and this one."""

    baseline_rev: str
    native: HitComparison
    python: HitComparison


# How much more a hit may cost, in instructions, than the baseline's before --baseline
# fails: a hit's wall time (under 1 ms) moves 30 % between runs; its instructions by <1 %.
HIT_INSTRUCTIONS_BOUND = 1.05


@dataclass(frozen=True)
class CountedTiming(Timing):
    """A timing and the number of API calls the endpoint saw during it."""

    api_calls: int


@dataclass(frozen=True)
class MissTiming(Timing):
    """A timing of cache misses and the API calls of each kind the endpoint saw."""

    api_calls: dict[str, int]


@dataclass(frozen=True)
class RoleTiming(Timing):
    """Gets through an assumed role: the first one's API calls, and the later ones' per get."""

    first_get_calls: dict[str, int]
    calls_per_later_get: float
    sts_calls_per_later_get: float


@dataclass(frozen=True)
class CacheHit:
    """Gets from a warm cache by each helper and the floors, and ours answered by Python."""

    single: CountedTiming
    onedir: CountedTiming
    go: CountedTiming
    floor_boto3: CountedTiming
    floor_single: Timing
    floor_onedir: Timing
    single_python: Timing
    onedir_python: Timing


@dataclass(frozen=True)
class KubeletHit:
    """The kubelet's request answered from a warm cache by each of our forms."""

    single: CountedTiming
    onedir: CountedTiming


@dataclass(frozen=True)
class RoleProfile:
    """Gets through a profile that assumes a role: ours (single file) and Go's."""

    single: RoleTiming
    go: RoleTiming


@dataclass(frozen=True)
class CacheMiss:
    """Gets with an empty cache, with static keys and through an assumed role; a miss's parts."""

    single: MissTiming
    onedir: MissTiming
    floor_boto3: MissTiming
    go: MissTiming
    role_single: MissTiming
    role_floor_boto3: MissTiming
    role_go: MissTiming
    # A mapping, not fields: a build that logs no parts of its misses gives only the total.
    phases: dict[str, float]


@dataclass(frozen=True)
class RefreshWindow:
    """Gets of a token due for refresh: the first in its window, each way, and 60 passing."""

    background: Timing
    synchronous: Timing
    passing: CountedTiming


@dataclass(frozen=True)
class ColdGets:
    """Concurrent gets with one empty cache: API calls, wall time, failures, distinct tokens."""

    api_calls: int
    wall_ms: float
    failed: int
    distinct_tokens: int


@dataclass(frozen=True)
class ConcurrentCold:
    """32 concurrent cold gets: ours (single file) and Go's."""

    single: ColdGets
    go: ColdGets


@dataclass(frozen=True)
class PeakRss:
    """Each helper's median peak RSS (KiB) during a cache hit."""

    single: int
    onedir: int
    go: int
    floor_boto3: int


@dataclass(frozen=True)
class Sizes:
    """Bytes on disk of each of our forms and of the Go helper."""

    single: int
    onedir_tarball: int
    onedir_unpacked: int
    go: int


@dataclass(frozen=True)
class Puller:
    """One puller's day: its gets, which of them waited on AWS, and their median (ms)."""

    gets: int
    first_waited: bool
    waited_after_first: int
    median_ms: float

    @classmethod
    def from_walls(cls, walls: list[float]) -> Puller:
        """What the wall times (s) of a puller's gets say."""
        return cls(
            gets=len(walls),
            first_waited=walls[0] >= DAY_DELAY,
            waited_after_first=sum(t >= DAY_DELAY for t in walls[1:]),
            median_ms=round(statistics.median(walls) * 1000, 1),
        )


@dataclass(frozen=True)
class DayOfPulls:
    """Three pullers at once for three token lifetimes: ours with and without the service, Go."""

    with_service: Puller
    without_service: Puller
    go: Puller
    lifetime_s: float


@dataclass(frozen=True)
class Machine:
    """What the figures were measured on."""

    cpus: int | None
    kernel: str
    python: str


@dataclass(frozen=True)
class Measurements:
    """Every figure of a full run."""

    machine: Machine
    date: str
    go_helper_version: str
    cache_hit: CacheHit
    kubelet_hit: KubeletHit
    role_profile: RoleProfile
    cache_miss: CacheMiss
    refresh_window: RefreshWindow
    concurrent_cold_32: ConcurrentCold
    peak_rss_kib: PeakRss
    size_bytes: Sizes
    day_of_pulls: DayOfPulls


@dataclass(frozen=True)
class Ratios:
    """Our medians over the floors' and Go's: hits, the kubelet's request, the role, misses."""

    onedir_vs_floor: float
    onedir_python_vs_floor: float
    single_python_vs_floor: float
    single_python_vs_go: float
    onedir_vs_go: float
    single_vs_floor: float
    single_vs_go: float
    kubelet_single_vs_floor: float
    kubelet_single_vs_go_hit: float
    role_go_vs_single: float
    miss_single_vs_floor_boto3: float
    miss_onedir_vs_floor_boto3: float
    miss_role_single_vs_role_floor_boto3: float
    miss_single_vs_go: float
    miss_onedir_vs_go: float
    miss_role_single_vs_role_go: float


@dataclass(frozen=True)
class Verdicts:
    """The ratios of a run, and whether it met each target."""

    ratios: Ratios
    # Keyed by the target as a reader states it: the table and the file show the sentence.
    targets: dict[str, bool]


@dataclass(frozen=True)
class Programs:
    """The executables measured: our two forms, AWS's Go helper and the three floors."""

    single: str
    onedir: str
    go: str
    floor_boto3: str
    floor_single: str
    floor_onedir: str


def sh(*args: str) -> subprocess.CompletedProcess[str]:
    """Run a command that must succeed; its output, as text."""
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
    """The helpers' environment against the fake endpoint, and the ways of timing them."""

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
        """The helpers' environment: static keys, ``cache`` as the token cache, and ``extra``."""
        return {**self.base_env, "AWS_ECR_CACHE_DIR": str(cache), **extra}

    def role_env(self, cache: Path, config: Path) -> dict[str, str]:
        """The environment of the profile in ``config`` that assumes a role (no static keys)."""
        env = self.env(cache, AWS_PROFILE="puller", AWS_CONFIG_FILE=str(config))
        del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
        return env

    def get(self, exe: str, env: dict[str, str]) -> str:
        """One ``get`` of HOST, which must succeed; the secret it answered."""
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
    ) -> Timing:
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
        return Timing(
            median_ms=round(statistics.median(times), 2),
            p90_ms=round(times[max(0, int(len(times) * 0.9) - 1)], 2),
            runs=len(times),
        )

    def instructions(self, exe: str, env: dict[str, str]) -> int:
        """Instructions one ``get`` of HOST executes, in every process it runs, by callgrind."""
        out = Path(tempfile.mkdtemp(prefix="callgrind-", dir=self.work))
        with self.hostfile.open("rb") as stdin:
            subprocess.run(
                [
                    "valgrind",
                    "--tool=callgrind",
                    "--trace-children=yes",
                    f"--callgrind-out-file={out}/cg.%p",
                    exe,
                    "get",
                ],
                stdin=stdin,
                env=env,
                check=True,
                capture_output=True,
            )
        return sum(callgrind_total(f.read_text()) for f in out.iterdir())

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
        """The median peak RSS (KiB) of ``runs`` gets."""
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

    def concurrent_cold(self, exe: str, cache: Path, n: int = 32) -> ColdGets:
        """``n`` gets started at once with an empty cache."""
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
        return ColdGets(
            api_calls=self.fake.total_calls(),
            wall_ms=round(wall * 1000, 1),
            failed=failed,
            distinct_tokens=len(tokens),
        )


def build_role_config(work: Path) -> Path:
    """An AWS config whose profile ``puller`` assumes a role with profile ``base``'s keys."""
    config = work / "aws-role-config"
    config.write_text(
        "[profile base]\naws_access_key_id = AKIDBASEPROFILE00001\naws_secret_access_key = base\n"
        "region = us-east-1\n\n"
        "[profile puller]\nrole_arn = arn:aws:iam::123456789012:role/puller\n"
        "source_profile = base\nregion = us-east-1\n"
    )
    return config


def callgrind_total(profile: str) -> int:
    """The instructions a callgrind profile counted (its ``totals:`` or ``summary:`` line).

    >>> callgrind_total("events: Ir\\nsummary: 46384\\ntotals: 46384\\n")
    46384
    """
    found = re.search(r"^(?:totals|summary): (\d+)", profile, re.MULTILINE)
    if found is None:
        raise SystemExit("bench: a callgrind profile without its totals")
    return int(found.group(1))


def size_of(path: Path) -> int:
    """The bytes of a file, or of the regular files under a folder."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def ratio(a: float, b: float) -> float:
    """``a / b`` to two places, or infinity when ``b`` is 0."""
    return round(a / b, 2) if b else float("inf")


def main() -> int:
    """Set up the private network and the endpoint, measure, and clean up."""
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
    parser.add_argument(
        "--baseline-single",
        help="another build's single file: compare only cache hits with it; print, write nothing",
    )
    parser.add_argument("--baseline-rev", default="", help="the commit that build is of")
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


def run(args: argparse.Namespace, work: Path, fake: FakeAWS, ca: Path) -> int:
    """Measure (everything, or with --miss-only the misses) and report it."""
    b = Bench(work, fake, ca, args.runs)
    programs = unpack(args, work)
    if args.baseline_single:
        ab = hit_ab(b, args.single, args.baseline_single, args.baseline_rev, work)
        print("\n".join(ab_rows(ab)))
        return 0 if ab_holds(ab) else 1
    if args.miss_only:
        miss = cache_miss(b, programs, work, build_role_config(work))
        print(json.dumps({k: v.get("median_ms", v) for k, v in asdict(miss).items()}, indent=1))
        return 0
    measured = measure(b, programs, work, args)
    verdicts = evaluate(measured)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(document(measured, verdicts), indent=2) + "\n")
    print(table(measured, verdicts))
    print(f"\nJSON: {args.json}")
    return 0


def unpack(args: argparse.Namespace, work: Path) -> Programs:
    """The programs to measure, with our one-folder bundle unpacked under ``work``."""
    # tar(1): TarFile.extractall's filter needs Python 3.11.4.
    (work / "onedir").mkdir()
    subprocess.run(["tar", "-xzf", args.tarball, "-C", str(work / "onedir")], check=True)
    return Programs(
        single=args.single,
        onedir=str(work / "onedir" / "docker-credential-ecr" / "docker-credential-ecr"),
        go=args.go,
        floor_boto3=args.floor_boto3,
        floor_single=args.floor_single,
        floor_onedir=args.floor_onedir,
    )


def measure(b: Bench, p: Programs, work: Path, args: argparse.Namespace) -> Measurements:
    """Every measurement of a full run."""
    config = build_role_config(work)
    # Python evaluates these arguments in order, and the order of measurement matters:
    # the hits warm the caches the kubelet's requests and the memory figures read, and
    # the day of pulls comes last, since it changes the endpoint's tokens.
    return Measurements(
        machine=Machine(
            cpus=os.cpu_count(), kernel=platform.release(), python=sys.version.split()[0]
        ),
        date=time.strftime("%Y-%m-%d"),
        go_helper_version=sh(p.go, "version").stdout.strip(),
        cache_hit=cache_hit(b, p, work),
        kubelet_hit=kubelet_hit(b, p, work),
        role_profile=role_profile(b, p, work, config),
        cache_miss=cache_miss(b, p, work, config),
        refresh_window=refresh_window(b, work, p.single),
        concurrent_cold_32=concurrent_cold_32(b, p, work),
        peak_rss_kib=peak_rss(b, p, work),
        size_bytes=sizes(p, Path(args.tarball), work),
        day_of_pulls=day_of_pulls(b, p, work, args.day_lifetime),
    )


def cache_hit(b: Bench, p: Programs, work: Path) -> CacheHit:
    """Gets from a warm cache by each helper and the floors, then ours answered by Python."""

    def warm(name: str, exe: str) -> CountedTiming:
        env = b.env(work / f"hit-{name}")
        b.get(exe, env)
        b.fake.reset()
        return b.hyperfine(f"hit-{name}", exe, env).counted(b.fake.total_calls())

    def floor(name: str, exe: str) -> Timing:
        return b.hyperfine(name, exe, b.env(work / "floor"))

    def python(name: str, exe: str) -> Timing:
        # Any DOCKER_CREDENTIAL_ECR_* setting (here a made-up one) turns the
        # launcher's native answer off; the cache is the one warm() filled.
        env = b.env(work / f"hit-{name}", DOCKER_CREDENTIAL_ECR_FASTPATH="off")
        return b.hyperfine(f"hit-{name}-python", exe, env)

    return CacheHit(
        single=warm("single", p.single),
        onedir=warm("onedir", p.onedir),
        go=warm("go", p.go),
        floor_boto3=warm("floor_boto3", p.floor_boto3),
        floor_single=floor("floor_single", p.floor_single),
        floor_onedir=floor("floor_onedir", p.floor_onedir),
        single_python=python("single", p.single),
        onedir_python=python("onedir", p.onedir),
    )


def hit_ab(b: Bench, current: str, baseline: str, rev: str, work: Path) -> HitAB:
    """Cache hits of both builds over one warm cache each, natively and through Python."""

    programs = {"baseline": baseline, "current": current}

    def compare(name: str, **extra: str) -> HitComparison:
        envs = {label: b.env(work / f"ab-{label}", **extra) for label in programs}
        timed: dict[str, list[Timing]] = {label: [] for label in programs}
        for label, exe in programs.items():
            b.get(exe, envs[label])
        # ABBA: neither build always runs first, or on the warmer machine.
        for i, label in enumerate(("baseline", "current", "current", "baseline")):
            timed[label].append(b.hyperfine(f"ab-{name}-{i}", programs[label], envs[label]))
        return HitComparison(
            baseline=min(timed["baseline"], key=lambda t: t.median_ms),
            current=min(timed["current"], key=lambda t: t.median_ms),
            baseline_instructions=b.instructions(baseline, envs["baseline"]),
            current_instructions=b.instructions(current, envs["current"]),
        )

    # Any DOCKER_CREDENTIAL_ECR_* setting turns the launcher's native answer off.
    return HitAB(rev, compare("native"), compare("python", DOCKER_CREDENTIAL_ECR_FASTPATH="off"))


def ab_holds(ab: HitAB) -> bool:
    """Whether neither hit path costs more instructions than the bound allows."""
    return all(c.instructions_ratio <= HIT_INSTRUCTIONS_BOUND for c in (ab.native, ab.python))


def ab_rows(ab: HitAB) -> list[str]:
    """The comparison as a table, and its verdict."""
    rows = [
        f"cache hit, this build against {ab.baseline_rev or 'the baseline'}:",
        row("path", "baseline ms", "this ms", "ratio", "baseline instr", "this instr", "ratio"),
    ]
    for label, c in (("native", ab.native), ("python", ab.python)):
        rows.append(
            row(
                label,
                c.baseline.median_ms,
                c.current.median_ms,
                f"{c.wall_ratio:.2f}x",
                f"{c.baseline_instructions:,}",
                f"{c.current_instructions:,}",
                f"{c.instructions_ratio:.3f}x",
            )
        )
    verdict = "holds" if ab_holds(ab) else "FAILS"
    rows.append(f"instructions at most {HIT_INSTRUCTIONS_BOUND}x the baseline's: {verdict}")
    return rows


def kubelet_hit(b: Bench, p: Programs, work: Path) -> KubeletHit:
    """The kubelet's request, answered from the cache the Docker mode's hits warmed."""

    def hit(name: str, exe: str) -> CountedTiming:
        b.fake.reset()
        timing = b.hyperfine(
            f"kubelet-{name}",
            exe,
            b.env(work / f"hit-{name}"),
            request=("get-credentials", b.kubelet_request),
        )
        return timing.counted(b.fake.total_calls())

    return KubeletHit(single=hit("single", p.single), onedir=hit("onedir", p.onedir))


def role_profile(b: Bench, p: Programs, work: Path, config: Path) -> RoleProfile:
    """A profile that assumes a role: the API calls of the first get, then the later gets."""

    def gets(name: str, exe: str) -> RoleTiming:
        env = b.role_env(work / f"role-{name}", config)
        b.fake.reset()
        b.get(exe, env)
        first = dict(b.fake.calls)
        b.fake.reset()
        warmup = 3
        timing = b.hyperfine(f"role-{name}", exe, env, runs=20, warmup=warmup)
        # The endpoint counted the warmup's gets too.
        later = timing.runs + warmup
        return RoleTiming(
            timing.median_ms,
            timing.p90_ms,
            timing.runs,
            first_get_calls=first,
            calls_per_later_get=round(sum(b.fake.calls.values()) / later, 2),
            sts_calls_per_later_get=round(b.fake.calls.get("sts:AssumeRole", 0) / later, 2),
        )

    return RoleProfile(single=gets("single", p.single), go=gets("go", p.go))


def cache_miss(b: Bench, p: Programs, work: Path, role_config: Path) -> CacheMiss:
    """Gets with an empty cache: static keys (each form, the boto3 floor, Go), an assumed role.

    Each run erases the token first, so the lock, the fetch and the cache write
    are all in it; and where the single file's miss goes.
    """

    def misses(name: str, exe: str, role: bool = False) -> MissTiming:
        cache = work / f"miss-{name}"
        env = b.role_env(cache, role_config) if role else b.env(cache)
        b.fake.reset()
        timing = b.hyperfine(f"miss-{name}", exe, env, prepare=f"rm -rf {cache}", runs=20)
        return MissTiming(timing.median_ms, timing.p90_ms, timing.runs, dict(b.fake.calls))

    return CacheMiss(
        single=misses("single", p.single),
        onedir=misses("onedir", p.onedir),
        floor_boto3=misses("floor_boto3", p.floor_boto3),
        go=misses("go", p.go),
        role_single=misses("role_single", p.single, role=True),
        role_floor_boto3=misses("role_floor_boto3", p.floor_boto3, role=True),
        role_go=misses("role_go", p.go, role=True),
        phases=miss_phases(b, p.single, work / "miss-phases"),
    )


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


def refresh_window(b: Bench, work: Path, single: str) -> RefreshWindow:
    """A token inside its refresh window, each run starting from the same due token.

    --prepare re-seeds it.  By default get answers at once and refreshes in the
    background; with background refresh off it waits for AWS first.
    """
    seed = work / "due.token"
    now = time.time()
    seed.write_text(
        f"docker-credential-ecr token v1\n{now - 7 * 3600!r}\n{now + 5 * 3600!r}\n"
        f"AWS\nc2VlZGVk\nhttps://{HOST}\n"
    )

    def first_get(name: str, **extra: str) -> Timing:
        cache = work / f"window-{name}"
        tag = Settings(b.env(cache, **extra)).identity_tag()
        entry = cache / f"{HOST}~{tag}.token"
        prepare = f"mkdir -p -m 700 {cache} && cp {seed} {entry} && chmod 600 {entry}"
        b.fake.reset()
        return b.hyperfine(
            f"window-{name}", single, b.env(cache, **extra), prepare=prepare, runs=20
        )

    return RefreshWindow(
        background=first_get("background"),
        synchronous=first_get("synchronous", DOCKER_CREDENTIAL_ECR_BACKGROUND_REFRESH="false"),
        passing=passing_window(b, work / "window-passing", seed, single),
    )


def passing_window(b: Bench, cache: Path, seed: Path, single: str) -> CountedTiming:
    """60 gets from the due token ``seed``, with no re-seeding between them."""
    # The way a token really passes through its window: due once, then the
    # background refresh lands and the following gets are plain hits.
    entry = cache / f"{HOST}~{Settings(b.env(cache)).identity_tag()}.token"
    cache.mkdir(mode=0o700)
    shutil.copy(seed, entry)
    entry.chmod(0o600)
    b.fake.reset()
    timing = b.hyperfine("window-passing", single, b.env(cache), runs=60, warmup=0)
    return timing.counted(b.fake.total_calls())


def concurrent_cold_32(b: Bench, p: Programs, work: Path) -> ConcurrentCold:
    """32 concurrent cold gets by ours and Go's, against an endpoint that takes 200 ms to answer."""
    b.fake.delay = 0.2
    cold = ConcurrentCold(
        single=b.concurrent_cold(p.single, work / "cold-single"),
        go=b.concurrent_cold(p.go, work / "cold-go"),
    )
    b.fake.delay = 0.0
    return cold


def peak_rss(b: Bench, p: Programs, work: Path) -> PeakRss:
    """Each helper's peak RSS during a get from the cache its hits warmed."""

    def of(name: str, exe: str) -> int:
        return b.peak_rss_kib(exe, b.env(work / f"hit-{name}"))

    return PeakRss(
        single=of("single", p.single),
        onedir=of("onedir", p.onedir),
        go=of("go", p.go),
        floor_boto3=of("floor_boto3", p.floor_boto3),
    )


def sizes(p: Programs, tarball: Path, work: Path) -> Sizes:
    """The size of each of our forms (the one-folder one packed and unpacked) and of Go's."""
    return Sizes(
        single=size_of(Path(p.single)),
        onedir_tarball=size_of(tarball),
        onedir_unpacked=size_of(work / "onedir"),
        go=size_of(Path(p.go)),
    )


# The endpoint's delay in the day-of-pulls row: a get that took this long waited on AWS.
DAY_DELAY = 0.5


def day_of_pulls(b: Bench, p: Programs, work: Path, lifetime: float) -> DayOfPulls:
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
    pullers = {
        "with_service": (p.single, b.env(work / "day-with_service")),
        "without_service": (p.single, b.env(work / "day-without_service")),
        "go": (p.go, b.env(work / "day-go")),
    }
    service = subprocess.Popen(
        [p.single, "refresh", "--watch", "--interval", "60", HOST],
        env=pullers["with_service"][1],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        walls = paced_together(b, pullers, int(3 * lifetime))
    finally:
        service.terminate()
        service.wait(timeout=30)
        b.fake.lifetime, b.fake.delay = 12 * 3600.0, 0.0
    return DayOfPulls(
        with_service=Puller.from_walls(walls["with_service"]),
        without_service=Puller.from_walls(walls["without_service"]),
        go=Puller.from_walls(walls["go"]),
        lifetime_s=lifetime,
    )


def paced_together(
    b: Bench, pullers: dict[str, tuple[str, dict[str, str]]], gets: int
) -> dict[str, list[float]]:
    """Each puller's (program, environment) paced gets, all at once; their wall times."""
    with concurrent.futures.ThreadPoolExecutor(len(pullers)) as pool:
        running = {
            name: pool.submit(b.paced_gets, exe, env, gets) for name, (exe, env) in pullers.items()
        }
    return {name: future.result() for name, future in running.items()}


def evaluate(m: Measurements) -> Verdicts:
    """The ratios of a run's figures, and the targets' verdicts on them."""
    ratios = compare(m)
    return Verdicts(ratios=ratios, targets=judge(m, ratios))


def vs(a: Timing, b: Timing) -> float:
    """``a``'s median over ``b``'s."""
    return ratio(a.median_ms, b.median_ms)


def compare(m: Measurements) -> Ratios:
    """Our medians over the floors' and Go's."""
    h, kubelet, role, miss = m.cache_hit, m.kubelet_hit, m.role_profile, m.cache_miss
    return Ratios(
        onedir_vs_floor=vs(h.onedir, h.floor_onedir),
        onedir_python_vs_floor=vs(h.onedir_python, h.floor_onedir),
        single_python_vs_floor=vs(h.single_python, h.floor_single),
        single_python_vs_go=vs(h.single_python, h.go),
        onedir_vs_go=vs(h.onedir, h.go),
        single_vs_floor=vs(h.single, h.floor_single),
        single_vs_go=vs(h.single, h.go),
        kubelet_single_vs_floor=vs(kubelet.single, h.floor_single),
        kubelet_single_vs_go_hit=vs(kubelet.single, h.go),
        role_go_vs_single=vs(role.go, role.single),
        miss_single_vs_floor_boto3=vs(miss.single, miss.floor_boto3),
        miss_onedir_vs_floor_boto3=vs(miss.onedir, miss.floor_boto3),
        miss_role_single_vs_role_floor_boto3=vs(miss.role_single, miss.role_floor_boto3),
        miss_single_vs_go=vs(miss.single, miss.go),
        miss_onedir_vs_go=vs(miss.onedir, miss.go),
        miss_role_single_vs_role_go=vs(miss.role_single, miss.role_go),
    )


def judge(m: Measurements, x: Ratios) -> dict[str, bool]:
    """Each target and whether the run met it."""
    role, kubelet = m.role_profile.single, m.kubelet_hit
    role_calls = sum(role.first_get_calls.values()) <= 2 and role.calls_per_later_get == 0
    return {
        "onedir hit <= 1.3x floor": x.onedir_vs_floor <= 1.3,
        "onedir hit <= 5x Go": x.onedir_vs_go <= 5,
        "single hit <= 1.3x floor": x.single_vs_floor <= 1.3,
        "single hit <= 10x Go": x.single_vs_go <= 10,
        "kubelet warm request: no API call": all(
            t.api_calls == 0 for t in (kubelet.single, kubelet.onedir)
        ),
        "role: <= 1 STS + 1 ECR call per token lifetime": role_calls,
        "role: >= 3x faster than Go": x.role_go_vs_single >= 3,
        "32 cold gets: exactly 1 API call": m.concurrent_cold_32.single.api_calls == 1,
        "miss (single file) <= 0.7x the boto3 floor": x.miss_single_vs_floor_boto3 <= 0.7,
        "miss (one-folder) <= 0.7x the boto3 floor": x.miss_onedir_vs_floor_boto3 <= 0.7,
        "assumed-role miss <= 0.7x the boto3 floor": x.miss_role_single_vs_role_floor_boto3 <= 0.7,
        "day of pulls, service running: no get waits on AWS after the first": (
            m.day_of_pulls.with_service.waited_after_first == 0
        ),
        "single file <= 30 MB": m.size_bytes.single <= 30 * 1024 * 1024,
    }


def document(m: Measurements, v: Verdicts) -> dict[str, object]:
    """The contents of docs/benchmarks.json: the figures, then the ratios and targets."""
    return asdict(m) | asdict(v)


def row(*cells: object) -> str:
    """One row of a Markdown table."""
    return "| " + " | ".join(str(c) for c in cells) + " |"


def timed(t: Timing) -> str:
    """A timing as the tables give it: median / p90."""
    return f"{t.median_ms} / {t.p90_ms}"


def table(m: Measurements, v: Verdicts) -> str:
    """The results as Markdown: hits and sizes, then misses and services, ratios, targets."""
    return "\n".join(
        [*hit_rows(m), "", *miss_rows(m), "", *day_rows(m.day_of_pulls), "", *verdict_rows(v)]
    )


HIT_COLUMNS = (
    "measurement",
    "ours: single file",
    "ours: one-folder",
    "Go helper",
    "floor: single",
    "floor: one-folder",
)


def hit_rows(m: Measurements) -> list[str]:
    """Cache hits, memory and size, for each form and the floors."""
    h, kubelet, rss, size = m.cache_hit, m.kubelet_hit, m.peak_rss_kib, m.size_bytes

    def line(label: str, *cells: object) -> str:
        # Markdown wants a cell per column; the floors, and Go beside our own modes, have none.
        return row(label, *cells, *[""] * (len(HIT_COLUMNS) - 1 - len(cells)))

    forms = (h.single, h.onedir, h.go)
    return [
        row(*HIT_COLUMNS),
        row(*["---"] * len(HIT_COLUMNS)),
        line(
            "cache-hit `get`, median / p90 (ms)",
            *map(timed, (*forms, h.floor_single, h.floor_onedir)),
        ),
        line(
            "... answered by Python (native path off), median / p90 (ms)",
            *map(timed, (h.single_python, h.onedir_python)),
        ),
        line(
            "kubelet `get-credentials`, warm cache, median / p90 (ms)",
            *map(timed, (kubelet.single, kubelet.onedir)),
        ),
        line("API calls during cache hits", *(t.api_calls for t in forms)),
        line(
            "peak RSS of a cache hit (MiB)",
            *(f"{k / 1024:.1f}" for k in (rss.single, rss.onedir, rss.go)),
        ),
        line(
            "size (MB)",
            f"{size.single / 1e6:.1f}",
            f"{size.onedir_tarball / 1e6:.1f} (.tar.gz), {size.onedir_unpacked / 1e6:.1f} unpacked",
            f"{size.go / 1e6:.1f}",
        ),
    ]


def miss_rows(m: Measurements) -> list[str]:
    """Misses, roles, refresh windows and stampedes: ours (single file), the boto3 floor, Go."""
    return [
        row("measurement", "ours (single file)", "simplest frozen boto3 program", "Go helper"),
        row("---", "---", "---", "---"),
        *cache_miss_rows(m.cache_miss),
        *role_rows(m.role_profile),
        window_row(m.refresh_window),
        *cold_rows(m.concurrent_cold_32),
    ]


def cache_miss_rows(miss: CacheMiss) -> list[str]:
    """A miss with static keys, its parts, and a miss through an assumed role."""
    parts = "; ".join(f"{k.removesuffix('_ms')} {v}" for k, v in miss.phases.items())
    return [
        row(
            "cache-miss `get`, median / p90 (ms)",
            f"{timed(miss.single)} (one-folder: {timed(miss.onedir)})",
            timed(miss.floor_boto3),
            timed(miss.go),
        ),
        row("... its parts, median (ms)", parts, "", ""),
        row(
            "assumed-role cache miss (STS + ECR), median / p90 (ms)",
            *map(timed, (miss.role_single, miss.role_floor_boto3, miss.role_go)),
        ),
    ]


def role_rows(role: RoleProfile) -> list[str]:
    """Gets through a profile that assumes a role, with a warm cache, and their API calls."""
    ours, go = role.single, role.go
    return [
        row("assumed-role profile `get`, median (ms)", ours.median_ms, "", go.median_ms),
        row("... API calls on the first `get`", ours.first_get_calls, "", go.first_get_calls),
        row("... API calls per later `get`", ours.calls_per_later_get, "", go.calls_per_later_get),
    ]


def window_row(win: RefreshWindow) -> str:
    """Gets of a token in its refresh window: the first of each kind, and a token passing."""
    return row(
        "`get` of a token in its refresh window, median / p90 (ms)",
        f"first get in the window {win.background.median_ms} (refreshing first instead: "
        f"{win.synchronous.median_ms}); 60 gets as a token passes through it: "
        f"{timed(win.passing)}, {win.passing.api_calls} API call",
        "",
        "",
    )


def cold_rows(cold: ConcurrentCold) -> list[str]:
    """32 concurrent cold gets: the API calls they made, their wall time and failures."""
    ours, go = cold.single, cold.go
    return [
        row("32 concurrent cold `get`s: API calls", ours.api_calls, "", go.api_calls),
        row(
            "32 concurrent cold `get`s: wall time (ms), failures",
            f"{ours.wall_ms}, {ours.failed}",
            "",
            f"{go.wall_ms}, {go.failed}",
        ),
    ]


def day_rows(day: DayOfPulls) -> list[str]:
    """The day of pulls: gets that waited on AWS, with and without the refresh service."""
    pullers = (day.with_service, day.without_service, day.go)

    def cell(p: Puller) -> str:
        first = "waited" if p.first_waited else "did not wait"
        return f"{p.waited_after_first} of {p.gets - 1} (the first {first})"

    return [
        row(
            f"a day of pulls: 1 `get`/s for 3 token lifetimes of {day.lifetime_s:g} s",
            "ours, `refresh --watch` running",
            "ours alone",
            "Go helper",
        ),
        row("---", "---", "---", "---"),
        row("`get`s that waited on AWS, after the first", *map(cell, pullers)),
        row("median `get` (ms)", *(p.median_ms for p in pullers)),
    ]


def verdict_rows(v: Verdicts) -> list[str]:
    """Every ratio, then every target and whether it was met."""
    return [
        row("ratio", "value"),
        row("---", "---"),
        *(row(k, x) for k, x in asdict(v.ratios).items()),
        "",
        row("target", "met"),
        row("---", "---"),
        *(row(k, "yes" if met else "NO") for k, met in v.targets.items()),
    ]


if __name__ == "__main__":
    raise SystemExit(main())
