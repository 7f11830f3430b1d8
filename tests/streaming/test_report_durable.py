"""The streaming Lead Linking Report is durable (CONTRACT §12): feed imports and interactions,
`kill -9` the worker mid-stream, restart it on the same DATA_DIR, and once the input is handled
`GET /reports/lead-linking` equals `simulate`'s `report.json` for the same input, with every
section (rule sets, totals, by source/type/day, funnel, import batches). Also in CSV."""

from __future__ import annotations

import csv
import io
import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from offline import links_check
from offline.import_files import run_import_command
from offline.simulate import run_simulation
from rules.loader import load_rules_file
from streaming.broker import EmbeddedBroker
from tests.ops import test_report_browser as browser
from tests.streaming import data
from tests.streaming.harness import Job, write_jsonl

pytestmark = [pytest.mark.broker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "config" / "examples" / "vision-enterprises.yaml"
STREAM_ONLY = ("workers", "partial", "partitions", "since")


def _imports() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for n in range(24):
        rec: dict[str, Any] = {
            "import_interface_id": f"II-{n:03d}", "source_system": "TRADESHOW",
            "orig_system_reference": f"TS-{n % 20:03d}",  # 4 OSR duplicates
            "batch_id": f"B-{n % 3}", "party_id": f"SP-{n:03d}", "country": "US",
            "source_code": "TRADESHOW-LDN", "created_at": "2026-01-04T09:00:00+00:00",
            "attributes": {"product_category": "Monitors", "purchase_amount": 80000,
                           "purchase_timeframe": "WITHIN_1_MONTH", "budget_status": "APPROVED"},
        }
        if n % 4 == 0:
            rec["interaction_id"] = f"form-{n}"
            rec["interaction_type"] = "WEB_OFFER_VISIT"
        if n % 11 == 5:
            del rec["created_at"]  # ERROR
        out.append(rec)
    return out


def _report(w: Any) -> dict[str, Any]:
    status, body = w.get("/reports/lead-linking", timeout=10)
    assert status == 200, body[:300]
    doc: dict[str, Any] = json.loads(body)
    assert doc["partial"] is False
    return doc


def _wait_partitions(w: Any, n: int, timeout: float = 30.0) -> None:
    """Until the workers' reports together cover every partition once (a rebalance done)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = w.get("/reports/lead-linking", timeout=10)
        if status == 200:
            doc = json.loads(body)
            if not doc["partial"] and doc.get("partitions") == list(range(n)):
                return
        time.sleep(0.3)
    raise AssertionError(f"report does not cover {n} partitions: {body[:300]!r}")


@pytest.mark.parametrize("workers", [1, 2])
def test_report_survives_kill_9_and_equals_simulate(broker: EmbeddedBroker, tmp_path: Path,
                                                     workers: int) -> None:
    """With two workers the report is the sum of both workers' partitions, before and after
    one of them is killed and restarted (its partitions move and come back)."""
    lines = data.interactions(parties=40, per_party=40, seed=11)
    imports = _imports()
    fifth = len(lines) // 5
    imports_file = write_jsonl(tmp_path / "imports.jsonl", [*imports, b"{not json"])
    job = Job(broker, tmp_path, rules_path=RULES)
    try:
        w1 = job.start_worker("w1")
        w1.wait_ready()
        if workers == 2:
            job.start_worker("w2").wait_ready()
            _wait_partitions(w1, job.partitions)
        # through the import command: the rows it refuses reach the job as ERROR results too
        code = run_import_command(imports_file, broker.bootstrap, job.topic("lead-imports"),
                                  progress=False, out=io.StringIO(), err=io.StringIO())
        assert code == 1  # some rows invalid
        job.wait_idle()
        job.produce("interactions", lines[:fifth])
        job.wait_idle()
        before = _report(w1)
        assert before["total"]["interactions"] == fifth
        job.produce("interactions", lines[fifth:3 * fifth])
        time.sleep(0.25)  # kill while this part is being processed
        lag_at_kill = job.lag()
        w1.stop(signal.SIGKILL)
        assert lag_at_kill, "the worker was idle when killed: not mid-stream"
        assert (w1.data_dir / "worker.running").exists()
        job.produce("interactions", lines[3 * fifth:])
        w2 = job.start_worker("w1-restarted", data_dir=w1.data_dir)
        w2.wait_ready()
        job.wait_idle()
        _wait_partitions(w2, job.partitions)
        stream = _report(w2)
        status, body = w2.get("/reports/lead-linking?format=csv&table=import_batches")
        assert status == 200
        status_html, html = w2.get("/reports/lead-linking?format=html")
        status_int, integrity = w2.get("/reports/integrity", timeout=60)
        if workers == 1:  # the served page in a real browser (tests/ops/test_report_browser.py)
            dom = subprocess.run(
                [browser.chromium(), *browser.FLAGS, "--dump-dom",
                 w2.url("/reports/lead-linking?format=html")],
                capture_output=True, text=True, timeout=120, cwd=tmp_path).stdout
            assert '<svg id="funnel"' in dom and '<svg id="by-day"' in dom, dom[:300]
    finally:
        job.stop_all()
    report = run_simulation(
        load_rules_file(RULES), tmp_path / "sim",
        interactions=write_jsonl(tmp_path / "in.jsonl", lines), imports=imports_file,
        progress=False)
    assert json.loads((tmp_path / "sim" / "report.json").read_text()) == report
    for k in STREAM_ONLY:
        stream.pop(k, None)
    assert stream == report, json.dumps({k: [stream.get(k), report.get(k)] for k in report
                                         if stream.get(k) != report.get(k)}, indent=1)[:4000]
    assert report["import_batches"]["B-0"]["links"] > 0
    assert report["imports"]["ERROR"] == 3  # two rows without created_at, one not JSON
    assert report["funnel"]["qualified"] > 0
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert {r["batch_id"]: int(r["links"]) for r in rows} == {
        k: v["links"] for k, v in report["import_batches"].items()}
    assert status_html == 200 and b"<svg id='funnel'" in html
    # integrity from the output topics equals `links check` on simulate's files
    assert status_int == 200, integrity[:300]
    offline = links_check.run(tmp_path / "sim" / "leads.jsonl", tmp_path / "sim" / "links.jsonl",
                              tmp_path / "in.jsonl", tmp_path / "sim" / "import_results.jsonl")
    online = json.loads(integrity)
    assert {k: (v["count"], sorted(v["ids"])) for k, v in online.items()} == \
        {k: (v["count"], sorted(v["ids"])) for k, v in offline.items()}
    # the web forms imports named never arrived as interactions; nothing else is wrong
    assert online["unknown_interactions"]["count"] == sum(
        v["links"] for v in report["import_batches"].values())
    assert online["orphan_links"]["count"] == online["leads_without_links"]["count"] == 0


def _history() -> list[tuple[str, Any]]:
    """A merged history of every input topic (the `simulate --events` form): imports naming
    interactions, interactions, both feeds (one unmapped value), lead updates that convert
    an imported lead, and refused records."""
    from core.imports import import_lead_id, parse_import

    out: list[tuple[str, Any]] = []
    imports = _imports()[:8]
    out += [("lead-imports", rec) for rec in imports]
    out.append(("lead-imports", "{broken"))
    out += [("interactions", line) for line in data.interactions(parties=8, per_party=12,
                                                                  seed=3)]
    out += [("feed.web", {"event_id": f"e{n}", "party_id": f"SP-{n:03d}", "event": ev,
                          "ts": 1767600000 + n * 3600, "utm_campaign": "spring-promo-26"})
            for n, ev in enumerate(["ad_click", "offer_view", "teleport", "email_click"])]
    out += [("feed.callcenter", {"call_id": f"c{n}", "party_id": f"SP-{n:03d}",
                                 "outcome": "CALLBACK_REQUESTED",
                                 "started_at": "2026-01-06T10:00:00+00:00", "country": "US"})
            for n in range(3)]
    won = parse_import(imports[0])
    out.append(("lead-updates", {"lead_id": import_lead_id(won), "party_id": won.party_id,
                                 "status": "CONVERTED",
                                 "updated_at": "2026-01-20T10:00:00+00:00"}))
    return out


def test_events_history_report_equals_simulate_events(broker: EmbeddedBroker,
                                                       tmp_path: Path) -> None:
    """The report of a merged history of every input topic, through the worker, equals
    `simulate --events`'s report.json (feed refusals, conversions, import links included)."""
    history = _history()
    job = Job(broker, tmp_path, rules_path=RULES)
    keys = {"lead-imports": "orig_system_reference"}
    try:
        w = job.start_worker("w1")
        w.wait_ready()
        i = 0
        while i < len(history):  # each run of one topic at once, in history order
            topic = history[i][0]
            j = i
            while j < len(history) and history[j][0] == topic:
                j += 1
            job.produce(topic, [v for _, v in history[i:j]], key=keys.get(topic, "party_id"))
            job.wait_idle(stable=0.3)
            i = j
        stream = _report(w)
    finally:
        job.stop_all()
    events = write_jsonl(tmp_path / "events.jsonl", [
        {"topic": t, "value": v if isinstance(v, dict) else v.decode()
         if isinstance(v, bytes) else v} for t, v in history])
    report = run_simulation(load_rules_file(RULES), tmp_path / "sim", events=events,
                            progress=False)
    for k in STREAM_ONLY:
        stream.pop(k, None)
    assert stream == report, json.dumps({k: [stream.get(k), report.get(k)] for k in report
                                         if stream.get(k) != report.get(k)}, indent=1)[:4000]
    assert report["funnel"]["converted"] == 1
    assert report["total"]["rejected"] >= 1  # the unmapped feed value among them
    assert report["by_source_code"]["SPRING-PROMO-26"]["interactions"] >= 3
    assert report["imports"]["ERROR"] == 2  # one without created_at, one not JSON
    assert report["import_batches"]["B-0"]["links"] >= 1
