"""The shipped alert rules (packaging/alerts.yml), unit-tested with ``promtool test rules``:
each alert fires on the series it is written for, with its labels and annotations as
rendered, holds off for its ``for``, and resolves when the series recover.

The test clock starts at 0, so timestamps in the series are seconds from the start of
the test, one sample a minute; "AxN" is N + 1 samples of A.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

_found = shutil.which("promtool")
if _found is None:
    pytest.skip("promtool is not installed (Debian package prometheus)", allow_module_level=True)
PROMTOOL: str = _found

RULES = Path(__file__).resolve().parent.parent / "packaging" / "alerts.yml"
P = "docker_credential_ecr_"
HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
HOST2 = "210987654321.dkr.ecr.eu-west-1.amazonaws.com"
NODE = {"instance": "node-1:9100", "job": "node"}
TEXTFILE = "/var/lib/prometheus/node-exporter/docker_credential_ecr.prom"
# A test function below for each; a rule added without one fails test_every_alert_is_tested.
TESTED = frozenset(
    {
        "ECRTokenExpiringWithoutRefresh",
        "ECRRefreshFailing",
        "ECRDeliveryFailing",
        "ECRWatchSilent",
        "ECRClockSkewed",
        "ECRMetricsUnreadable",
    }
)

Series = dict[str, str]
Alert = dict[str, dict[str, str]]
Expectation = dict[str, object]


def series(name: str, values: str, **labels: str) -> Series:
    """One input series, with the target labels of node-1's scrape unless overridden."""
    shown = ",".join(f'{k}="{v}"' for k, v in sorted({**NODE, **labels}.items()))
    return {"series": f"{name}{{{shown}}}", "values": values}


def ticking(values: str = "0+60x45", **labels: str) -> Series:
    """The watch's last tick: by default written every minute, so never silent."""
    return series(f"{P}last_tick_timestamp_seconds", values, **labels)


def at(minute: int, name: str, *alerts: Alert) -> Expectation:
    """At this minute, exactly these alerts of this name are firing (none if none given)."""
    return {"eval_time": f"{minute}m", "alertname": name, "exp_alerts": list(alerts)}


def alert(
    labels: dict[str, str], summary: str, description: str, runbook: str, **target: str
) -> Alert:
    """One firing alert: its labels (with the target's) and its three annotations."""
    return {
        "exp_labels": {**NODE, **target, **labels},
        "exp_annotations": {"summary": summary, "description": description, "runbook": runbook},
    }


def expiring(registry: str, left: str | None) -> Alert:
    """ECRTokenExpiringWithoutRefresh on node-1 with ``left`` to go (None: expired)."""
    when = f"expires in {left}" if left else "has expired"
    return alert(
        {
            "alertname": "ECRTokenExpiringWithoutRefresh",
            "severity": "critical",
            "registry": registry,
        },
        f"ECR token for {registry} on node-1:9100 expires within the hour, not refreshed",
        f"The cached token for {registry} on node-1:9100 {when}, and no refresh of it has "
        "worked for over 30 minutes. The helper stops serving a token 5 minutes before it "
        "expires; pulls from the registry then fail unless a refresh works.",
        "On the host: docker-credential-ecr status (the token and when it refreshes), "
        f"docker-credential-ecr doctor {registry} (what a refresh needs), "
        "journalctl -u docker-credential-ecr-watch (why refreshes fail).",
    )


def refresh_failing(registry: str, count: int) -> Alert:
    """ECRRefreshFailing on node-1 after ``count`` failures in a row."""
    return alert(
        {"alertname": "ECRRefreshFailing", "severity": "warning", "registry": registry},
        f"ECR token refreshes for {registry} on node-1:9100 are failing",
        f"{count} refreshes of {registry} in a row have failed on node-1:9100, for 15 "
        "minutes or more. The cached token is served until 5 minutes before it expires. "
        "AWS's error code is the code label of docker_credential_ecr_refresh_failures_total.",
        "On the host: journalctl -u docker-credential-ecr-watch (each failure, with AWS's "
        f"error), then docker-credential-ecr doctor {registry}.",
    )


def delivery_failing(delivery: str) -> Alert:
    """ECRDeliveryFailing on node-1 for this delivery."""
    return alert(
        {"alertname": "ECRDeliveryFailing", "severity": "warning", "delivery": delivery},
        f"Delivery {delivery} on node-1:9100 is failing",
        f"The delivery {delivery} on node-1:9100 has failed for 10 minutes or more: what it "
        "writes (registries.yaml, a pull secret, ...) keeps the credentials it had, which "
        "stop working when they expire.",
        "On the host: docker-credential-ecr status (the delivery's last error), "
        "docker-credential-ecr doctor (checks every delivery), "
        "journalctl -u docker-credential-ecr-watch.",
    )


def silent(age: str, **target: str) -> Alert:
    """ECRWatchSilent for a target whose metrics are ``age`` old."""
    instance = {**NODE, **target}["instance"]
    return alert(
        {"alertname": "ECRWatchSilent", "severity": "warning"},
        f"docker-credential-ecr's watch on {instance} has stopped writing metrics",
        f"Its metrics were last written {age} ago: the watch is stopped, hung, or cannot "
        f"write its file. The other ECR alerts for {instance} hold off until it writes again.",
        "On the host: systemctl status docker-credential-ecr-watch, then "
        'journalctl -u docker-credential-ecr-watch ("cannot write" names the file).',
        **target,
    )


def skewed(offset: str) -> Alert:
    """ECRClockSkewed on node-1, ``offset`` off AWS's clock."""
    return alert(
        {"alertname": "ECRClockSkewed", "severity": "warning"},
        "The clock of node-1:9100 is off AWS's",
        f"The clock of node-1:9100 is {offset} off AWS's, by the Date of AWS's answers to "
        "its refreshes; at more than 5 minutes AWS refuses every request. The offset is "
        "measured at each refresh, so the alert clears at the next one after the clock is set.",
        "On the host: docker-credential-ecr doctor (which way the clock is off), then "
        "timedatectl set-ntp true (or chrony); systemctl restart docker-credential-ecr-watch "
        "forgets the old measurement.",
    )


def unreadable() -> Alert:
    """ECRMetricsUnreadable on node-1."""
    return alert(
        {"alertname": "ECRMetricsUnreadable", "severity": "warning"},
        "node_exporter on node-1:9100 cannot read docker-credential-ecr's metrics",
        "node_exporter on node-1:9100 reports a textfile error, and docker-credential-ecr's "
        "series, scraped within the last day, are gone: no other ECR alert can fire for this "
        "host until they are back.",
        "On the host: journalctl -u prometheus-node-exporter (names the file and the error); "
        "docker-credential-ecr status --format prometheus prints what the file should hold.",
    )


def promtool_test(
    tmp_path: Path, inputs: list[Series], expected: list[Expectation]
) -> subprocess.CompletedProcess[str]:
    """Run promtool test rules on the shipped rules with these series and expectations."""
    document = {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": inputs, "alert_rule_test": expected}],
    }
    path = tmp_path / "alerts_test.yml"
    path.write_text(json.dumps(document, indent=1), encoding="utf-8")  # JSON is YAML
    return subprocess.run(
        [PROMTOOL, "test", "rules", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def passes(tmp_path: Path, inputs: list[Series], *expected: Expectation) -> None:
    """Assert that promtool finds every expectation met."""
    proc = promtool_test(tmp_path, inputs, list(expected))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_the_rules_file_is_valid() -> None:
    """promtool check rules, lint included: the syntax, the expressions, the templates."""
    proc = subprocess.run(
        [PROMTOOL, "check", "rules", "--lint=all", "--lint-fatal", str(RULES)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(TESTED)} rules found" in proc.stdout


def test_every_alert_is_tested() -> None:
    """The alerts in the file are the ones these tests exercise, no more and no fewer."""
    names = re.findall(r"^\s*- alert: (\w+)\s*$", RULES.read_text(encoding="utf-8"), re.M)
    assert sorted(names) == sorted(TESTED)


def test_a_token_near_expiry_without_a_refresh_fires_until_one_works(tmp_path: Path) -> None:
    """Within the hour and unrefreshed for 10m: critical; a refresh resolves it."""
    name = "ECRTokenExpiringWithoutRefresh"
    expiry, success = (
        f"{P}token_expiry_timestamp_seconds",
        f"{P}last_refresh_success_timestamp_seconds",
    )
    inputs = [
        ticking(),
        # 70 minutes left at the start: within the hour from 11m; refreshed at 30m.
        series(expiry, "4200x29 45000x16", registry=HOST),
        series(success, "-39000x29 1800x16", registry=HOST),
        # 30 minutes left, never refreshed: firing from 10m, through its expiry.
        series(expiry, "1800x45", registry=HOST2),
        series(success, "-41400x45", registry=HOST2),
        # A one-hour token, always within the hour, replaced in its last half (at 33m).
        series(expiry, "3600x32 5580x13", registry="one-hour.example"),
        series(success, "0x32 1980x13", registry="one-hour.example"),
        # refresh_before = 3600: inside the hour from 2m, replaced 6m (its jitter) +
        # a scrape later; the reason `for` is 10m and not 5m.
        series(expiry, "3660x8 43740x36", registry="refresh-before.example"),
        series(success, "-39540x8 540x36", registry="refresh-before.example"),
    ]
    passes(
        tmp_path,
        inputs,
        at(9, name),
        at(10, name, expiring(HOST2, "20m 0s")),
        at(20, name, expiring(HOST2, "10m 0s")),
        at(21, name, expiring(HOST, "49m 0s"), expiring(HOST2, "9m 0s")),
        at(30, name, expiring(HOST2, None)),
        at(45, name, expiring(HOST2, None)),
    )


def test_refreshes_failing_for_15_minutes_fire_and_a_success_resolves(tmp_path: Path) -> None:
    """Failures in a row for 15 minutes: a warning; a success resolves it; a blip is ignored."""
    name, failures = "ECRRefreshFailing", f"{P}refresh_consecutive_failures"
    inputs = [
        ticking("0+60x34"),
        series(failures, "0x2 1+1x20 0x10", registry=HOST),  # failing from 3m to 23m
        series(failures, "0 1 2 0x31", registry=HOST2),
    ]
    passes(
        tmp_path,
        inputs,
        at(17, name),
        at(18, name, refresh_failing(HOST, 16)),
        at(23, name, refresh_failing(HOST, 21)),
        at(24, name),
    )


def test_a_failing_delivery_fires_and_a_success_resolves(tmp_path: Path) -> None:
    """A delivery failing for 10 minutes: a warning naming it; the next success resolves it."""
    name, failing = "ECRDeliveryFailing", f"{P}delivery_failing"
    inputs = [
        ticking("0+60x30"),
        series(failing, "0x2 1x15 0x12", delivery="rke2"),  # failing from 3m to 18m
        series(failing, "0x30", delivery="pull-secret"),
    ]
    passes(
        tmp_path,
        inputs,
        at(12, name),
        at(13, name, delivery_failing("rke2")),
        at(18, name, delivery_failing("rke2")),
        at(19, name),
    )


def test_a_silent_watch_fires_once_per_host_by_either_series(tmp_path: Path) -> None:
    """Stale for 15m, then 5m more: one alert from the textfile's mtime, else the last tick."""
    name, mtime = "ECRWatchSilent", "node_textfile_mtime_seconds"
    elsewhere = {"instance": "node-2", "job": "ecr-textfile"}
    # node-1: node_exporter, so both series; written until 5m, again from 36m.
    written = "0+60x5 300x29 2160+60x9"
    inputs = [
        series(mtime, written, file=TEXTFILE),
        ticking(written),
        series(mtime, "0x45", file="/var/lib/prometheus/node-exporter/apt.prom"),
        # node-2: another agent reads the file, so only the last tick; written until 10m.
        ticking("0+60x10 600x35", **elsewhere),
    ]
    passes(
        tmp_path,
        inputs,
        at(25, name),
        at(26, name, silent("21m 0s", file=TEXTFILE)),
        at(31, name, silent("26m 0s", file=TEXTFILE), silent("21m 0s", **elsewhere)),
        at(36, name, silent("26m 0s", **elsewhere)),
    )


def test_a_silent_watchs_old_series_hold_off_the_other_alerts(tmp_path: Path) -> None:
    """Once the watch is 15 minutes silent, the alerts on what it last wrote resolve."""
    inputs = [
        ticking("0+60x5 300x40"),  # written until 5m
        series(f"{P}token_expiry_timestamp_seconds", "1800x45", registry=HOST),
        series(f"{P}last_refresh_success_timestamp_seconds", "-41400x45", registry=HOST),
        series(f"{P}refresh_consecutive_failures", "3x45", registry=HOST),
        series(f"{P}delivery_failing", "1x45", delivery="rke2"),
        series(f"{P}clock_offset_seconds", "120x45", registry=HOST),
    ]
    passes(
        tmp_path,
        inputs,
        at(15, "ECRTokenExpiringWithoutRefresh", expiring(HOST, "15m 0s")),
        at(15, "ECRRefreshFailing", refresh_failing(HOST, 3)),
        at(15, "ECRDeliveryFailing", delivery_failing("rke2")),
        at(15, "ECRClockSkewed", skewed("2m 0s")),
        *(
            at(minute, alertname)
            for minute in (21, 45)
            for alertname in TESTED - {"ECRWatchSilent", "ECRMetricsUnreadable"}
        ),
        at(26, "ECRWatchSilent", silent("21m 0s")),
    )


def test_a_skewed_clock_fires_once_per_host_and_a_set_clock_resolves(tmp_path: Path) -> None:
    """A clock 75 s ahead of AWS's for 10 minutes: one warning for the host, not per registry."""
    name, offset = "ECRClockSkewed", f"{P}clock_offset_seconds"
    inputs = [
        ticking("0+60x30"),
        series(offset, "0x2 -75x15 -2x12", registry=HOST),
        series(offset, "0x2 -70x15 -1x12", registry=HOST2),
        # Within a minute: no alert.
        series(offset, "45x30", registry=HOST, instance="node-2:9100"),
    ]
    passes(
        tmp_path,
        inputs,
        at(12, name),
        at(13, name, skewed("1m 15s")),
        at(18, name, skewed("1m 15s")),
        at(19, name),
    )


def test_an_unreadable_textfile_fires_where_the_helper_was_scraped(tmp_path: Path) -> None:
    """The helper's series gone with a textfile error: a warning; a readable file resolves it."""
    name, error, info = "ECRMetricsUnreadable", "node_textfile_scrape_error", f"{P}build_info"
    build = {"version": "1.0.0", "python": "3.11.2", "arch": "x86_64"}
    without_helper = {"instance": "node-3:9100"}
    other_file_broken = {"instance": "node-4:9100"}
    inputs = [
        # node-1: its file unparsable from 11m to 34m.
        series(error, "0x10 1x24 0x10"),
        series(info, "1x10 _x24 1x10", **build),
        series(error, "1x45", **without_helper),
        series(error, "1x45", **other_file_broken),
        series(info, "1x45", **build, **other_file_broken),
    ]
    passes(
        tmp_path,
        inputs,
        # The last sample stays 5 minutes (the lookback) before the series counts as gone.
        at(24, name),
        at(27, name, unreadable()),
        at(35, name),
    )


def test_a_wrong_expectation_fails_the_harness(tmp_path: Path) -> None:
    """An alert expected before its ``for`` has passed is a promtool failure, not a pass."""
    failing = series(f"{P}refresh_consecutive_failures", "1+1x20", registry=HOST)
    proc = promtool_test(
        tmp_path, [failing], [at(14, "ECRRefreshFailing", refresh_failing(HOST, 15))]
    )
    assert proc.returncode != 0, proc.stdout
    assert "FAILED" in proc.stdout + proc.stderr
    assert "ECRRefreshFailing" in proc.stdout + proc.stderr
