"""A hostile rules document in Redis never takes a worker down (issue 17 findings 1-2):
an alias bomb and a 100k-rule-set (14 MB) config pushed while interactions flow are refused,
a valid 10,000-rule config comes into force, the worker keeps processing and answering
`/healthz` throughout, and a restart with the bomb still in Redis starts on the file rules."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import orjson
import pytest

from ops.rules_store import push_rules
from rules.loader import load_rules_file
from streaming.broker import EmbeddedBroker
from tests.ops.test_rules_check import BOMB, many_sets
from tests.streaming import data
from tests.streaming.harness import Job

pytestmark = [pytest.mark.broker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def _reloads(metrics: bytes, result: str) -> float:
    m = re.search(rb'leadstream_rule_reloads_total\{result="' + result.encode() +
                  rb'"\} ([0-9.e+]+)', metrics)
    return float(m.group(1)) if m else 0.0


def _has_id(raw: bytes) -> bool:
    try:
        return isinstance(orjson.loads(raw).get("interaction_id"), str)
    except (orjson.JSONDecodeError, AttributeError):
        return False


def test_bomb_and_huge_config_in_redis_never_stop_the_worker(
        broker: EmbeddedBroker, clean_redis_url: str, tmp_path: Path) -> None:
    base = load_rules_file(ROOT / "config/rules.yaml")
    job = Job(broker, tmp_path, rules_path=ROOT / "config/rules.yaml",
              env={"REDIS_URL": clean_redis_url})
    worker = job.start_worker("w1")
    try:
        worker.wait_ready()
        records = [r for r in data.interactions(parties=40, per_party=25, seed=7)
                   if _has_id(r)]
        chunks = [records[i:i + 20] for i in range(0, len(records), 20)]
        done, stop_probe = threading.Event(), threading.Event()
        health: list[tuple[float, int]] = []  # (seconds the answer took, status)

        def feed() -> None:
            for chunk in chunks:
                job.produce("interactions", chunk)
                time.sleep(0.1)
            done.set()

        def probe() -> None:
            while not stop_probe.is_set():
                t0 = time.monotonic()
                status, _ = worker.get("/healthz", timeout=5.0)
                health.append((time.monotonic() - t0, status))
                time.sleep(0.1)

        threads = [threading.Thread(target=feed, daemon=True),
                   threading.Thread(target=probe, daemon=True)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        push_rules(clean_redis_url, BOMB, "bomb")  # as if written around the CLI
        time.sleep(1.0)
        push_rules(clean_redis_url, many_sets(100_000), "huge")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            _, metrics = worker.get("/metrics")
            if _reloads(metrics, "refused") >= 2:
                break
            time.sleep(0.3)
        assert _reloads(metrics, "refused") >= 2, worker.log_tail()
        # and a valid 10,000-rule config (seconds of validation) comes into force meanwhile
        big = many_sets(9_999)
        push_rules(clean_redis_url, big, "big")
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            status, body = worker.get("/rules")
            if status == 200 and base.version.encode() not in body:
                break
            time.sleep(0.3)
        _, metrics = worker.get("/metrics")
        assert _reloads(metrics, "ok") >= 1, worker.log_tail()
        threads[0].join(timeout=120)
        assert done.is_set()
        job.wait_idle(timeout=90)
        stop_probe.set()
        threads[1].join(timeout=10)

        assert worker.alive(), worker.log_tail()
        assert health and all(status == 200 for _, status in health), health
        assert max(took for took, _ in health) < 2.0, health
        outcomes = {orjson.loads(r["value"])["interaction_id"]
                    for r in job.read("interaction-outcomes")}
        sent = {orjson.loads(r["value"])["interaction_id"] for r in job.read("interactions")}
        assert sent <= outcomes, "an interaction has no outcome"
        assert "YAML aliases expand" in worker.log_tail(200_000)

        # A restart with the bomb in Redis: starts, on the file rules.
        worker.stop()
        push_rules(clean_redis_url, BOMB, "bomb")
        again = job.start_worker("w2")
        again.wait_ready(timeout=90)
        status, body = again.get("/rules")
        assert status == 200 and base.version.encode() in body
        _, metrics = again.get("/metrics")
        assert _reloads(metrics, "refused") >= 1
    finally:
        job.stop_all()
