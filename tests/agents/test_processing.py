"""The processing agent's handler, called event by event (no broker): a CREATED event makes
the lead's snapshot and stores it with the event's offset; a redelivered event and a repeated
CREATED emit nothing; a deletion sends a tombstone and keeps a marker; an event it cannot
apply is dead-lettered; a lead in a territory asks the territory's owner for a member."""

from __future__ import annotations

from typing import Any

import orjson

from agents.matching import MatchingHandler
from agents.processing import ProcessingHandler
from rules.compiled import Rules
from tests.agents.doubles import NAMES, Producer, commit, dead_letter_code, message, runtime, table
from tests.builders import interaction, make_rules

EVENTS = NAMES.lead_events


async def created_event() -> dict[str, Any]:
    """The CREATED event the matching agent sends for a party's second callback."""
    rt, sent = runtime()
    matching = MatchingHandler(rt, table("parties"), table("party-parts"))
    for offset, rec in enumerate((interaction("i1"), interaction("i2", at=1))):
        await matching.handle(message(NAMES.interactions, rec, "P1", offset), 0.0)
    [event] = sent.to(EVENTS)
    doc: dict[str, Any] = event.json()
    return doc


def processing(rules: Rules | None = None) -> tuple[ProcessingHandler, Producer]:
    rt, sent = runtime(rules)
    return ProcessingHandler(rt, table("leads")), sent


def stored(handler: ProcessingHandler, lead_id: str) -> Any:
    raw = handler.table.get(0, lead_id.encode())
    return orjson.loads(raw) if raw is not None else None


async def test_created_event_makes_and_stores_the_lead() -> None:
    handler, sent = processing()
    ev = await created_event()
    await handler.handle(message(EVENTS, ev, "P1", 5), 0.0)
    [snapshot] = sent.to(NAMES.leads)
    assert snapshot.key == ev["lead_id"].encode()
    assert (snapshot.json()["status"], snapshot.json()["interaction_score"]) == ("NEW", 20)
    commit(handler)
    doc = stored(handler, ev["lead_id"])
    assert doc["offset"] == 5 and doc["lead"] == snapshot.json()
    assert [e["kind"] for e in doc["history"]][:1] == ["created"]


async def test_redelivered_event_and_repeated_creation_emit_nothing() -> None:
    handler, sent = processing()
    ev = await created_event()
    await handler.handle(message(EVENTS, ev, "P1", 5), 0.0)
    commit(handler)
    before = stored(handler, ev["lead_id"])
    sent.clear()
    await handler.handle(message(EVENTS, ev, "P1", 5), 0.0)  # redelivered
    await handler.handle(message(EVENTS, ev, "P1", 9), 0.0)  # matching sent it twice
    assert sent.sent == []
    assert len(handler.table) == 0 and stored(handler, ev["lead_id"]) == before


async def test_deletion_sends_a_tombstone_and_later_events_are_skipped() -> None:
    handler, sent = processing()
    ev = await created_event()
    await handler.handle(message(EVENTS, ev, "P1", 5), 0.0)
    deleted = {**ev, "kind": "DELETED", "lead": None, "links": None}
    await handler.handle(message(EVENTS, deleted, "P1", 6), 0.0)
    tombstone = sent.to(NAMES.leads)[-1]
    assert (tombstone.key, tombstone.value) == (ev["lead_id"].encode(), None)
    commit(handler)
    assert stored(handler, ev["lead_id"]) == {"deleted": True, "offset": 6}
    sent.clear()
    status = {**ev, "kind": "STATUS", "lead": None, "links": None, "status": "WON"}
    await handler.handle(message(EVENTS, status, "P1", 7), 0.0)
    assert sent.sent == []


async def test_event_it_cannot_apply_is_dead_lettered() -> None:
    handler, sent = processing()
    await handler.handle(message(EVENTS, b"not json", "P1", 1), 0.0)
    ev = await created_event()
    unknown = {**ev, "kind": "STATUS", "lead": None, "links": None, "status": "WON"}
    await handler.handle(message(EVENTS, unknown, "P1", 2), 0.0)  # a lead never created
    letters = sent.to(NAMES.dead_letters)
    assert [(dead_letter_code(s), s.header("dl-offset")) for s in letters] == [
        ("invalid_lead_event", "1"), ("invalid_lead_event", "2")]
    assert {s.header("dl-agent") for s in letters} == {"processing"}
    assert sent.to(NAMES.leads) == [] and len(handler.table) == 0


async def test_lead_in_a_territory_asks_its_owner_before_the_lead_is_stored() -> None:
    rules = make_rules("""
assignment:
  territories:
    - id: north
      precedence: 1
      guard: {}
      members:
        - {resource: ANN, capacity: 2}
""")
    handler, sent = processing(rules)
    ev = await created_event()
    await handler.handle(message(EVENTS, ev, "P1", 5), 0.0)
    [request] = sent.to(NAMES.assignments)
    assert request.key == b"north"
    assert {k: request.json()[k] for k in ("op", "lead_id", "party_id", "tried")} == {
        "op": "assign", "lead_id": ev["lead_id"], "party_id": "P1", "tried": ["north"]}
    assert sent.topics().index(NAMES.assignments) < sent.topics().index(NAMES.leads)
