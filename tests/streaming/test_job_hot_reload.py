"""Hot reload on a running worker against real Redis (CONTRACT §9, issue 5): rules pushed with
the CLI while interactions flow take effect between two events, once, with nothing lost; a
refused config changes nothing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest
import yaml

from ops.rules_store import push_rules
from rules.loader import load_rules_file
from tests.streaming import data
from tests.streaming.harness import AnyBroker, Job

pytestmark = [pytest.mark.broker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def push(path: Path, redis_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "app.py"), "rules", "push", str(path)],
                          cwd=ROOT, env={**os.environ, "REDIS_URL": redis_url},
                          capture_output=True, text=True, timeout=30)


def _refused(metrics: bytes) -> float:
    m = re.search(rb'leadstream_rule_reloads_total\{result="refused"\} ([0-9.e+]+)', metrics)
    return float(m.group(1)) if m else 0.0


def _has_id(raw: bytes) -> bool:
    try:
        return isinstance(orjson.loads(raw).get("interaction_id"), str)
    except (orjson.JSONDecodeError, AttributeError):
        return False


def rules_b(path: Path) -> Path:
    doc = yaml.safe_load((ROOT / "config/rules.yaml").read_text())
    for t in doc["interaction_types"]:
        if t["code"] == "EMAIL_CLICKTHROUGH":
            t["default_score"] = 2
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_push_while_flowing_switches_once_per_partition(
        any_broker: AnyBroker, clean_redis_url: str, tmp_path: Path) -> None:
    a = load_rules_file(ROOT / "config/rules.yaml")
    b_path = rules_b(tmp_path / "b.yaml")
    b = load_rules_file(b_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text(b_path.read_text().replace("precedence: 1", "precedence: high"))

    job = Job(any_broker, tmp_path, rules_path=ROOT / "config/rules.yaml",
              env={"REDIS_URL": clean_redis_url})
    worker = job.start_worker("w1")
    try:
        worker.wait_ready()
        records = [r for r in data.interactions(parties=30, per_party=20, seed=5)
                   if _has_id(r)]
        chunks = [records[i:i + 25] for i in range(0, len(records), 25)]
        done = threading.Event()

        def feed() -> None:
            for chunk in chunks:
                job.produce("interactions", chunk)
                time.sleep(0.15)  # ~3.6 s of stream: a reload now takes ~0.5 s (checked in a child)
            done.set()

        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        time.sleep(1.0)
        pushed = push(b_path, clean_redis_url)
        assert pushed.returncode == 0, pushed.stderr
        time.sleep(1.0)
        refused = push(bad, clean_redis_url)
        assert refused.returncode == 1 and "precedence" in refused.stderr
        feeder.join(timeout=120)
        assert done.is_set()
        job.wait_idle(timeout=90)

        status, body = worker.get("/rules")
        assert status == 200 and b.version.encode() in body

        first: dict[str, str] = {}
        for rec in job.read("interaction-outcomes"):
            doc = orjson.loads(rec["value"])
            first.setdefault(doc["interaction_id"], doc["rules_version"])
        sent = job.read("interactions")
        ids = [(r["partition"], r["offset"], orjson.loads(r["value"])["interaction_id"])
               for r in sent]
        assert {i for _, _, i in ids} <= set(first), "an interaction has no outcome"

        seen_versions = set()
        for part in {p for p, _, _ in ids}:
            seq = [first[i] for p, _, i in sorted(ids) if p == part]
            seen_versions.update(seq)
            assert set(seq) <= {a.version, b.version}
            switch = seq.index(b.version) if b.version in seq else len(seq)
            assert seq == [a.version] * switch + [b.version] * (len(seq) - switch), (
                f"partition {part} switched more than once")
        assert seen_versions == {a.version, b.version}, "the push fell outside the stream"

        # A bad config that reaches Redis by another way than the CLI: refused by the worker.
        push_rules(clean_redis_url, bad.read_text(), "not-a-version")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            status, metrics = worker.get("/metrics")
            if _refused(metrics) >= 1:
                break
            time.sleep(0.3)
        assert _refused(metrics) >= 1, metrics.decode()[-2000:]
        status, body = worker.get("/rules")
        assert b.version.encode() in body, "a refused config must leave the rules in force"
        assert f'leadstream_rules_info{{version="{b.version}"}} 1.0'.encode() in metrics
    finally:
        job.stop_all()
