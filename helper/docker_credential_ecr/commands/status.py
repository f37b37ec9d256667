"""``status``: each cached token (never the token itself) and each stored login."""

from __future__ import annotations

import json

from docker_credential_ecr.commands.context import when

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from docker_credential_ecr import metrics
    from docker_credential_ecr.commands.context import Context

Row = dict[str, "Any"]


def arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """Declare status's options."""
    parser.add_argument(
        "--format",
        choices=("table", "json", "prometheus"),
        default="table",
        help="prometheus: the metrics refresh --watch writes, from what the disk holds",
    )
    parser.add_argument("--json", action="store_true", help="the same as --format json")


def main(args: argparse.Namespace, ctx: Context) -> int:
    """Print the rows as a table, as JSON, or as Prometheus metrics."""
    if args.format == "prometheus":
        from docker_credential_ecr import metrics

        registry, _none = metrics.registry_of(lambda: facts(ctx))
        ctx.out.write(metrics.exposition(registry).decode())
        return 0
    rows = token_rows(ctx)
    logins = [{"server": s, "user": u} for s, u in ctx.logins.entries()]
    sent = delivery_rows(ctx)
    if args.json or args.format == "json":
        document = {"tokens": rows, "logins": logins, "deliveries": sent}
        ctx.out.write(json.dumps(document, indent=2) + "\n")
    else:
        ctx.out.write(render_table(ctx, rows, logins) + "".join(map(delivery_line, sent)))
    return 0


def delivery_rows(ctx: Context) -> list[Row]:
    """One row per configured delivery: where it goes, its last success and failure, why."""
    from docker_credential_ecr import deliveries
    from docker_credential_ecr.commands.deliver import ledger

    records = ledger(ctx).read()
    rows = []
    for delivery in deliveries.of(ctx.file):
        record = records.get(delivery.name, deliveries.Record())
        rows.append(
            {
                "name": delivery.name,
                "format": delivery.format,
                "to": deliveries.where(delivery),
                "registries": record.registries,
                "last_success": _moment(record.last_success),
                "last_failure": _moment(record.last_failure),
                "reason": record.reason,
            }
        )
    return rows


def facts(ctx: Context) -> metrics.Facts:
    """What the disk says of each registry's current token and each configured delivery."""
    from docker_credential_ecr import deliveries, metrics
    from docker_credential_ecr.commands.deliver import ledger

    tokens = {e.host: e.token for e in ctx.tokens.cached_entries() if e.current}
    records = ledger(ctx).read()
    named = {d.name: records.get(d.name, deliveries.Record()) for d in deliveries.of(ctx.file)}
    return metrics.Facts(tokens, named)


def _moment(moment: float | None) -> str | None:
    return None if moment is None else when(moment)


def delivery_line(row: Row) -> str:
    """A delivery as the table shows it."""
    done = f"delivered {row['last_success']}" if row["last_success"] else "never delivered"
    if row["reason"]:
        done += f"; failing since {row['last_failure']}: {row['reason']}"
    return f"delivery: {row['name']} ({row['format']}) to {row['to']}: {done}\n"


def token_rows(ctx: Context) -> list[Row]:
    """One row per cached token: registry, identity, age, expiry, refresh time, state."""
    now = ctx.clock()
    rows = []
    for entry in ctx.tokens.cached_entries():
        token, refresh_at = entry.token, entry.refresh_at
        state = "expired" if token.expired(now) else "fresh" if now < refresh_at else "refresh due"
        rows.append(
            {
                "registry": entry.host,
                "identity": entry.tag,
                "current_identity": entry.current,
                "user": token.user,
                "age_s": round(now - token.requested_at),
                "expires": when(token.expires_at),
                "refresh_at": when(refresh_at),
                "state": state,
            }
        )
    return rows


def render_table(ctx: Context, rows: list[Row], logins: list[dict[str, str]]) -> str:
    """The rows as aligned columns, after the cache and configuration in use."""
    lines = [
        f"cache: {ctx.cache.directory}{'' if ctx.cache.enabled else ' (disabled)'}",
        f"config: {', '.join(ctx.file.files) or 'none'}",
    ]
    header = ("REGISTRY", "IDENTITY", "AGE", "EXPIRES", "REFRESH AT", "STATE")
    table = [header] + [
        (
            r["registry"],
            r["identity"] + ("" if r["current_identity"] else " (other)"),
            duration(r["age_s"]),
            r["expires"],
            r["refresh_at"],
            r["state"],
        )
        for r in rows
    ]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    lines += [
        "  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
        for row in table
    ]
    lines += [f"login: {login['server']} as {login['user']}" for login in logins]
    return "\n".join(lines) + "\n"


def duration(seconds: float) -> str:
    """Hours and minutes.

    >>> duration(3725)
    '1h02m'
    """
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
