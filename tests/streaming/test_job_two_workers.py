"""Two workers in one group: a second worker joins mid-stream (rebalance, table partitions
move and are recovered from their changelogs), then the first one leaves; the results equal
`simulate`'s, and co-partitioned topics are assigned together."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.streaming import data
from tests.streaming.harness import AnyBroker, Job, WorkerProc, diff, simulate, write_jsonl

pytestmark = [pytest.mark.broker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "config" / "examples" / "vision-enterprises.yaml"
COPARTITIONED = ("interactions", "lead-updates", "leadstream-party-imports",
                 "leadstream-lead-events")


def assigned(w: WorkerProc, prefix: str) -> dict[str, list[int]]:
    status, body = w.get("/healthz")
    assert status == 200, body
    return {t.removeprefix(prefix): p for t, p in json.loads(body)["assigned"].items()}


def wait_split(job: Job, workers: list[WorkerProc], timeout: float = 40.0) -> list[dict]:
    """Wait until the workers own disjoint, non-empty halves of the input partitions."""
    deadline = time.monotonic() + timeout
    views: list[dict] = []
    while time.monotonic() < deadline:
        views = [assigned(w, job.prefix) for w in workers]
        parts = [set(v.get("interactions", [])) for v in views]
        if all(parts) and set.union(*parts) == set(range(job.partitions)) and \
                sum(map(len, parts)) == job.partitions:
            return views
        time.sleep(0.3)
    raise AssertionError(f"no split assignment: {views}")


def check_lead_routing(job: Job, workers: list[WorkerProc]) -> None:
    """`GET /leads/{id}` gives the same answer from either worker: asked of the worker that
    owns neither the lead id (`lead-owners`) nor its party, it is routed twice."""
    leads = job.outputs().leads
    assert len(leads) >= 8
    for lead_id in sorted(leads)[:8]:
        answers = []
        for w in workers:
            status, body = w.get(f"/leads/{lead_id}", timeout=5.0)
            assert status == 200, (lead_id, body[:300])
            doc = json.loads(body)
            doc.pop("served_by")
            answers.append(doc)
        assert answers[0] == answers[1]
        assert answers[0]["lead"]["lead_id"] == lead_id
        assert answers[0]["timeline"][0]["kind"] == "created"
    status, _ = workers[0].get("/leads/no-such-lead")
    assert status == 404


def test_two_workers_equal_simulate(any_broker: AnyBroker, tmp_path: Path) -> None:
    lines = data.interactions(parties=40, per_party=30, seed=31)
    third = len(lines) // 3
    parts = [lines[:third], lines[third:2 * third], lines[2 * third:]]
    job = Job(any_broker, tmp_path, rules_path=RULES)
    try:
        w1 = job.start_worker("w1")
        w1.wait_ready()
        job.produce("interactions", parts[0])
        job.wait_idle()
        w2 = job.start_worker("w2")
        job.produce("interactions", parts[1])  # arrives while the group rebalances
        w2.wait_ready()
        views = wait_split(job, [w1, w2])
        for view in views:  # the same partition numbers of every co-partitioned topic
            numbers = {tuple(view.get(t, [])) for t in COPARTITIONED}
            assert len(numbers) == 1, view
        job.wait_idle()
        check_lead_routing(job, [w1, w2])
        w1.stop()  # the other half moves to w2 (recovered from the changelogs)
        job.produce("interactions", parts[2])
        job.wait_idle()
        assert sorted(assigned(w2, job.prefix)["interactions"]) == list(range(job.partitions))
        stream = job.outputs()
    finally:
        job.stop_all()
    sim = simulate(RULES, tmp_path / "sim",
                   interactions=write_jsonl(tmp_path / "in.jsonl", lines))
    assert stream.comparable() == sim.comparable(), diff(stream, sim)
    assert not stream.link_conflicts
