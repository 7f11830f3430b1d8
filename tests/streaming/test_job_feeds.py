"""The bundled call-centre and web feeds through the feeds agent equal `simulate` over the
interactions `streaming.feeds` maps them to; the records it cannot map are REJECTED and
dead-lettered."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.feeds import CALLCENTER, WEB, FeedError, feed_to_interaction
from rules.loader import load_rules_file
from tests.streaming.harness import AnyBroker, Job, diff, reduce_outcomes, simulate, write_jsonl

pytestmark = [pytest.mark.broker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "data" / "samples"
RULES = ROOT / "config" / "rules.yaml"


def test_sample_feeds_equal_simulate(any_broker: AnyBroker, tmp_path: Path) -> None:
    rules = load_rules_file(RULES)
    feeds = [(CALLCENTER, "feed.callcenter", (SAMPLES / "feed.callcenter.jsonl")),
             (WEB, "feed.web", (SAMPLES / "feed.web.jsonl"))]
    mapped: list[dict[str, object]] = []
    refused: list[FeedError] = []
    for feed, _, path in feeds:
        for line in path.read_bytes().splitlines():
            try:
                mapped.append(feed_to_interaction(feed, line, rules))
            except FeedError as err:
                refused.append(err)
    job = Job(any_broker, tmp_path, rules_path=RULES)
    try:
        job.start_worker("w1").wait_ready()
        for _, topic, path in feeds:  # one feed after the other: the order simulate sees
            job.produce(topic, path.read_bytes().splitlines())
            job.wait_idle()
        stream = job.outputs()
        dead = job.read("dead-letters")
    finally:
        job.stop_all()

    # simulate --events over the same feed records gives everything the job gave, the
    # REJECTED outcomes of the refused records included (CONTRACT §8)
    events = write_jsonl(tmp_path / "events.jsonl", [
        {"topic": topic, "value": line.decode()}
        for _, topic, path in feeds for line in path.read_bytes().splitlines()])
    merged = simulate(RULES, tmp_path / "sim-events", events=events)
    assert stream.comparable() == merged.comparable(), diff(stream, merged)
    sim_dead = [json.loads(x) for x in
                (tmp_path / "sim-events" / "dead_letters.jsonl").read_text().splitlines()]
    assert sorted((job.topic(d["topic"]), d["reason"]) for d in sim_dead) == sorted(
        (h["dl-topic"], h["dl-reason-code"]) for h in (d["headers"] for d in dead))

    feed_rejects = {e.interaction_id for e in refused if e.interaction_id}
    outcomes = [json.loads(o) for o in stream.outcomes
                if not ('"REJECTED"' in o and '"interaction_id":null' in o)]
    rejected = [o for o in outcomes if o["interaction_id"] in feed_rejects]
    assert {o["interaction_id"] for o in rejected} == feed_rejects
    assert all(o["outcome"] == "REJECTED" and o["reason"] for o in rejected)
    stream.outcomes = reduce_outcomes(o for o in outcomes
                                      if o["interaction_id"] not in feed_rejects)
    assert len(dead) == len(refused) == 8
    assert {d["headers"]["dl-reason-code"] for d in dead} == {e.code for e in refused}

    sim = simulate(RULES, tmp_path / "sim",
                   interactions=write_jsonl(tmp_path / "mapped.jsonl", mapped))
    assert stream.comparable() == sim.comparable(), diff(stream, sim)
    assert len(sim.leads) >= 10 and sim.links
