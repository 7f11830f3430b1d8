"""Poison records in every input topic (external and internal): each goes to `dead-letters`
with its original key and bytes and the contract's headers, and the good record sent after it
on the same partition is still processed. Also: a record keyed off its party's partition is
re-sent to the right one and handled there."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streaming.broker import EmbeddedBroker
from tests.streaming.harness import Job, WorkerProc

pytestmark = [pytest.mark.broker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
AT = "2026-03-02T10:00:00+00:00"


def js(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


IMPORT_OK = {"import_interface_id": "IZ-2", "source_system": "CRM", "orig_system_reference":
             "OSR-Z", "party_id": "PZ-5", "created_at": AT, "source_code": "X"}
PARTY_IMPORT_OK = {"import_interface_id": "IZ-3", "source_system": "CRM",
                   "orig_system_reference": "OSR-Y", "party_id": "PZ-6", "created_at": AT}
LEAD_OK = {"lead_id": "LZ-7", "party_id": "PZ-7", "status": "NEW", "created_at": AT,
           "origin": "EXTERNAL"}

#: topic -> (key, [(poison value, reason code)], good value)
CASES: dict[str, tuple[bytes, list[tuple[bytes, str]], bytes]] = {
    "interactions": (b"PZ-1", [
        (b"\xff\xfe not json", "invalid_json"),
        (b"[1, 2]", "invalid_json"),
        (js({"interaction_id": "pz-bad-1", "party_id": "PZ-1", "type": 42,
             "occurred_at": "yesterday"}), "invalid_record"),
    ], js({"interaction_id": "pz-good-1", "party_id": "PZ-1", "type": "SURVEY_CALLBACK",
           "occurred_at": AT})),
    "feed.callcenter": (b"PZ-2", [
        (b"nope", "invalid_json"),
        (js({"call_id": "9001", "party_id": "PZ-2", "outcome": "WRONG_NUMBER",
             "started_at": AT}), "unmapped_feed_value"),
        (js({"call_id": ["x"], "party_id": "PZ-2", "outcome": "CALLBACK_REQUESTED",
             "started_at": AT}), "invalid_record"),
    ], js({"call_id": "9002", "party_id": "PZ-2", "outcome": "CALLBACK_REQUESTED",
           "started_at": AT})),
    "feed.web": (b"PZ-3", [
        (b"{", "invalid_json"),
        (js({"event_id": "w1", "party_id": "PZ-3", "event": "page_view", "ts": 1772445600}),
         "unmapped_feed_value"),
        (js({"event_id": "w2", "party_id": "PZ-3", "event": "ad_click", "ts": "soon"}),
         "invalid_timestamp"),
    ], js({"event_id": "w3", "party_id": "PZ-3", "event": "event_signup", "ts": 1772445600})),
    "lead-updates": (b"PZ-4", [
        (b"??", "invalid_json"),
        (js({"lead_id": "LZ-x", "party_id": "PZ-4", "status": "BOGUS"}), "unknown_status"),
        (js({"lead_id": "LZ-unknown", "party_id": "PZ-4", "status": "NEW"}),
         "unknown_lead"),
    ], js({"lead_id": "LZ-4", "party_id": "PZ-4", "status": "NEW", "created_at": AT})),
    "lead-imports": (b"OSR-Z", [
        (b"\x00\x01", "invalid_json"),
        (js({"import_interface_id": "IZ-1", "orig_system_reference": "OSR-Z"}),
         "invalid_record"),
    ], js(IMPORT_OK)),
    "leadstream-party-imports": (b"PZ-6", [
        (b"garbage", "invalid_import"),
    ], js(PARTY_IMPORT_OK)),
    "leadstream-lead-events": (b"PZ-7", [
        (b"garbage", "invalid_lead_event"),
        (js({"kind": "LINKED", "lead_id": "nope", "party_id": "PZ-7", "at": AT,
             "rules_version": None, "interaction_id": "i", "score": 1}), "invalid_lead_event"),
    ], js({"kind": "REGISTERED", "lead_id": "LZ-7", "party_id": "PZ-7", "at": AT,
           "rules_version": None, "lead": LEAD_OK})),
    "leadstream-assignments": (b"TZ-1", [
        (b"garbage", "invalid_assignment_request"),
        (js({"op": "assign", "lead_id": "LZ-9"}), "invalid_assignment_request"),
    ], js({"op": "release", "lead_id": "LZ-9"})),
}


class Run:
    job: Job
    worker: WorkerProc
    dead: list[dict[str, Any]]
    sent: dict[str, list[dict[str, Any]]]


@pytest.fixture(scope="module")
def run(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("poison")
    r = Run()
    r.job = Job(broker, tmp, rules_path=ROOT / "config" / "rules.yaml")
    r.worker = r.job.start_worker("w1")
    try:
        r.worker.wait_ready()
        for topic, (key, poison, good) in CASES.items():
            r.job.produce(topic, [v for v, _ in poison] + [good], key=lambda _r, k=key: k)
        # an interaction keyed off its party's partition
        r.job.produce("interactions", [js({"interaction_id": "pz-rekeyed", "party_id": "PZ-8",
                                           "type": "SURVEY_CALLBACK", "occurred_at": AT})],
                      key=lambda _r: b"not-the-party")
        r.job.wait_idle()
        r.dead = r.job.read("dead-letters")
        r.sent = {t: r.job.read(t) for t in CASES}
        yield r
    finally:
        r.job.stop_all()


@pytest.mark.parametrize("topic", list(CASES))
def test_poison_is_dead_lettered_with_headers(run: Run, topic: str) -> None:
    key, poison, _ = CASES[topic]
    full = run.job.topic(topic)
    dead = [d for d in run.dead if d["headers"]["dl-topic"] == full]
    assert sorted(d["value"] for d in dead) == sorted(v for v, _ in poison)
    originals = {(r["partition"], r["offset"]): r for r in run.sent[topic]}
    for d in dead:
        h = d["headers"]
        src = originals[(int(h["dl-partition"]), int(h["dl-offset"]))]
        assert (d["key"], d["value"]) == (src["key"], src["value"]) and d["key"] == key
        assert h["dl-reason"] and h["dl-time"].startswith("20") and h["dl-agent"]
        expected = next(code for v, code in poison if v == d["value"])
        assert h["dl-reason-code"] == expected, h


def _values(run: Run, base: str) -> list[dict[str, Any]]:
    return [json.loads(r["value"]) for r in run.job.read(base)]


def test_good_records_after_poison_are_processed(run: Run) -> None:
    outcomes = {(o["interaction_id"], o["outcome"]) for o in _values(run, "interaction-outcomes")}
    assert {("pz-good-1", "PENDING"), ("cc-9002", "PENDING"), ("web-w3", "PENDING"),
            ("pz-rekeyed", "PENDING")} <= outcomes
    assert {("pz-bad-1", "REJECTED"), ("cc-9001", "REJECTED"), ("web-w1", "REJECTED"),
            ("web-w2", "REJECTED"), (None, "REJECTED")} <= outcomes
    leads = {lead["lead_id"]: lead for lead in _values(run, "leads")}
    assert leads["LZ-4"]["origin"] == "EXTERNAL" and "LZ-7" in leads
    results = {(r["import_interface_id"], r["result"]) for r in _values(run, "lead-import-results")}
    assert {("IZ-1", "ERROR"), ("IZ-2", "SUCCESS"), ("IZ-3", "SUCCESS")} <= results
    assert run.worker.alive()


def test_off_partition_record_is_rekeyed(run: Run) -> None:
    copies = [r for r in run.sent["interactions"] if b"pz-rekeyed" in r["value"]]
    assert len(copies) == 2
    first, second = sorted(copies, key=lambda r: "ls-origin" in r["headers"])
    assert first["key"] == b"not-the-party" and second["key"] == b"PZ-8"
    assert second["headers"]["ls-origin"] == f"i{first['partition']}"
    assert second["headers"]["ls-origin-offset"] == str(first["offset"])


def test_dead_letter_metrics(run: Run) -> None:
    status, body = run.worker.get("/metrics")
    text = body.decode()
    for code in ("invalid_json", "invalid_record", "unmapped_feed_value", "invalid_timestamp",
                 "unknown_status", "unknown_lead", "invalid_import", "invalid_lead_event",
                 "invalid_assignment_request"):
        assert f'leadstream_dead_letters_total{{reason="{code}"}}' in text, code
