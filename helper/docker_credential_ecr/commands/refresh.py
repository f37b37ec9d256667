"""``refresh``: refresh tokens that are due, all of them, or keep refreshing (``--watch``)."""

from __future__ import annotations

import time

from docker_credential_ecr.commands.context import known_hosts, targets, when
from docker_credential_ecr.errors import NAME, HelperError, InputError, TokenError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    import random

    from prometheus_client import CollectorRegistry

    from docker_credential_ecr.commands.context import Context
    from docker_credential_ecr.commands.deliver import Deliverer
    from docker_credential_ecr.fileconfig import RegistryConfig
    from docker_credential_ecr.metrics import Recorder
    from docker_credential_ecr.resolver import Target
    from docker_credential_ecr.token import AuthToken


def arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """Declare refresh's options."""
    parser.add_argument("hosts", nargs="*", metavar="HOST")
    parser.add_argument("--all", action="store_true", help="refresh even tokens that are fresh")
    parser.add_argument(
        "--watch", action="store_true", help="stay running; refresh ahead of expiry"
    )
    parser.add_argument(
        "--deliver",
        action="store_true",
        help="only the configured deliveries: refresh what they carry if due, send each"
        " whose tokens changed (with --all: send them all again); a plain refresh delivers too",
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="with --watch: the longest sleep between checks (default 300)",
    )


def main(args: argparse.Namespace, ctx: Context) -> int:
    """Refresh once (each registry due, or all), or watch."""
    if args.watch:
        return watch(args, ctx)
    if args.deliver:
        return deliver_once(args, ctx)
    failed = refresh_once(args, ctx)
    if not args.hosts:
        # The one-pass twin of the watch: what changed is delivered too.  A refresh of
        # named hosts (the one a get starts in the background) delivers nothing.
        from docker_credential_ecr.commands.deliver import Deliverer, usable

        deliverer = Deliverer(ctx, usable(ctx), lambda failures: 0.0)
        failed += deliverer.tick(ctx.clock(), force=args.all)[1]
    return 1 if failed else 0


def refresh_once(args: argparse.Namespace, ctx: Context) -> int:
    """Refresh each registry named (or known) that is due, or all with --all; the failures."""
    chosen = targets(ctx, args.hosts)
    if not chosen:
        ctx.out.write(f"{NAME} refresh: nothing to refresh (no cached or configured registries)\n")
        return 0
    failed = 0
    for target in chosen:
        cached, before = ctx.tokens.cached(target), target.config.refresh_before
        if not args.all and cached is not None and cached.fresh(ctx.clock(), before):
            ctx.out.write(f"{target.host}: fresh until {when(cached.refresh_at(before))}\n")
            continue
        try:
            # Not forced unless asked: a refresh that another process finished
            # while this one waited for the lock is taken as it is.
            token = ctx.tokens.token(target, force=args.all)
        except TokenError as exc:
            failed += 1
            ctx.out.write(f"{target.host}: failed: {exc.reason}\n")
            continue
        ctx.out.write(f"{target.host}: refreshed, expires {when(token.expires_at)}\n")
    return failed


def deliver_once(args: argparse.Namespace, ctx: Context) -> int:
    """Refresh what the deliveries carry if due, and send each whose document changed."""
    from docker_credential_ecr.commands.deliver import Deliverer, refreshed

    deliverer = Deliverer(ctx, refreshed(ctx), lambda failures: 0.0)
    if not deliverer.all:
        raise InputError(f"{NAME} refresh --deliver: the configuration has no [deliveries]")
    if args.hosts:
        raise InputError(f"{NAME} refresh --deliver: each delivery names its registries")
    _wake, failed = deliverer.tick(ctx.clock(), force=args.all)
    return 1 if failed else 0


def due_at(cached: AuthToken | None, config: RegistryConfig, now: float, jitter: float) -> float:
    """When to refresh a registry: ``jitter`` seconds into its token's refresh window, or now.

    >>> from docker_credential_ecr.fileconfig import RegistryConfig
    >>> from docker_credential_ecr.token import AuthToken
    >>> due_at(AuthToken("AWS", "s", "e", 0.0, 100.0), RegistryConfig(), 10.0, 3.0)
    53.0
    >>> due_at(None, RegistryConfig(), 10.0, 3.0)
    10.0
    """
    return now if cached is None else cached.refresh_at(config.refresh_before) + jitter


def backoff(failures: int, interval: float, fraction: float) -> float:
    """Seconds before retrying after ``failures`` in a row: doubling, capped at ``interval``,
    ``fraction`` (0.5 to 1, random) of it so that a fleet does not retry in step.

    >>> backoff(1, 300.0, 1.0), backoff(3, 300.0, 0.5), backoff(20, 300.0, 1.0)
    (2.0, 4.0, 300.0)
    """
    return min(interval, 2.0**failures) * fraction


class Watch:
    """The ``--watch`` scheduler: which registry is due, retries with backoff, the next wake-up.

    The clock, the randomness and the wait come in from outside, so a test drives it
    without waiting real seconds.
    """

    def __init__(
        self,
        ctx: Context,
        hosts: list[str],
        interval: float,
        rng: random.Random,
        deliverer: Deliverer | None = None,
    ) -> None:
        self.ctx = ctx
        self.hosts = hosts
        self.interval = interval
        self.rng = rng
        self.deliverer = deliverer  # sends what changed after each round of refreshes
        self.retry_at: dict[str, float] = {}
        self.failures: dict[str, int] = {}
        self.jitter: dict[str, float] = {}
        self.recorder: Recorder | None = None  # set when the metrics are kept

    def tick(self) -> float:
        """Refresh every registry that is due, then deliver what changed; return when the
        next one of either will be."""
        now = self.ctx.clock()
        wake = now + self.interval
        for target in targets(self.ctx, self.hosts or self._known()):
            due = max(self._due(target, now), self.retry_at.get(target.host, 0.0))
            wake = min(wake, self._refresh(target, now) if due <= now else due)
        if self.deliverer is not None:
            retry, _failed = self.deliverer.tick(self.ctx.clock())
            wake = min(wake, retry or wake)
        return wake

    def _known(self) -> list[str]:
        """The known registries and those a delivery names (it needs their tokens too)."""
        named = [h for d in self.deliverer.all for h in d.carries([])] if self.deliverer else []
        ours = [h for h in named if self.ctx.tokens.target(h) is not None]  # the rest: its failure
        return list(dict.fromkeys(known_hosts(self.ctx) + ours))

    def _due(self, target: Target, now: float) -> float:
        cached, config = self.ctx.tokens.cached(target), target.config
        if cached is None:
            return now
        window = cached.expires_at - cached.refresh_at(config.refresh_before)
        jitter = self.jitter.setdefault(
            f"{target.host}@{cached.expires_at}", self.rng.uniform(0, 0.1 * window)
        )
        return due_at(cached, config, now, jitter)

    def _refresh(self, target: Target, now: float) -> float:
        """Refresh one registry; return when to look at it again (the interval if it worked)."""
        out, host = self.ctx.out, target.host
        started = time.monotonic()
        try:
            token = self.ctx.tokens.token(target)
        except TokenError as exc:
            if self.recorder is not None:
                self.recorder.failed(host, time.monotonic() - started, exc.code)
            self.failures[host] = self.failures.get(host, 0) + 1
            delay = backoff(self.failures[host], self.interval, self.rng.uniform(0.5, 1.0))
            self.retry_at[host] = now + delay
            out.write(f"{host}: failed: {exc.reason}; retrying in {delay:.0f}s\n")
            out.flush()
            return self.retry_at[host]
        if self.recorder is not None:
            self.recorder.refreshed(host, time.monotonic() - started, token)
        self.failures.pop(host, None)
        self.retry_at.pop(host, None)
        out.write(f"{host}: refreshed, expires {when(token.expires_at)}\n")
        out.flush()
        return now + self.interval


def watch(
    args: argparse.Namespace,
    ctx: Context,
    signals: Signals | None = None,
) -> int:
    """Refresh each registry a little after it enters its refresh window, until SIGTERM.

    SIGHUP reads the configuration again; one with errors is refused, and the
    running one kept.  ``signals`` sleeps and says what arrived; by default it
    waits on SIGTERM, SIGINT and SIGHUP.
    """
    import random

    if args.interval <= 0:
        raise InputError(f"{NAME} refresh: --interval must be positive")
    signals = signals or _on_signals()
    rng = random.Random()  # noqa: S311 - jitter, not secrets
    output = Output(ctx)
    scheduler = _scheduler(args, ctx, rng, output)
    ctx.out.write(f"{NAME} refresh --watch: started\n")
    ctx.out.flush()
    while True:
        wake = scheduler.tick()
        output.write()
        what = signals.wait(max(0.5, wake - scheduler.ctx.clock()))
        if what == "stop":
            break
        if what == "reload":
            scheduler = _reloaded(args, scheduler, rng, output)
    ctx.out.write(f"{NAME} refresh --watch: stopped\n")
    return 0


def _scheduler(args: argparse.Namespace, ctx: Context, rng: random.Random, output: Output) -> Watch:
    """The watch's scheduler for a configuration, with its deliveries if it has any, and
    the metrics recorder if they are kept."""
    from docker_credential_ecr.commands.deliver import Deliverer, usable

    deliverer = Deliverer(
        ctx,
        usable(ctx),
        lambda failures: backoff(failures, args.interval, rng.uniform(0.5, 1)),
        # One tally for the watch's life, so that the counter never goes back on a reload.
        failed_total=output.delivery_failures,
    )
    scheduler = Watch(ctx, args.hosts, args.interval, rng, deliverer if deliverer.all else None)
    scheduler.recorder = output.recorder
    return scheduler


def _reloaded(
    args: argparse.Namespace, running: Watch, rng: random.Random, output: Output
) -> Watch:
    """The scheduler for the configuration as it is now, or the running one if that is broken."""
    old = running.ctx
    try:
        if old.reload is None:
            raise InputError(f"{NAME} refresh --watch: this watch cannot reload")
        ctx = old.reload()
        output.reloaded(ctx)
        scheduler = _scheduler(args, ctx, rng, output)
    except HelperError as exc:
        old.err.write(f"{exc}; keeping the running configuration\n")
        old.err.flush()
        return running
    # What is known of each registry's and delivery's failures carries over (so does
    # its backoff); a new one starts afresh.
    scheduler.failures, scheduler.retry_at = running.failures, running.retry_at
    scheduler.jitter = running.jitter
    if scheduler.deliverer is not None and running.deliverer is not None:
        scheduler.deliverer.failures = running.deliverer.failures
        scheduler.deliverer.retry_at = running.deliverer.retry_at
    ctx.out.write(f"{NAME} refresh --watch: configuration reloaded\n")
    ctx.out.flush()
    return scheduler


class Output:
    """Where the watch's metrics go after each pass (the [metrics] textfile), if anywhere."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.registry: CollectorRegistry | None = None
        self.recorder: Recorder | None = None
        self.delivery_failures: dict[str, int] = {}  # every Deliverer's, for the life of the watch
        self.reloaded(ctx)

    def reloaded(self, ctx: Context) -> None:
        """Take the configuration now in force; the recorder is made when first needed, then
        kept, so that its counters never go back."""
        self.ctx = ctx
        if ctx.file.metrics_file is not None and self.recorder is None:
            from docker_credential_ecr import metrics
            from docker_credential_ecr.commands.status import facts

            self.registry, recorder = metrics.registry_of(lambda: facts(self.ctx), watching=True)
            if recorder is not None:
                recorder.delivery_failures = self.delivery_failures
            self.recorder = recorder

    def write(self) -> None:
        """Write the metrics file atomically; a failure is said on stderr, and the watch goes on."""
        path = self.ctx.file.metrics_file
        if path is None or self.registry is None or self.recorder is None:
            return
        from docker_credential_ecr import files, metrics

        self.recorder.last_tick = self.ctx.clock()
        try:
            # Read by node_exporter's own user: 0644, and nothing in it is secret.
            files.replace_file(path, metrics.exposition(self.registry), 0o644)
        except OSError as exc:
            self.ctx.err.write(f"{NAME} refresh --watch: cannot write {path}: {exc}\n")
            self.ctx.err.flush()


class Signals:
    """The signals the watch obeys: SIGTERM and SIGINT stop it, SIGHUP reloads.

    Their handlers do nothing but let them through; the interpreter's wakeup descriptor
    carries each one's number to the wait.  A handler that set a threading.Event could
    deadlock: it runs in the main thread, which may hold that Event's lock inside the
    very wait it interrupts.
    """

    def __init__(self, wakeup: int) -> None:
        self.wakeup = wakeup  # the read end of signal.set_wakeup_fd's pipe

    def wait(self, seconds: float) -> str | None:
        """Sleep up to ``seconds``; return "stop", "reload" or None (time is up)."""
        import os
        import select
        import signal

        ready, _, _ = select.select([self.wakeup], [], [], seconds)
        if not ready:
            return None
        arrived = set(os.read(self.wakeup, 512))
        if arrived & {signal.SIGTERM, signal.SIGINT}:
            return "stop"
        return "reload" if signal.SIGHUP in arrived else None


def _on_signals() -> Signals:
    import os
    import signal

    wakeup, written = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(written)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda *_: None)
    return Signals(wakeup)
