"""The tokens, refreshes and deliveries as Prometheus metrics, in its text format.

Loaded by ``status --format prometheus`` and ``refresh --watch`` only, so that
prometheus_client never enters a ``get``.  What the disk holds (the token cache, the
delivery ledger) is read afresh at each collection, so both commands tell the same;
what only the watch knows (attempts, failures by AWS error code, durations, the
clock's offset) its Recorder keeps for the life of the process.  No label holds
anything secret: registries are host names, deliveries their configured names.
"""

from __future__ import annotations

import platform

import prometheus_client
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from docker_credential_ecr import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from prometheus_client.core import Metric

    from docker_credential_ecr.deliveries import Record
    from docker_credential_ecr.token import AuthToken

PREFIX = "docker_credential_ecr_"
# A refresh is one STS call at most and one ECR call: tens of milliseconds to the
# deadline's tens of seconds.
DURATION_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# Counters without their _created twins: a textfile read every scrape gains nothing from them.
prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]


class Facts:
    """What the disk says: each registry's current token, each delivery's record."""

    def __init__(self, tokens: dict[str, AuthToken], deliveries: dict[str, Record]) -> None:
        self.tokens = tokens
        self.deliveries = deliveries


class Recorder:
    """What the watch saw: refresh attempts and failures, their durations, the clock."""

    def __init__(self, registry: prometheus_client.CollectorRegistry) -> None:
        self.refreshes = prometheus_client.Counter(
            f"{PREFIX}refreshes", "Token refreshes attempted.", ["registry"], registry=registry
        )
        self.failures = prometheus_client.Counter(
            f"{PREFIX}refresh_failures",
            "Token refreshes that failed, by AWS error code.",
            ["registry", "code"],
            registry=registry,
        )
        self.duration = prometheus_client.Histogram(
            f"{PREFIX}refresh_duration_seconds",
            "Time a token refresh took, lock wait and AWS calls included.",
            ["registry"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.delivery_failures: dict[str, int] = {}  # the watch's Deliverers count into it
        self.consecutive: dict[str, int] = {}
        self.offsets: dict[str, float] = {}
        self.last_tick: float | None = None

    def refreshed(self, host: str, seconds: float, token: AuthToken) -> None:
        """A refresh that worked (its token may be another process's, fetched meanwhile)."""
        self.refreshes.labels(host).inc()
        self.duration.labels(host).observe(seconds)
        self.consecutive[host] = 0
        if token.clock_offset is not None:
            self.offsets[host] = token.clock_offset

    def failed(self, host: str, seconds: float, code: str) -> None:
        """A refresh that failed, with the AWS error code (or the kind of failure)."""
        self.refreshes.labels(host).inc()
        self.failures.labels(host, code).inc()
        self.duration.labels(host).observe(seconds)
        self.consecutive[host] = self.consecutive.get(host, 0) + 1


class _Collector:
    """The gauges, made at each collection from the facts read then and the recorder."""

    def __init__(self, facts: Callable[[], Facts], recorder: Recorder | None) -> None:
        self.facts = facts
        self.recorder = recorder

    def collect(self) -> Iterator[Metric]:
        """Every gauge family, each with its current samples."""
        facts = self.facts()
        yield _build_info()
        yield from _token_gauges(facts)
        yield from _delivery_gauges(facts)
        if self.recorder is not None:
            yield from _watch_gauges(self.recorder)


def _gauge(name: str, documentation: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(PREFIX + name, documentation, labels=labels)


def _build_info() -> GaugeMetricFamily:
    info = _gauge("build_info", "The running build: always 1.", ["version", "python", "arch"])
    info.add_metric([__version__, platform.python_version(), platform.machine()], 1.0)
    return info


def _token_gauges(facts: Facts) -> Iterator[Metric]:
    expiry = _gauge(
        "token_expiry_timestamp_seconds", "When the cached token expires.", ["registry"]
    )
    success = _gauge(
        "last_refresh_success_timestamp_seconds",
        "When the cached token was requested: the last refresh that worked.",
        ["registry"],
    )
    for host, token in sorted(facts.tokens.items()):
        expiry.add_metric([host], token.expires_at)
        success.add_metric([host], token.requested_at)
    yield expiry
    yield success


def _delivery_gauges(facts: Facts) -> Iterator[Metric]:
    success = _gauge(
        "delivery_last_success_timestamp_seconds", "When the delivery last worked.", ["delivery"]
    )
    failure = _gauge(
        "delivery_last_failure_timestamp_seconds", "When the delivery last failed.", ["delivery"]
    )
    failing = _gauge(
        "delivery_failing", "1 while the delivery's last attempt failed.", ["delivery"]
    )
    for name, record in sorted(facts.deliveries.items()):
        if record.last_success is not None:
            success.add_metric([name], record.last_success)
        if record.last_failure is not None:
            failure.add_metric([name], record.last_failure)
        failing.add_metric([name], 1.0 if record.reason else 0.0)
    yield from (success, failure, failing)


def _watch_gauges(recorder: Recorder) -> Iterator[Metric]:
    consecutive = _gauge(
        "refresh_consecutive_failures", "Refreshes failed in a row, since the last that worked.",
        ["registry"],
    )  # fmt: skip
    for host, count in sorted(recorder.consecutive.items()):
        consecutive.add_metric([host], float(count))
    offset = _gauge(
        "clock_offset_seconds",
        "AWS's clock minus this host's, by the Date of AWS's last answer.",
        ["registry"],
    )
    for host, seconds in sorted(recorder.offsets.items()):
        offset.add_metric([host], seconds)
    yield consecutive
    yield offset
    failures = CounterMetricFamily(
        PREFIX + "delivery_failures", "Deliveries that failed.", labels=["delivery"]
    )
    for name, count in sorted(recorder.delivery_failures.items()):
        failures.add_metric([name], float(count))
    yield failures
    if recorder.last_tick is not None:
        tick = _gauge("last_tick_timestamp_seconds", "When the watch last looked.", [])
        tick.add_metric([], recorder.last_tick)
        yield tick


def registry_of(
    facts: Callable[[], Facts], *, watching: bool = False
) -> tuple[prometheus_client.CollectorRegistry, Recorder | None]:
    """A registry collecting the facts and, for the watch, what its Recorder sees."""
    registry = prometheus_client.CollectorRegistry(auto_describe=False)
    recorder = Recorder(registry) if watching else None
    registry.register(_Collector(facts, recorder))
    return registry, recorder


def exposition(registry: prometheus_client.CollectorRegistry) -> bytes:
    """The registry's samples in Prometheus' text format."""
    return prometheus_client.generate_latest(registry)
