"""A running worker follows `rules rollback` without a restart (CONTRACT §13, real broker and
real Redis), and `GET /rules/history` on it shows what the CLI pushed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson
import pytest

from rules.loader import load_rules_file
from streaming.broker import EmbeddedBroker
from tests.builders import interaction
from tests.streaming.harness import Job
from tests.streaming.test_job_hot_reload import rules_b

pytestmark = [pytest.mark.broker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "rollback-test-token"


def cli(*args: str, redis_url: str, user: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REDIS_URL": redis_url, "LEADSTREAM_USER": user}
    return subprocess.run([sys.executable, str(ROOT / "app.py"), "rules", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=30)


def wait_version(worker, version: str, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    body = b""
    while time.monotonic() < deadline:
        status, body = worker.get("/rules")
        if status == 200 and orjson.loads(body)["version"] == version:
            return
        time.sleep(0.2)
    raise AssertionError(f"worker still on {body!r}, expected {version}")


def test_worker_follows_a_rollback(broker: EmbeddedBroker, clean_redis_url: str,
                                   tmp_path: Path) -> None:
    a_path = ROOT / "config" / "rules.yaml"
    b_path = rules_b(tmp_path / "b.yaml")
    a, b = load_rules_file(a_path).version, load_rules_file(b_path).version
    assert cli("push", str(a_path), redis_url=clean_redis_url, user="ann").returncode == 0

    job = Job(broker, tmp_path, rules_path=a_path, partitions=2,
              env={"REDIS_URL": clean_redis_url, "ADMIN_TOKEN": TOKEN})
    worker = job.start_worker("w1")
    try:
        worker.wait_ready()
        wait_version(worker, a)
        pushed = cli("push", str(b_path), redis_url=clean_redis_url, user="bob")
        assert pushed.returncode == 0, pushed.stderr
        wait_version(worker, b)
        job.produce("interactions", [interaction(f"b-{i}", party=f"P{i}",
                                                 type="EMAIL_CLICKTHROUGH", at=0)
                                     for i in range(6)])
        job.wait_idle(timeout=60)

        back = cli("rollback", a, redis_url=clean_redis_url, user="cy")
        assert back.returncode == 0 and f"rolled back to {a} (was {b})" in back.stdout, back
        wait_version(worker, a)
        job.produce("interactions", [interaction(f"a-{i}", party=f"P{i}",
                                                 type="EMAIL_CLICKTHROUGH", at=1)
                                     for i in range(6)])
        job.wait_idle(timeout=60)

        outcomes = {}
        for rec in job.read("interaction-outcomes"):
            doc = orjson.loads(rec["value"])
            outcomes.setdefault(doc["interaction_id"], doc)
        assert {outcomes[f"b-{i}"]["rules_version"] for i in range(6)} == {b}
        assert {outcomes[f"a-{i}"]["rules_version"] for i in range(6)} == {a}
        assert {outcomes[f"b-{i}"]["score"] for i in range(6)} == {2}   # B: e-mail scores 2
        assert {outcomes[f"a-{i}"]["score"] for i in range(6)} == {1}   # A again: 1
        assert worker.alive()

        req = urllib.request.Request(worker.url("/rules/history"),
                                     headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            doc = orjson.loads(resp.read())
        assert doc["version"] == a
        assert [(e["version"], e["pushed_by"], e["in_force"]) for e in doc["history"]] == [
            (a, "cy", True), (b, "bob", False), (a, "ann", True)]
        status, _ = worker.get("/rules/history")
        assert status == 401
    finally:
        job.stop_all()
