"""The poison corpus of issue 17 on all five input topics, through the worker on the real
embedded broker and through `simulate --events`: the same records are refused for the same
reasons (dead letters and `dead_letters.jsonl`), and everything else the job emits equals
simulate (CONTRACT §2.1, §5, §8, §9)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from streaming.broker import EmbeddedBroker
from tests.streaming.harness import Job, diff, simulate, write_jsonl

pytestmark = [pytest.mark.broker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "config" / "rules.yaml"
AT = "2026-03-02T10:00:00+00:00"
HUGE = "p" * 64 * 1024


def deep(n: int) -> str:
    return '{"a":' * n + "1" + "}" * n


def js(doc: dict[str, Any]) -> str:
    return json.dumps(doc)


def it(iid: str, **over: Any) -> str:
    return js({"interaction_id": iid, "party_id": "PP-1", "type": "SURVEY_CALLBACK",
               "occurred_at": AT, **over})


def upd(**over: Any) -> str:
    return js({"lead_id": "LP-1", "party_id": "PP-2", "status": "NEW", "updated_at": AT,
               **over})


def imp(iid: str, **over: Any) -> str:
    return js({"import_interface_id": iid, "source_system": "CRM",
               "orig_system_reference": f"OSR-{iid}", "party_id": "PP-3", "created_at": AT,
               **over})


#: (topic, record text); state-independent refusals, then records that must be processed
CORPUS: list[tuple[str, str]] = [
    ("lead-updates", js({"lead_id": "LP-1", "party_id": "PP-2", "status": "NEW",
                         "created_at": AT})),
    ("interactions", it("ok-1")),
    ("interactions", it("big-party", party_id=HUGE)),
    ("interactions", it("big-contact", contact_id="c" * 300)),
    ("interactions", "x" + it("x")),
    ("interactions", it("deep-17")[:-1] + ',"attributes":' + deep(17) + "}"),
    ("interactions", it("deep-300")[:-1] + ',"attributes":' + deep(300) + "}"),
    ("interactions", it("deep-2000")[:-1] + ',"attributes":' + deep(2000) + "}"),
    ("interactions", it("future", occurred_at="9999-12-31T00:00:00Z")),
    ("interactions", it("date-only", occurred_at="9999-12-31")),
    ("interactions", it("wrong-type", source_code=["A"])),
    ("interactions", it("unknown-type", type="TELEPATHY")),
    ("interactions", it("lower-type", type="survey_callback", country="us")),
    ("feed.web", js({"event_id": "w-sup", "party_id": "PP-1", "event": "ad_click", "ts": "²"})),
    ("feed.web", js({"event_id": "w-far", "party_id": "PP-1", "event": "ad_click",
                     "ts": 253402300799})),
    ("feed.web", js({"event_id": HUGE, "party_id": "PP-1", "event": "ad_click", "ts": 1})),
    ("feed.web", js({"event_id": "w-ok", "party_id": "PP-4", "event": "AD_CLICK",
                     "ts": 1772445600})),
    ("feed.callcenter", js({"call_id": "c-un", "party_id": "PP-1", "outcome": "HUNG_UP",
                            "started_at": AT})),
    ("feed.callcenter", "[1]"),
    ("feed.callcenter", js({"call_id": "c-deep", "party_id": "PP-1",
                            "outcome": "CALLBACK_REQUESTED", "started_at": AT})[:-1]
     + ',"attributes":' + deep(40) + "}"),
    ("lead-updates", upd(interaction_score="abc")),
    ("lead-updates", upd(interaction_ids="abc")),
    ("lead-updates", upd(qualified="yes")),
    ("lead-updates", upd(origin="HACKED")),
    ("lead-updates", upd(status="BOGUS")),
    ("lead-updates", upd(party_id=HUGE)),
    ("lead-updates", upd(updated_at="9999-12-31T00:00:00Z")),
    ("lead-updates", upd(attributes=json.loads(deep(20)))),
    ("lead-updates", "??"),
    ("lead-imports", imp("I-deep", attributes=json.loads(deep(20)))),
    ("lead-imports", imp("I-far", created_at="9999-12-31T00:00:00Z")),
    ("lead-imports", imp("I-big", party_id=HUGE)),
    ("lead-imports", imp("I-ok", source_code="web-form")),
]
KEYS = {"lead-imports": "orig_system_reference"}


def key_of(topic: str, record: str) -> bytes | None:
    """The key a producer would give (the party, the OSR for imports); none if unreadable."""
    try:
        doc = orjson.loads(record)
    except orjson.JSONDecodeError:
        return None
    v = doc.get(KEYS.get(topic, "party_id")) if isinstance(doc, dict) else None
    return str(v).encode() if v is not None else None


def test_worker_refuses_what_simulate_refuses(broker: EmbeddedBroker, tmp_path: Path) -> None:
    job = Job(broker, tmp_path, rules_path=RULES)
    try:
        w = job.start_worker("w1")
        w.wait_ready()
        for topic, record in CORPUS:  # one at a time: the order simulate sees
            job.produce(topic, [record], key=lambda r, t=topic: key_of(t, r))
            job.wait_idle(stable=0.2)
        assert w.alive()
        stream = job.outputs()
        dead = job.read("dead-letters")
    finally:
        job.stop_all()

    events = write_jsonl(tmp_path / "events.jsonl",
                         [{"topic": t, "value": r} for t, r in CORPUS])
    sim = simulate(RULES, tmp_path / "sim", events=events)
    sim_dead = [json.loads(x) for x in
                (tmp_path / "sim" / "dead_letters.jsonl").read_text().splitlines()]

    job_codes = Counter((d["headers"]["dl-topic"].removeprefix(job.prefix),
                         d["headers"]["dl-reason-code"]) for d in dead)
    sim_codes = Counter((d["topic"], d["reason"]) for d in sim_dead)
    assert job_codes == sim_codes
    assert "error" not in {code for _, code in job_codes}
    assert len(sim_dead) == 28
    assert stream.comparable() == sim.comparable(), diff(stream, sim)


N_GENERATED = 30


def _generated() -> list[tuple[str, str]]:
    """Records drawn by hypothesis (tests/poison.py), as the text a producer would send."""
    from hypothesis import HealthCheck, Phase, given, settings

    from tests.poison import broken_events

    got: list[tuple[str, str]] = []

    @settings(max_examples=200, derandomize=True, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), deadline=None)
    @given(broken_events)
    def draw(ev: tuple[str, Any]) -> None:
        topic, value = ev
        text = value if isinstance(value, str) else json.dumps(value)
        if (topic, text) not in got:
            got.append((topic, text))

    draw()
    step = max(1, len(got) // N_GENERATED)  # the first examples are the simplest: a spread
    return got[::step][-N_GENERATED:]


def test_generated_records_worker_equals_simulate(broker: EmbeddedBroker,
                                                  tmp_path: Path) -> None:
    """For records drawn at random on every input topic, the worker emits exactly what
    `simulate --events` emits over the same records, and dead-letters the same ones."""
    from tests.poison import BASES

    corpus = [("lead-updates", js({"lead_id": "L1", "party_id": "P", "status": "NEW",
                                   "created_at": "2024-03-01T00:00:00+00:00"})),
              ("interactions", js(BASES["interactions"])), *_generated()]
    job = Job(broker, tmp_path, rules_path=RULES)
    try:
        w = job.start_worker("w1")
        w.wait_ready()
        for topic, record in corpus:
            job.produce(topic, [record], key=lambda r, t=topic: key_of(t, r))
            job.wait_idle(stable=0.2)
        assert w.alive()
        stream = job.outputs()
        dead = job.read("dead-letters")
    finally:
        job.stop_all()
    events = write_jsonl(tmp_path / "events.jsonl", [{"topic": t, "value": r} for t, r in corpus])
    sim = simulate(RULES, tmp_path / "sim", events=events)
    sim_dead = [json.loads(x) for x in
                (tmp_path / "sim" / "dead_letters.jsonl").read_text().splitlines()]
    assert Counter((d["headers"]["dl-topic"].removeprefix(job.prefix),
                    d["headers"]["dl-reason-code"]) for d in dead) == Counter(
        (d["topic"], d["reason"]) for d in sim_dead)
    assert stream.comparable() == sim.comparable(), diff(stream, sim)
