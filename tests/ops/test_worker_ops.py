"""A real worker with LOG_FORMAT=json (issues 16, 17): poison records carrying an e-mail address
on every input topic never put that address in the logs; log lines are JSON; `/metrics` has
the process collectors, pre-initialised counters, one `interactions_handled` per interaction
and passes `promtool check metrics`; Faust's `/router/` and table views are off."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from streaming.broker import EmbeddedBroker
from tests.streaming.harness import Job

pytestmark = [pytest.mark.broker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
EMAIL = "planted.person@example.com"
AT = "2026-03-02T10:00:00+00:00"
TOKEN = "t0ken-for-ops-tests"


def js(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


#: topic -> poison values, each carrying EMAIL in a place a careless log line would repeat
POISON: dict[str, list[bytes]] = {
    "interactions": [
        f"{EMAIL} is not json".encode(),
        js({"interaction_id": "p1", "party_id": "PE-1", "type": EMAIL, "occurred_at": AT}),
        js({"interaction_id": "p2", "party_id": "PE-1", "type": "SURVEY_CALLBACK",
            "occurred_at": EMAIL}),
        js({"interaction_id": "p3", "party_id": "PE-1", "type": "SURVEY_CALLBACK",
            "occurred_at": AT, "country": EMAIL}),
    ],
    "feed.callcenter": [
        js({"call_id": "c1", "party_id": "PE-2", "outcome": EMAIL, "started_at": AT}),
        js({"call_id": "c2", "party_id": "PE-2", "outcome": "CALLBACK_REQUESTED",
            "started_at": EMAIL}),
    ],
    "feed.web": [
        js({"event_id": "w1", "party_id": "PE-3", "event": EMAIL, "ts": 1772445600}),
        js({"event_id": "w2", "party_id": "PE-3", "event": "ad_click", "ts": EMAIL}),
    ],
    "lead-updates": [
        js({"lead_id": "LE-1", "party_id": "PE-4", "status": EMAIL, "updated_at": AT}),
        js({"lead_id": "LE-2", "party_id": "PE-4", "status": "NEW", "created_at": EMAIL}),
        f"[\"{EMAIL}\"]".encode(),
    ],
    "lead-imports": [
        js({"import_interface_id": "IE-1", "source_system": "CRM",
            "orig_system_reference": "OSR-E1", "customer": {"name": EMAIL},
            "created_at": EMAIL}),
        js({"import_interface_id": "IE-2", "source_system": EMAIL,
            "orig_system_reference": EMAIL, "party_id": "PE-5", "created_at": "soon"}),
    ],
}


def test_poison_with_personal_data_json_logs_and_metrics(broker: EmbeddedBroker,
                                                         tmp_path: Path) -> None:
    job = Job(broker, tmp_path, rules_path=ROOT / "config" / "rules.yaml",
              env={"LOG_FORMAT": "json", "LOG_LEVEL": "INFO", "ADMIN_TOKEN": TOKEN})
    try:
        w = job.start_worker("w1")
        w.wait_ready(timeout=90)
        sent = 0
        for topic, values in POISON.items():
            sent += job.produce(topic, values, key=lambda _v: EMAIL.encode())
        good = [js({"interaction_id": f"g{i}", "party_id": "PE-9", "type": "SURVEY_CALLBACK",
                    "occurred_at": AT}) for i in range(3)]
        job.produce("interactions", good)
        job.wait_idle(timeout=60)
        dead = job.read("dead-letters")
        outcomes = [json.loads(r["value"]) for r in job.read("interaction-outcomes")]
        assert len(dead) >= sent - 2, "the poison records should be dead-lettered"

        time.sleep(2.5)  # a health tick (1 s) and a lag update after the last commit
        status, body = w.get("/metrics")
        health = w.get("/healthz")
        admin = {"Authorization": f"Bearer {TOKEN}"}
        router = _get(w.url("/router/"), admin)
        table = _get(w.url("/table/parties/"), admin)
        wrong = _get(w.url("/healthz"), {"Authorization": "Bearer wrong"})
    finally:
        job.stop_all()

    log = w.log_path.read_text(errors="replace")
    assert EMAIL not in log and "planted.person" not in log
    assert "dead letter from" in log  # the records were logged, by topic/partition/offset
    lines = [ln for ln in log.splitlines() if ln.strip()]
    not_json = [ln for ln in lines if not ln.startswith("{")]
    assert not not_json, not_json[:10]  # no banner, no stray print: every line is a record
    docs = [json.loads(ln) for ln in lines]
    assert any(d["logger"].startswith("leadstream") for d in docs)
    assert all({"ts", "level", "logger", "message"} <= d.keys() for d in docs)
    text_records = [ln for ln in lines
                    if re.match(r"^\[\d{4}-\d\d-\d\d [^\]]*\] (\[\d+\] )?\[(INFO|WARNING|ERROR)\]",
                                ln)]
    assert not text_records, text_records[:5]

    assert status == 200
    text = body.decode()
    for needle in ("process_resident_memory_bytes", "python_info",
                   'leadstream_dead_letters_total{reason="error"} 0.0',
                   'leadstream_rule_reloads_total{result="refused"} 0.0',
                   'leadstream_leads_created_total{origin="IMPORT"}',
                   'leadstream_interactions_total{outcome="TYPE_DISABLED"} 0.0',
                   "leadstream_broker_unreachable_seconds",
                   'leadstream_decision_latency_seconds_bucket{le="1e-05"}'):
        assert needle in text, needle
    # caught up (read after wait_idle): no partition has records waiting, none is stalled
    lags = [float(ln.split()[1]) for ln in text.splitlines()
            if ln.startswith("leadstream_consumer_lag{")]
    assert lags and sum(lags) == 0, [ln for ln in text.splitlines() if "consumer_lag{" in ln]
    assert _sample(text, "leadstream_consumer_stalled_seconds") == 0
    handled = _sample(text, "leadstream_interactions_handled_total")
    # every record of `interactions` once (a PENDING then LINKED one too), and each feed
    # record refused before it reached `interactions`
    assert handled == len(good) + len(POISON["interactions"]) + 4, text
    assert len(outcomes) == handled + 1  # g0: PENDING, then LINKED
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool (Debian package prometheus; make tools) is needed"
    res = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True,
                         timeout=30)
    assert res.returncode == 0, (res.stdout + res.stderr).decode()

    assert health[0] == 200, health
    assert router == 404 and table == 404
    assert wrong == 401


def _get(url: str, headers: dict[str, str]) -> int:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=3) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def test_embedded_broker_size_warning(tmp_path: Path) -> None:
    """BROKER_URL unset: the worker starts the embedded broker and warns (log + gauge) once it
    holds more than EMBEDDED_BROKER_WARN_MB (1 MiB here: any running broker does)."""
    import os
    import signal
    import sys
    import time
    import urllib.request

    from streaming.broker import free_port
    from tests.streaming.harness import TEST_ENV

    port = free_port()
    env = {**{k: v for k, v in os.environ.items()
              if k not in ("BROKER_URL", "REDIS_URL", "TOPIC_PREFIX")}, **TEST_ENV,
           "DATA_DIR": str(tmp_path / "state"), "WEB_PORT": str(port),
           "EMBEDDED_BROKER_WARN_MB": "1", "LOG_FORMAT": "json"}
    env.pop("BROKER_LOG_END_PROBE", None)
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "worker"], cwd=ROOT,
                                env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        size = 0.0
        while time.monotonic() < deadline:
            assert proc.poll() is None, log_path.read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    size = _sample(r.read().decode(), "leadstream_embedded_broker_bytes")
            except OSError:
                size = 0.0
            if size > 0 and "EMBEDDED_BROKER_WARN_MB=1" in log_path.read_text():
                break
            time.sleep(0.5)
        assert size > 1 << 20, log_path.read_text()[-3000:]
        warnings = [json.loads(ln) for ln in log_path.read_text().splitlines()
                    if "EMBEDDED_BROKER_WARN_MB" in ln]
        assert warnings and warnings[0]["level"] == "WARNING"
    finally:
        t0 = time.monotonic()
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=35)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            raise
    assert time.monotonic() - t0 < 30
