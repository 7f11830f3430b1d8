"""Health and shutdown under broker loss (CONTRACT §9, issue 17 finding 4): with the broker
killed or frozen, `/healthz` answers 503 within 15 s and SIGTERM stops the worker within 30 s.

Each test runs a broker of its own (killing or freezing the session broker would stall others).
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from streaming.broker import EmbeddedBroker
from tests.streaming import data
from tests.streaming.harness import Job

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "config" / "rules.yaml"


def _wait_503(w: object, within: float) -> tuple[float, dict[str, object]]:
    t0 = time.monotonic()
    last = (0, b"")
    while time.monotonic() - t0 < within:
        last = w.get("/healthz", timeout=1.0)  # type: ignore[attr-defined]
        if last[0] == 503:
            return time.monotonic() - t0, json.loads(last[1])
        time.sleep(0.25)
    raise AssertionError(f"/healthz still {last} {within}s after the broker was lost:\n"
                         f"{w.log_tail()}")  # type: ignore[attr-defined]


def _lose_broker(tmp_path: Path, how: str) -> None:
    with EmbeddedBroker(log_dir=tmp_path / "broker", die_with_parent=True) as broker:
        job = Job(broker, tmp_path, rules_path=RULES)
        try:
            w = job.start_worker("w1")
            w.wait_ready(timeout=90)
            job.produce("interactions", data.interactions(parties=5, per_party=4, seed=5))
            job.wait_idle()
            assert w.get("/healthz")[0] == 200
            if how == "kill":
                broker.kill_group(signal.SIGKILL)
            else:
                broker.pause()
            took, doc = _wait_503(w, within=15.0)
            assert doc["status"] == "broker_unreachable", doc
            assert took <= 15.0
            stop_took = w.stop(signal.SIGTERM, timeout=40.0)
            assert stop_took <= 30.0, f"SIGTERM took {stop_took:.1f}s:\n{w.log_tail()}"
            assert w.proc.returncode != -signal.SIGKILL, "the harness had to SIGKILL it"
            # aiokafka's reconnect errors are held back (streaming/logs.RepeatFilter): a
            # few lines, not thousands a minute
            errors = [ln for ln in w.log_path.read_text(errors="replace").splitlines()
                      if "ERROR" in ln]
            assert len(errors) < 60, f"{len(errors)} ERROR lines:\n" + "\n".join(errors[-20:])
        finally:
            job.stop_all()
            if how != "kill":
                broker.resume()


@pytest.mark.broker
@pytest.mark.slow
def test_broker_killed_health_503_and_sigterm_bounded(tmp_path: Path) -> None:
    _lose_broker(tmp_path, "kill")


@pytest.mark.broker
@pytest.mark.slow
def test_broker_frozen_health_503_and_sigterm_bounded(tmp_path: Path) -> None:
    _lose_broker(tmp_path, "freeze")
