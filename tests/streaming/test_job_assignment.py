"""Territory assignment in the streaming job (CONTRACT §11) against the real broker.

Two workers and leads of one territory arriving from every partition: the territory's state
has one owner, so no member ever passes its capacity, every lead gets an owner, freed places
are used again, and `GET /territories` shows the loads. With one input partition the owners
equal the offline pipeline's over the same history (weights, capacity, a closed lead, a
hand-set owner, a link that must not reassign, fallback).
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from streaming.broker import EmbeddedBroker
from streaming.murmur2 import murmur2
from tests.builders import make_doc
from tests.streaming.harness import Finals, Job, diff
from tests.streaming.test_job_e2e import _pipeline_finals
from tests.streaming.test_job_two_workers import wait_split

pytestmark = [pytest.mark.broker, pytest.mark.slow]

#: waits of these tests (s): the shared 2-core box can be slow while others run suites
SLOW = 150.0

ASSIGNMENT = """
profiles: {interaction_score_threshold: 10}
assignment:
  territories:
    - id: all
      precedence: 10
      guard: {}
      members:
        - {resource: ANN, weight: 2, capacity: 5}
        - {resource: BOB, weight: 1, capacity: 3}
    - id: overflow
      precedence: 1
      guard: {}
      members:
        - {resource: CAT, capacity: 4}
  fallback: POOL
"""
CAPACITY = {("all", "ANN"): 5, ("all", "BOB"): 3, ("overflow", "CAT"): 4}


def _rules(tmp: Path) -> Path:
    path = tmp / "rules.yaml"
    path.write_text(yaml.safe_dump(make_doc(ASSIGNMENT), sort_keys=False))
    return path


def _new_lead(party: str, day: int, iid: str | None = None) -> bytes:
    """One SURVEY_CALLBACK (score 10): a lead of its own at IST 10."""
    return json.dumps({"interaction_id": iid or f"{party}-i", "party_id": party,
                       "type": "SURVEY_CALLBACK", "country": "US",
                       "occurred_at": f"2026-03-{day:02d}T10:00:00+00:00"}).encode()


def _update(lead: dict[str, Any], **kw: Any) -> bytes:
    return json.dumps({"lead_id": lead["lead_id"], "party_id": lead["party_id"],
                       "status": lead["status"], "updated_at": "2026-04-01T09:00:00+00:00",
                       **kw}).encode()


def _open_load(stream: Finals) -> Counter[tuple[str, str]]:
    return Counter((d["territory_id"], d["owner"]) for d in stream.leads.values()
                   if d["territory_id"] is not None and d["status"] not in ("CONVERTED", "DEAD"))


def test_two_workers_hold_capacity_exactly(broker: EmbeddedBroker, tmp_path: Path) -> None:
    job = Job(broker, tmp_path, rules_path=_rules(tmp_path))
    try:
        w1, w2 = job.start_worker("w1"), job.start_worker("w2")
        w1.wait_ready(timeout=SLOW)
        w2.wait_ready(timeout=SLOW)
        wait_split(job, [w1, w2], timeout=90.0)  # two joiners at once: slower on a busy box
        first = [_new_lead(f"P{k:02d}", 1 + k % 20) for k in range(30)]
        job.produce("interactions", first)
        job.wait_idle(timeout=SLOW)
        stream = job.outputs()
        assert len(stream.leads) == 30
        partitions = {(murmur2(d["party_id"].encode()) & 0x7FFFFFFF) % job.partitions
                      for d in stream.leads.values()}
        assert partitions == set(range(job.partitions))  # from every input partition
        assert all(d["owner"] is not None for d in stream.leads.values())
        load = _open_load(stream)
        assert load == CAPACITY  # every place taken, none twice
        fallback = [d for d in stream.leads.values() if d["territory_id"] is None]
        assert len(fallback) == 30 - sum(CAPACITY.values())
        assert {d["owner"] for d in fallback} == {"POOL"}

        # two of ANN's leads close: the next two leads take their places, no more
        anns = sorted((d for d in stream.leads.values() if d["owner"] == "ANN"),
                      key=lambda d: d["lead_id"])[:2]
        job.produce("lead-updates", [_update(d, status="DEAD") for d in anns])
        job.wait_idle(timeout=SLOW)
        job.produce("interactions", [_new_lead(f"Q{k}", 21 + k) for k in range(4)])
        job.wait_idle(timeout=SLOW)
        stream = job.outputs()
        assert _open_load(stream) == CAPACITY
        later = [d for d in stream.leads.values() if d["party_id"].startswith("Q")]
        assert sorted(d["owner"] for d in later) == ["ANN", "ANN", "POOL", "POOL"]

        # the loads, merged from both workers, for people and programs
        deadline = time.monotonic() + 20
        while True:
            status, body = w1.get("/territories")
            doc = json.loads(body)
            seen = {(t["id"], m["resource"]): m["load"] for t in doc.get("territories", [])
                    for m in t["members"]}
            if (status == 200 and seen == CAPACITY) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert status == 200 and seen == CAPACITY, doc
        assert doc["fallback"] == "POOL" and not doc["partial"]
        status, html = w2.get("/territories?format=html")
        assert status == 200 and b"overflow" in html and b"CAT" in html
        status, metrics = w1.get("/metrics")
        assert b'leadstream_assignments_total{result="assigned",territory="all"}' in metrics
    finally:
        job.stop_all()


def test_one_partition_equals_the_pipeline(broker: EmbeddedBroker, tmp_path: Path) -> None:
    rules = _rules(tmp_path)
    job = Job(broker, tmp_path, rules_path=rules, partitions=1)
    phases: list[tuple[str, list[bytes]]] = []

    def send(kind: str, lines: list[bytes]) -> None:
        job.produce(kind, lines)
        job.wait_idle(timeout=SLOW)
        phases.append((kind, lines))

    try:
        job.start_worker("w1").wait_ready(timeout=SLOW)
        send("interactions", [_new_lead(f"P{k:02d}", 1 + k) for k in range(10)])
        leads = sorted(job.outputs().leads.values(), key=lambda d: d["created_at"])
        # close one of ANN's and one of BOB's, hand one of CAT's to a person, delete one
        ann = next(d for d in leads if d["owner"] == "ANN")
        bob = next(d for d in leads if d["owner"] == "BOB")
        cat = next(d for d in leads if d["owner"] == "CAT")
        bob2 = next(d for d in leads if d["owner"] == "BOB" and d is not bob)
        send("lead-updates", [_update(ann, status="DEAD"), _update(bob, status="CONVERTED"),
                              _update(cat, owner="ZED"), _update(bob2, deleted=True)])
        # a link to an open lead (no reassignment), then new leads into the freed places
        other = next(d for d in leads if d["owner"] == "ANN" and d is not ann)
        send("interactions", [_new_lead(other["party_id"], 15, iid="again")]
             + [_new_lead(f"R{k}", 16 + k) for k in range(7)])
        stream = job.outputs()
    finally:
        job.stop_all()
    expected = _pipeline_finals(rules, phases)
    assert stream.comparable() == expected.comparable(), diff(stream, expected)
    owners = Counter(d["owner"] for d in stream.leads.values())
    # 12 places: 10 taken, 4 freed (closed, converted, by hand, deleted), 7 more leads
    assert owners["ZED"] == 1 and owners["POOL"] == 1
    assert bob2["lead_id"] not in stream.leads
    assert stream.leads[other["lead_id"]]["owner"] == "ANN"
    assert len(stream.leads[other["lead_id"]]["interaction_ids"]) == 2


KILL_ASSIGNMENT = """
profiles: {interaction_score_threshold: 10}
assignment:
  territories:
    - id: all
      precedence: 10
      guard: {}
      members:
        - {resource: ANN, weight: 2, capacity: 10}
        - {resource: BOB, weight: 1, capacity: 6}
    - id: overflow
      precedence: 1
      guard: {}
      members:
        - {resource: CAT, capacity: 8}
  fallback: POOL
"""


def test_kill9_mid_stream_assigns_nothing_twice(broker: EmbeddedBroker, tmp_path: Path) -> None:
    """SIGKILL the worker while leads are being assigned and while leads close, restart on
    the same DATA_DIR: requests and decisions delivered again change nothing, so with one
    partition every owner equals the pipeline's and no member passes its capacity."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(make_doc(KILL_ASSIGNMENT), sort_keys=False))
    job = Job(broker, tmp_path, rules_path=rules, partitions=1)
    phases: list[tuple[str, list[bytes]]] = []
    w = job.start_worker("w0")
    kills = 0
    try:
        w.wait_ready(timeout=SLOW)
        first = [_new_lead(f"P{k:03d}", 1 + k % 28) for k in range(150)]
        closes: list[bytes] = []
        later = [_new_lead(f"R{k:03d}", 1 + k % 28) for k in range(100)]
        for i, (kind, lines) in enumerate([("interactions", first), ("lead-updates", closes),
                                           ("interactions", later)]):
            if kind == "lead-updates":
                leads = sorted(job.outputs().leads.values(), key=lambda d: d["lead_id"])
                lines += [_update(d, status="DEAD") for d in leads
                          if d["territory_id"] is not None][:10]
            job.produce(kind, lines)
            phases.append((kind, lines))
            time.sleep(0.2)  # the worker is on it now
            kills += bool(job.lag())
            w.stop(signal.SIGKILL)
            w = job.start_worker(f"w{i + 1}", data_dir=w.data_dir)
            w.wait_ready(timeout=SLOW)
            job.wait_idle(timeout=SLOW)
        stream = job.outputs()
    finally:
        job.stop_all()
    assert kills >= 1, "a kill should land mid-stream"
    expected = _pipeline_finals(rules, phases)
    assert stream.after_crash().comparable() == expected.after_crash().comparable(), \
        diff(stream, expected)
    caps = {("all", "ANN"): 10, ("all", "BOB"): 6, ("overflow", "CAT"): 8}
    load = _open_load(stream)
    assert all(load[k] <= caps[k] for k in load) and load == caps  # refilled after closes
    assert all(d["owner"] is not None for d in stream.leads.values())
