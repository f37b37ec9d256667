"""``doctor``'s look at each delivery: where it writes passes the trusted-path rule, its
command is a program that may be run, its file parses in its format, its last attempt."""

from __future__ import annotations

import os

from docker_credential_ecr import deliveries, formats, trust
from docker_credential_ecr.commands.context import when
from docker_credential_ecr.errors import InputError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from docker_credential_ecr.commands.context import Context
    from docker_credential_ecr.commands.doctor import Report
    from docker_credential_ecr.deliveries import Delivery, Record


def check(report: Report, ctx: Context) -> None:
    """Report on every configured delivery; nothing at all when there is none."""
    from docker_credential_ecr.commands.deliver import ledger

    try:
        found = deliveries.of(ctx.file)
    except InputError as exc:
        report.problem(str(exc), "fix the [deliveries] section it names")
        return
    records = ledger(ctx).read()
    for delivery in found:
        problems = report.problems
        for place in (delivery.directory, delivery.file):
            if place is not None:
                _check_place(report, delivery, place)
        if delivery.file is not None:
            _check_file(report, delivery, delivery.file)
        if delivery.command:
            _check_command(report, ctx, delivery)
        _check_record(report, delivery, records.get(delivery.name))
        if report.problems == problems:
            report.ok(
                f"delivery {delivery.name}: {delivery.format} to {deliveries.where(delivery)}"
            )


def _check_place(report: Report, delivery: Delivery, place: str) -> None:
    """The nearest existing directory of what the delivery writes passes the rule."""
    directory = place if place == delivery.directory else os.path.dirname(place)
    while not os.path.isdir(directory) and directory != "/":
        directory = os.path.dirname(directory)
    try:
        trust.check_dir(directory, os.geteuid())
    except OSError as exc:
        report.problem(
            f"delivery {delivery.name}: not writing under {directory}: {exc}",
            "deliver to a directory only root (or you) can change",
        )


def _check_file(report: Report, delivery: Delivery, path: str) -> None:
    """A file the delivery replaces or merges into is one its format can read."""
    kind = formats.FORMATS[delivery.format]
    try:
        if kind.merges:
            delivery.render({})
        else:
            import json

            from docker_credential_ecr import files

            found = files.read_regular(path)  # never blocks on a FIFO, never reads a device
            if found is not None:
                json.loads(found[0])
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        report.problem(
            f"delivery {delivery.name}: {path}: {exc}",
            f"fix {path}, or remove it and let the next delivery write it",
        )


def _check_command(report: Report, ctx: Context, delivery: Delivery) -> None:
    try:
        deliveries.executable(delivery.command[0], ctx.environ.get("PATH", os.defpath))
    except OSError as exc:
        report.problem(
            f"delivery {delivery.name}: {exc}",
            "name a program root owns that no one else can write, by its absolute path",
        )


def _check_record(report: Report, delivery: Delivery, record: Record | None) -> None:
    if record is not None and record.reason and record.last_failure is not None:
        report.problem(
            f"delivery {delivery.name}: failing since {when(record.last_failure)}: {record.reason}",
            "see docker-credential-ecr status; the refresh service retries it",
        )
