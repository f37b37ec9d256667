"""scripts/benchmark.py's records: the published figures fit them, the tables render from them."""

from __future__ import annotations

import dataclasses
import json
import sys
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import benchmark  # noqa: E402 - scripts/ is not a package; the path is set just above
from benchmark import (  # noqa: E402
    ColdGets,
    ConcurrentCold,
    CountedTiming,
    Machine,
    Measurements,
    MissTiming,
    Puller,
    RoleTiming,
    Timing,
)

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Record = TypeVar("Record", bound="DataclassInstance")


def load(cls: type[Record], data: Mapping[str, object]) -> Record:
    """The record ``cls`` from its part of docs/benchmarks.json (keys it has no field for left)."""
    hints = typing.get_type_hints(cls)
    values = {}
    for field in dataclasses.fields(cls):
        kind, value = hints[field.name], data[field.name]
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            value = load(kind, typing.cast(Mapping[str, object], value))
        values[field.name] = value
    return cls(**values)


def test_the_published_figures_load_into_the_records_and_write_back_unchanged() -> None:
    text = (ROOT / "docs" / "benchmarks.json").read_text()
    data = json.loads(text)
    measured = load(benchmark.Measurements, data)
    verdicts = load(benchmark.Verdicts, data)
    assert json.dumps(benchmark.document(measured, verdicts), indent=2) + "\n" == text


def counted(ms: float, api_calls: int = 0) -> CountedTiming:
    return CountedTiming(ms, ms + 0.5, 40, api_calls=api_calls)


def miss(ms: float, role: bool = False) -> MissTiming:
    calls = {"sts:AssumeRole": 23, "ecr": 23} if role else {"ecr": 23}
    return MissTiming(ms, ms + 0.5, 20, api_calls=calls)


def role(ms: float, later: float) -> RoleTiming:
    return RoleTiming(ms, ms + 0.5, 20, {"sts:AssumeRole": 1, "ecr": 1}, later, later / 2)


# Each figure distinct where the tables show it; the kubelet's one-folder request
# makes an API call and the assumed-role miss is 0.8x its floor: two targets missed.
SAMPLE = Measurements(
    machine=Machine(cpus=2, kernel="6.1.0", python="3.11.7"),
    date="2026-12-02",
    go_helper_version="0.6.4",
    cache_hit=benchmark.CacheHit(
        single=counted(1.0),
        onedir=counted(2.0),
        go=counted(4.0),
        floor_boto3=counted(300.0, api_calls=43),
        floor_single=Timing(10.0, 10.5, 40),
        floor_onedir=Timing(20.0, 20.5, 40),
        single_python=Timing(11.0, 11.5, 40),
        onedir_python=Timing(12.0, 12.5, 40),
    ),
    kubelet_hit=benchmark.KubeletHit(single=counted(16.0), onedir=counted(17.0, api_calls=1)),
    role_profile=benchmark.RoleProfile(single=role(0.5, 0.0), go=role(8.0, 2.0)),
    cache_miss=benchmark.CacheMiss(
        single=miss(150.0),
        onedir=miss(152.0),
        floor_boto3=miss(300.0),
        go=miss(5.0),
        role_single=miss(160.0, role=True),
        role_floor_boto3=miss(200.0, role=True),
        role_go=miss(8.0, role=True),
        phases={"total_ms": 150.0, "imports_ms": 80.0, "rest_ms": 70.0},
    ),
    refresh_window=benchmark.RefreshWindow(
        background=Timing(40.0, 41.0, 20),
        synchronous=Timing(150.0, 151.0, 20),
        passing=CountedTiming(0.7, 0.9, 60, api_calls=1),
    ),
    concurrent_cold_32=ConcurrentCold(
        single=ColdGets(api_calls=1, wall_ms=1100.0, failed=0, distinct_tokens=1),
        go=ColdGets(api_calls=32, wall_ms=1500.0, failed=2, distinct_tokens=30),
    ),
    peak_rss_kib=benchmark.PeakRss(single=660, onedir=700, go=7508, floor_boto3=52024),
    size_bytes=benchmark.Sizes(
        single=12_500_000, onedir_tarball=12_300_000, onedir_unpacked=31_900_000, go=6_700_000
    ),
    day_of_pulls=benchmark.DayOfPulls(
        with_service=Puller(gets=1980, first_waited=True, waited_after_first=0, median_ms=2.7),
        without_service=Puller(gets=1980, first_waited=False, waited_after_first=3, median_ms=2.4),
        go=Puller(gets=1980, first_waited=True, waited_after_first=5, median_ms=5.4),
        lifetime_s=660.0,
    ),
)


def test_every_row_of_each_table_has_its_header_s_columns() -> None:
    tables = benchmark.table(SAMPLE, benchmark.evaluate(SAMPLE)).split("\n\n")
    assert len(tables) == 5
    for block in tables:
        header, *rows = block.splitlines()
        assert all(r.count(" | ") == header.count(" | ") for r in rows), block


def test_the_tables_show_each_figure_where_its_column_says() -> None:
    lines = benchmark.table(SAMPLE, benchmark.evaluate(SAMPLE)).splitlines()
    expected = [
        "| cache-hit `get`, median / p90 (ms) | 1.0 / 1.5 | 2.0 / 2.5 | 4.0 / 4.5 | 10.0 / 10.5 "
        "| 20.0 / 20.5 |",
        "| ... answered by Python (native path off), median / p90 (ms) | 11.0 / 11.5 "
        "| 12.0 / 12.5 |  |  |  |",
        "| API calls during cache hits | 0 | 0 | 0 |  |  |",
        "| peak RSS of a cache hit (MiB) | 0.6 | 0.7 | 7.3 |  |  |",
        "| size (MB) | 12.5 | 12.3 (.tar.gz), 31.9 unpacked | 6.7 |  |  |",
        "| cache-miss `get`, median / p90 (ms) | 150.0 / 150.5 (one-folder: 152.0 / 152.5) "
        "| 300.0 / 300.5 | 5.0 / 5.5 |",
        "| ... its parts, median (ms) | total 150.0; imports 80.0; rest 70.0 |  |  |",
        "| ... API calls on the first `get` | {'sts:AssumeRole': 1, 'ecr': 1} |  "
        "| {'sts:AssumeRole': 1, 'ecr': 1} |",
        "| `get` of a token in its refresh window, median / p90 (ms) | first get in the window "
        "40.0 (refreshing first instead: 150.0); 60 gets as a token passes through it: "
        "0.7 / 0.9, 1 API call |  |  |",
        "| 32 concurrent cold `get`s: wall time (ms), failures | 1100.0, 0 |  | 1500.0, 2 |",
        "| `get`s that waited on AWS, after the first | 0 of 1979 (the first waited) "
        "| 3 of 1979 (the first did not wait) | 5 of 1979 (the first waited) |",
        "| single_vs_floor | 0.1 |",
        "| role_go_vs_single | 16.0 |",
    ]
    assert [line for line in expected if line not in lines] == []


def test_the_targets_missed_are_the_ones_the_figures_miss() -> None:
    verdicts = benchmark.evaluate(SAMPLE)
    assert [k for k, met in verdicts.targets.items() if not met] == [
        "kubelet warm request: no API call",
        "assumed-role miss <= 0.7x the boto3 floor",
    ]
    assert "| kubelet warm request: no API call | NO |" in benchmark.table(SAMPLE, verdicts)


def comparison(baseline: int, current: int) -> benchmark.HitComparison:
    timing = Timing(median_ms=1.0, p90_ms=1.2, runs=40)
    return benchmark.HitComparison(timing, timing, baseline, current)


def test_the_hit_comparison_fails_past_its_instruction_bound_on_either_path() -> None:
    bound = benchmark.HIT_INSTRUCTIONS_BOUND
    within = comparison(100_000, int(100_000 * bound))
    past = comparison(100_000, int(100_000 * bound) + 100)
    assert benchmark.ab_holds(benchmark.HitAB("abc", within, within))
    assert not benchmark.ab_holds(benchmark.HitAB("abc", past, within))
    assert not benchmark.ab_holds(benchmark.HitAB("abc", within, past))
    rows = benchmark.ab_rows(benchmark.HitAB("abc", past, within))
    assert rows[-1].endswith(": FAILS")
    assert "100,000" in rows[2]


def test_callgrind_totals_are_read_from_the_profile() -> None:
    profile = "version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nsummary: 46384\n"
    assert benchmark.callgrind_total(profile) == 46384
