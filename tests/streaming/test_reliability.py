"""Reliability under faults (issue 7): hard kills mid-stream, a broker outage, a worker that
starts before its broker, and malformed records from hypothesis. (The party with 100k
interactions in one window is a core test: tests/core/test_big_window.py.)

Every test is bounded in time (the worker ones by the harness timeouts); the broker-outage
tests use a broker of their own, since pausing the session broker would stall other tests.
"""

from __future__ import annotations

import json
import random
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from streaming.broker import EmbeddedBroker, free_port
from streaming.kafka_broker import KafkaBroker
from tests.brokers import BROKERS_KAFKA_SLOW
from tests.streaming import data
from tests.streaming.harness import AnyBroker, Finals, Job, diff, simulate, write_jsonl

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "config" / "examples" / "vision-enterprises.yaml"


def _check_leads(out: Finals) -> None:
    """No lead scored twice, no interaction in two leads: each lead's interaction_score is
    the sum of its distinct links' scores and lists exactly their interaction ids."""
    links: dict[str, dict[str, Any]] = {}
    for raw in out.links:
        doc = json.loads(raw)
        links[doc["interaction_lead_id"]] = doc
    by_lead: dict[str, list[dict[str, Any]]] = {}
    for doc in links.values():
        by_lead.setdefault(doc["sales_lead_id"], []).append(doc)
    owner: dict[str, str] = {}
    for lead_id, lead in out.leads.items():
        mine = by_lead.get(lead_id, [])
        assert lead["interaction_score"] == sum(d["score"] for d in mine), lead_id
        assert sorted(lead["interaction_ids"]) == sorted(d["interaction_id"] for d in mine)
        for iid in lead["interaction_ids"]:
            assert iid not in owner, f"{iid} in {owner.get(iid)} and {lead_id}"
            owner[iid] = lead_id


def _compare(stream: Finals, tmp_path: Path, lines: list[bytes], crash: bool = False) -> None:
    sim = simulate(RULES, tmp_path / "sim",
                   interactions=write_jsonl(tmp_path / "in.jsonl", lines))
    if crash:  # see Finals.after_crash: an identical DUPLICATE may be sent again after a kill
        stream, sim = stream.after_crash(), sim.after_crash()
    assert stream.comparable() == sim.comparable(), diff(stream, sim)
    assert not stream.link_conflicts
    _check_leads(stream)
    assert stream.leads, "the input should create leads"


# ---------------------------------------------------------------------------- (a) kill -9
@pytest.mark.broker
@pytest.mark.slow
@pytest.mark.parametrize("any_broker", BROKERS_KAFKA_SLOW, indirect=True)
def test_kill9_at_three_points(any_broker: AnyBroker, tmp_path: Path) -> None:
    """SIGKILL the worker while each of the 2nd, 3rd and 4th quarters of the input is being
    consumed (the 1st is consumed in full), restart on the same DATA_DIR each time (local
    tables rebuilt from the changelogs): the final output equals `simulate`'s."""
    lines = data.interactions(parties=30, per_party=40, seed=41)
    q = len(lines) // 4
    quarters = [lines[:q], lines[q:2 * q], lines[2 * q:3 * q], lines[3 * q:]]
    job = Job(any_broker, tmp_path, rules_path=RULES)
    kills = 0
    try:
        w = job.start_worker("w0")
        w.wait_ready()
        job.produce("interactions", quarters[0])
        job.wait_idle()
        for i, part in enumerate(quarters[1:], start=1):
            job.produce("interactions", part)
            time.sleep(0.3 if job.kind == "tansu" else 0.1)  # consuming this quarter now
            lag = job.lag()
            w.stop(signal.SIGKILL)
            kills += bool(lag)
            assert (w.data_dir / "worker.running").exists()
            w = job.start_worker(f"w{i}", data_dir=w.data_dir)
            w.wait_ready()
        job.wait_idle()
        stream = job.outputs()
    finally:
        job.stop_all()
    assert kills >= 2, "most kills should land mid-stream (lag > 0 when killed)"
    _compare(stream, tmp_path, lines, crash=True)


# ---------------------------------------------------------------------------- (b) outage
OUTAGE_S = 30.0  # issue 7: 30 s, over seven session timeouts (4 s)


def dedicated_broker(kind: str, tmp_path: Path, port: int | None = None) -> AnyBroker:
    """A broker of the test's own (not started): pausing the session's would stall others."""
    if kind == "kafka":
        return KafkaBroker(port, log_dir=tmp_path / "kafka", data_dir=tmp_path / "kafka-data",
                           die_with_parent=True)
    return EmbeddedBroker(port, log_dir=tmp_path / "broker", die_with_parent=True)


@pytest.mark.broker
@pytest.mark.slow
@pytest.mark.parametrize("kind", BROKERS_KAFKA_SLOW)
def test_broker_outage_sigstop(kind: str, tmp_path: Path) -> None:
    """Pause the (dedicated) broker with SIGSTOP for OUTAGE_S while the worker is consuming,
    then SIGCONT: the worker reconnects and the result equals `simulate`'s."""
    lines = data.interactions(parties=20, per_party=30, seed=43)
    half = len(lines) // 2
    with dedicated_broker(kind, tmp_path) as broker:
        job = Job(broker, tmp_path, rules_path=RULES)
        try:
            w = job.start_worker("w1")
            w.wait_ready()
            job.produce("interactions", lines[:half])
            time.sleep(0.3)
            broker.pause()
            try:
                time.sleep(OUTAGE_S)
                assert w.alive(), w.log_tail()
            finally:
                broker.resume()
            job.produce("interactions", lines[half:])
            job.wait_idle(timeout=90)
            assert w.alive(), w.log_tail()
            stream = job.outputs()
        finally:
            job.stop_all()
    _compare(stream, tmp_path, lines)


@pytest.mark.broker
@pytest.mark.slow
@pytest.mark.parametrize("kind", BROKERS_KAFKA_SLOW)
def test_worker_starts_before_broker(kind: str, tmp_path: Path) -> None:
    """BROKER_URL points at a port where the broker only starts a few seconds later: the
    worker waits for it, then joins and processes everything."""
    lines = data.interactions(parties=10, per_party=30, seed=47)
    port = free_port()
    broker = dedicated_broker(kind, tmp_path, port)
    broker.port = port  # the address is fixed before the broker runs (the Job reads it)
    job = Job(broker, tmp_path, rules_path=RULES)
    try:
        w = job.start_worker("w1")
        time.sleep(4.0)
        assert w.alive(), f"the worker gave up before the broker came:\n{w.log_tail()}"
        broker.start()
        w.wait_ready(timeout=90)
        job.produce("interactions", lines)
        job.wait_idle(timeout=60)
        stream = job.outputs()
    finally:
        job.stop_all()
        broker.stop()
    _compare(stream, tmp_path, lines)


# ---------------------------------------------------------------------------- (c) malformed
N_BAD = 40


def _bad_records() -> list[bytes]:
    """A fixed batch of malformed interaction records drawn by hypothesis.

    One `@given` run (generate phase only, `derandomize=True`: the seed comes from the test
    function, so the batch is the same on every run and machine) collects the distinct records
    it draws; the last N_BAD form the batch, so one worker run covers it (a worker per example
    would take minutes). Every record is broken in
    a way the validator must refuse: not JSON, invalid UTF-8, not an object, wrong types,
    unknown interaction types or timestamps made of huge (~100 KB) strings; unknown fields are
    added on top of some of them.
    """
    text = st.text(max_size=30)
    junk = st.one_of(st.integers(), st.floats(allow_nan=False), st.booleans(), st.none(),
                     st.lists(st.integers(), max_size=3))
    not_json = text.map(lambda s: ("{" + s).encode())
    bad_utf8 = st.binary(min_size=1, max_size=40).map(lambda b: b'{"interaction_id": "\xff' + b)
    not_object = st.one_of(st.lists(st.integers(), max_size=4), st.integers(), text).map(
        lambda v: json.dumps(v).encode())
    base = st.fixed_dictionaries({
        "interaction_id": st.from_regex(r"hz-[a-z0-9]{6}", fullmatch=True),
        "party_id": st.sampled_from(["SP-001", "SP-002", "HZ-1"]),
        "type": st.just("WEB_AD_VISIT"),
        "occurred_at": st.just("2026-01-10T10:00:00+00:00"),
    })
    field = st.sampled_from(["interaction_id", "party_id", "type", "occurred_at"])
    wrong_type = st.tuples(base, field, junk).map(lambda t: {**t[0], t[1]: t[2]})
    huge = st.tuples(base, st.sampled_from(["type", "occurred_at"]),
                     st.integers(90_000, 110_000)).map(lambda t: {**t[0], t[1]: "x" * t[2]})
    extra = st.dictionaries(st.from_regex(r"zz_[a-z]{1,8}", fullmatch=True), junk, max_size=3)
    with_extra = st.tuples(st.one_of(wrong_type, huge), extra).map(lambda t: {**t[1], **t[0]})
    docs = st.one_of(wrong_type, huge, with_extra).map(lambda d: json.dumps(d).encode())
    record = st.one_of(not_json, bad_utf8, not_object, docs)
    got: list[bytes] = []

    @settings(max_examples=150, derandomize=True, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), deadline=None)
    @given(record)
    def draw(r: bytes) -> None:
        if r not in got:
            got.append(r)

    draw()
    # the first examples hypothesis tries are the simplest ones: keep a spread of the rest
    return got[-N_BAD:]


def _valid_lines(lines: list[bytes]) -> list[bytes]:
    """The lines the core accepts (the synthetic stream has a few rejects of its own)."""
    from core.pipeline import handle_interaction
    from rules.loader import load_rules_file
    from state.party import PartyState

    rules = load_rules_file(RULES)
    return [ln for ln in lines
            if handle_interaction(json.loads(ln) if _is_json(ln) else ln, rules,
                                  lambda p: PartyState()).error is None]


def _is_json(b: bytes) -> bool:
    try:
        return isinstance(json.loads(b), dict)
    except ValueError:
        return False


def _party_key(r: bytes) -> bytes | None:
    try:
        doc = json.loads(r)
    except ValueError:
        return None
    p = doc.get("party_id") if isinstance(doc, dict) else None
    return p.encode() if isinstance(p, str) else None


@pytest.mark.broker
@pytest.mark.slow
def test_malformed_records_dead_lettered(broker: EmbeddedBroker, tmp_path: Path) -> None:
    bad = _bad_records()
    assert len(bad) == N_BAD
    assert any(len(b) > 90_000 for b in bad) and any(not _is_json(b) for b in bad)
    good = _valid_lines(data.interactions(parties=10, per_party=30, seed=53))
    rng = random.Random(5)
    mixed = list(good)
    for b in bad:  # spread through the good traffic
        mixed.insert(rng.randrange(len(mixed) + 1), b)
    job = Job(broker, tmp_path, rules_path=RULES)
    try:
        w = job.start_worker("w1")
        w.wait_ready()
        job.produce("interactions", mixed, key=_party_key)
        job.wait_idle()
        assert w.alive() and w.get("/healthz")[0] == 200, w.log_tail()
        letters = job.read("dead-letters")
        stream = job.outputs()
    finally:
        job.stop_all()
    assert Counter(r["value"] for r in letters) == Counter(bad)
    assert {r["headers"]["dl-topic"] for r in letters} == {job.topic("interactions")}
    assert {r["headers"]["dl-reason-code"] for r in letters} <= {
        "invalid_json", "invalid_record", "id_too_long", "invalid_timestamp"}
    rejected = [o for o in stream.outcomes if json.loads(o)["outcome"] == "REJECTED"]
    stream.outcomes = [o for o in stream.outcomes if o not in rejected]
    _compare(stream, tmp_path, good)
