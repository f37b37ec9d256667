"""The shipped alert rules (packaging/alerts.yml), unit-tested with ``promtool test rules``:
each alert fires on the series it is written for, with its labels and annotations, and
resolves when the series recover.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

RULES = Path(__file__).resolve().parent.parent / "packaging" / "alerts.yml"
HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
NODE = {"instance": "node-1:9100", "job": "node"}
P = "docker_credential_ecr_"


def promtool() -> str:
    """promtool's path; the tests skip without it."""
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is not installed (Debian package prometheus)")
    return found


def series(name: str, values: str, **labels: str) -> dict[str, str]:
    """One input series of a promtool test, with the labels a node_exporter scrape adds."""
    shown = ",".join(f'{k}="{v}"' for k, v in sorted({**NODE, **labels}.items()))
    return {"series": f"{name}{{{shown}}}", "values": values}


def alert_at(minutes: int, name: str, fired: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """An expectation: at this minute, the alert is firing with these alerts (or none)."""
    return {"eval_time": f"{minutes}m", "alertname": name, "exp_alerts": fired or []}


def firing(labels: dict[str, str], summary: str, description: str) -> dict[str, Any]:
    """One firing alert, as promtool renders it."""
    return {
        "exp_labels": {**NODE, **labels},
        "exp_annotations": {"summary": summary, "description": description},
    }


def run_tests(tmp_path: Path, inputs: list[dict[str, str]], *expected: dict[str, Any]) -> str:
    """Run promtool test rules on the shipped rules; its output, after asserting it passed."""
    test = {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": inputs, "alert_rule_test": list(expected)}],
    }
    path = tmp_path / "test.yml"
    path.write_text(json.dumps(test))  # JSON is YAML
    proc = subprocess.run(
        [promtool(), "test", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_the_rules_file_is_valid() -> None:
    """promtool check rules: the syntax, the expressions and the templates."""
    proc = subprocess.run(
        [promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 5 rules found" in proc.stdout


def test_a_token_near_expiry_fires_until_it_is_refreshed(tmp_path: Path) -> None:
    """Under an hour left for 5 minutes: critical; a refreshed token resolves it."""
    # The expiry, 3000 s after the epoch of the test's clock, until a refresh at 10m.
    expiry = series(f"{P}token_expiry_timestamp_seconds", "3000x10 46200x10", registry=HOST)
    run_tests(
        tmp_path,
        [expiry],
        alert_at(4, "ECRTokenExpiringWithoutRefresh"),  # not yet for 5 minutes
        alert_at(
            6,
            "ECRTokenExpiringWithoutRefresh",
            [
                firing(
                    {
                        "alertname": "ECRTokenExpiringWithoutRefresh",
                        "severity": "critical",
                        "registry": HOST,
                    },
                    f"ECR token for {HOST} on node-1:9100 expires within the hour",
                    f"The cached token for {HOST} expires in 44m 0s and has not been "
                    "refreshed; pulls from it will fail then. On the host: docker-credential-ecr "
                    f"status, then docker-credential-ecr doctor {HOST}.",
                )
            ],
        ),
        alert_at(12, "ECRTokenExpiringWithoutRefresh"),
    )


def test_refreshes_failing_for_15_minutes_fire_and_a_success_resolves(tmp_path: Path) -> None:
    """Failures in a row for 15 minutes: a warning; one success resolves it."""
    failures = series(
        f"{P}refresh_consecutive_failures",
        "0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 0x5",
        registry=HOST,
    )
    run_tests(
        tmp_path,
        [failures],
        alert_at(15, "ECRRefreshFailing"),
        alert_at(
            17,
            "ECRRefreshFailing",
            [
                firing(
                    {"alertname": "ECRRefreshFailing", "severity": "warning", "registry": HOST},
                    f"ECR token refreshes for {HOST} on node-1:9100 are failing",
                    "17 refreshes in a row have failed for 15 minutes; the cached token is "
                    "served until it expires. The AWS error code is the code label of "
                    "docker_credential_ecr_refresh_failures_total. On the host: journalctl -u "
                    f"docker-credential-ecr-watch, then docker-credential-ecr doctor {HOST}.",
                )
            ],
        ),
        alert_at(19, "ECRRefreshFailing"),
    )


def test_a_failing_delivery_fires_and_a_delivery_resolves(tmp_path: Path) -> None:
    """A delivery failing for 10 minutes: a warning naming it; a success resolves it."""
    failing = series(f"{P}delivery_failing", "1x12 0x5", delivery="rke2")
    run_tests(
        tmp_path,
        [failing],
        alert_at(9, "ECRDeliveryFailing"),
        alert_at(
            11,
            "ECRDeliveryFailing",
            [
                firing(
                    {"alertname": "ECRDeliveryFailing", "severity": "warning", "delivery": "rke2"},
                    "Delivery rke2 on node-1:9100 is failing",
                    "The delivery's consumers (registries.yaml, a pull secret, ...) get no "
                    "fresh credentials. On the host: docker-credential-ecr status names the "
                    "reason; journalctl -u docker-credential-ecr-watch.",
                )
            ],
        ),
        alert_at(15, "ECRDeliveryFailing"),
    )


def test_a_stale_textfile_fires_and_a_new_write_resolves(tmp_path: Path) -> None:
    """The file's mtime stops moving: after 15 minutes, and 5 more, the watch is silent."""
    textfile = "/var/lib/prometheus/node-exporter/docker_credential_ecr.prom"
    # Written every minute until 5m, then not until 30m (mtime in seconds of the test clock).
    mtime = series("node_textfile_mtime_seconds", "0+60x5 300x24 1800x5", file=textfile)
    other = series("node_textfile_mtime_seconds", "0x35", file="/var/lib/other.prom")
    run_tests(
        tmp_path,
        [mtime, other],
        alert_at(24, "ECRWatchSilent"),  # 19 minutes old: stale, but not for 5m yet
        alert_at(
            26,
            "ECRWatchSilent",
            [
                firing(
                    {"alertname": "ECRWatchSilent", "severity": "warning", "file": textfile},
                    "docker-credential-ecr's watch on node-1:9100 has stopped writing metrics",
                    "Its metrics file is 21m 0s old. On the host: systemctl status "
                    "docker-credential-ecr-watch, and journalctl -u docker-credential-ecr-watch.",
                )
            ],
        ),
        alert_at(31, "ECRWatchSilent"),
    )


def test_a_skewed_clock_fires_and_a_set_clock_resolves(tmp_path: Path) -> None:
    """A host 13 hours ahead of AWS for 10 minutes: a warning; NTP resolves it."""
    offset = series(f"{P}clock_offset_seconds", "-46800x12 0x5", registry=HOST)
    run_tests(
        tmp_path,
        [offset],
        alert_at(
            11,
            "ECRHostClockSkewed",
            [
                firing(
                    {"alertname": "ECRHostClockSkewed", "severity": "warning", "registry": HOST},
                    "The clock of node-1:9100 is off AWS's",
                    "AWS's clock minus this host's is 46800 s; at more than 300 s AWS refuses "
                    "every request. On the host: timedatectl set-ntp true (or chrony), and "
                    "docker-credential-ecr doctor.",
                )
            ],
        ),
        alert_at(15, "ECRHostClockSkewed"),
    )


def test_a_wrong_expectation_fails_the_harness(tmp_path: Path) -> None:
    """The harness can fail: a healthy series with an alert expected is a promtool failure."""
    healthy = series(f"{P}refresh_consecutive_failures", "0x20", registry=HOST)
    expected = alert_at(
        17, "ECRRefreshFailing", [firing({"alertname": "ECRRefreshFailing"}, "s", "d")]
    )
    with pytest.raises(AssertionError, match="ECRRefreshFailing"):
        run_tests(tmp_path, [healthy], expected)
