"""The deliveries of ``refresh --deliver`` and ``refresh --watch``: each delivery's
registries, their tokens rendered in its format, sent where it says when they changed.

A document is sent again only when it differs from the last one that arrived (its
digest is in the ledger), so a timer that runs ``refresh --deliver`` every few minutes
restarts nothing until a token changes.  A failed delivery is retried with the same
backoff as a failed refresh and never holds up the others.
"""

from __future__ import annotations

from docker_credential_ecr import deliveries, formats
from docker_credential_ecr.commands.context import known_hosts, targets
from docker_credential_ecr.errors import NAME, InputError, TokenError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from docker_credential_ecr.commands.context import Context
    from docker_credential_ecr.deliveries import Delivery, Record
    from docker_credential_ecr.resolver import Target
    from docker_credential_ecr.token import AuthToken

LEDGER = "deliveries.json"


def ledger(ctx: Context) -> deliveries.Ledger:
    """Where the deliveries' records are kept: the cache directory, if tokens are kept."""
    import os

    trusted = ctx.cache.trusted and ctx.cache.enabled
    return deliveries.Ledger(os.path.join(ctx.cache.directory, LEDGER) if trusted else None)


class Deliverer:
    """Sends each delivery's document when it changed; retries the failed ones later.

    ``token(target)`` is how a registry's token is had: refreshed if due for a pass of
    its own, the cached one in the watch (which has just refreshed what was due).
    """

    def __init__(
        self,
        ctx: Context,
        token: Callable[[Target], AuthToken | None],
        backoff: Callable[[int], float],
        failed_total: dict[str, int] | None = None,
    ) -> None:
        self.ctx = ctx
        self.token = token
        self.backoff = backoff
        self.all = deliveries.of(ctx.file)
        self.ledger = ledger(ctx)
        self.records = self.ledger.read()
        self.failures: dict[str, int] = {}
        # Every failure, by delivery: a metric's counter (the watch's, kept across reloads).
        self.failed_total = {} if failed_total is None else failed_total
        self.retry_at: dict[str, float] = {}

    def tick(self, now: float, *, force: bool = False) -> tuple[float | None, int]:
        """Send every delivery due; return when a failed one is to be retried (or None), and
        how many failed."""
        failed = 0
        for delivery in self.all:
            due = self.retry_at.get(delivery.name, 0.0) <= now
            if due and not self._send(delivery, now, force=force):
                failed += 1
        if self.all:
            self._keep()
        # A delivery waits in retry_at only while it is failing.
        return min(self.retry_at.values(), default=None), failed

    def _send(self, delivery: Delivery, now: float, *, force: bool) -> bool:
        record = self.records.setdefault(delivery.name, deliveries.Record())
        try:
            auths, missing = self._auths(delivery)
        except InputError as exc:  # it names a host that is not ECR's
            return self._failed(delivery, record, now, str(exc))
        if not auths:
            why = f"no token for {', '.join(missing)}" if missing else "no registries to carry"
            return self._failed(delivery, record, now, why)
        digest = deliveries.digest(delivery, auths)
        if digest == record.digest and not force:
            return True  # what is there is what would be sent
        try:
            made = delivery.render(auths)
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            return self._failed(delivery, record, now, f"{delivery.file}: {exc}")
        reason = deliveries.deliver(delivery, made, self.ctx.environ)
        if reason is not None:
            return self._failed(delivery, record, now, reason)
        record.digest, record.last_success, record.registries = digest, now, sorted(auths)
        record.reason = ""
        self.failures.pop(delivery.name, None)
        self.retry_at.pop(delivery.name, None)
        self._say(delivery, f"delivered {len(auths)} registries to {deliveries.where(delivery)}")
        return True

    def _auths(self, delivery: Delivery) -> tuple[formats.Auths, list[str]]:
        """The credentials of each registry the delivery carries, and those without a token."""
        auths, missing = {}, []
        for target in targets(self.ctx, delivery.carries(known_hosts(self.ctx))):
            token = self.token(target)
            if token is None:
                missing.append(target.host)
            else:
                auths[target.host] = formats.auth_of(token)
        return auths, missing

    def _failed(self, delivery: Delivery, record: Record, now: float, reason: str) -> bool:
        record.last_failure, record.reason = now, reason
        count = self.failures[delivery.name] = self.failures.get(delivery.name, 0) + 1
        self.failed_total[delivery.name] = self.failed_total.get(delivery.name, 0) + 1
        delay = self.backoff(count)
        self.retry_at[delivery.name] = now + delay
        self._say(delivery, f"failed: {reason}; retrying in {delay:.0f}s")
        return False

    def _say(self, delivery: Delivery, what: str) -> None:
        self.ctx.out.write(f"delivery {delivery.name}: {what}\n")
        self.ctx.out.flush()

    def _keep(self) -> None:
        try:
            self.ledger.write(self.records)
        except OSError as exc:
            self.ctx.err.write(f"{NAME} refresh: cannot keep the deliveries' records: {exc}\n")


def refreshed(ctx: Context) -> Callable[[Target], AuthToken | None]:
    """A pass's way to a token: refreshed if due, None (and the reason said) if it fails."""

    def token(target: Target) -> AuthToken | None:
        try:
            return ctx.tokens.token(target)
        except TokenError as exc:
            ctx.out.write(f"{target.host}: failed: {exc.reason}\n")
            return None

    return token


def usable(ctx: Context) -> Callable[[Target], AuthToken | None]:
    """The watch's way to a token: the cached one while it is valid (the watch refreshes)."""

    def token(target: Target) -> AuthToken | None:
        cached = ctx.tokens.cached(target)
        return cached if cached is not None and cached.usable(ctx.clock()) else None

    return token
