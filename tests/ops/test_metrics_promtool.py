"""`/metrics` output passes `promtool check metrics` (Debian package `prometheus`)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from prometheus_client import generate_latest

from ops import metrics as m


def _move_every_metric() -> None:
    m.count_outcomes(["PENDING", "LINKED", "EXPIRED", "REJECTED"])
    m.LEADS_CREATED.labels(origin="INTERACTION").inc()
    m.LINKS.inc(2)
    m.PROCESSING_RESULTS.labels(engine="qualification", result="qualified").inc()
    m.DEAD_LETTERS.labels(reason="invalid_json").inc()
    m.DECISION_LATENCY.observe(0.003)
    m.EVENT_TIME_LAG.set(1.5)
    m.CONSUMER_LAG.labels(topic="interactions", partition="0").set(7)
    m.PENDING_PARTIES.set(3)
    m.STATE_ENTRIES.labels(table="parties").set(11)
    m.REBALANCES.inc()
    m.RULE_RELOADS.labels(result="ok").inc()
    m.set_rules_version("abcdef012345")


def test_promtool_accepts_metrics() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not found: install Debian's `prometheus` package "
                    "(apt-get install -y prometheus); this check must not be skipped")
    _move_every_metric()
    text = generate_latest(m.REGISTRY)
    for name in ("leadstream_interactions_total", "leadstream_leads_created_total",
                 "leadstream_links_total", "leadstream_dead_letters_total",
                 "leadstream_decision_latency_seconds_bucket",
                 "leadstream_rule_reloads_total", 'leadstream_rules_info{version="abcdef012345"}',
                 "leadstream_rebalances_total", "leadstream_consumer_lag"):
        assert name.encode() in text, name
    res = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                         timeout=30)
    assert res.returncode == 0, (res.stdout + res.stderr).decode()
    assert not res.stdout.strip() and not res.stderr.strip(), (res.stdout + res.stderr).decode()
