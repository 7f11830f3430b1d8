"""The matching agent's handler, called record by record (no broker): it sends a record's
outcome, links and lead events, and then stores the party with the record's progress; a
redelivered or already forwarded record emits nothing; a bad record is dead-lettered with its
reason code; a record off its party's partition is sent home; an assignment draws a new
repair epoch."""

from __future__ import annotations

from typing import Any

import pytest
from mode.utils.queues import FlowControlEvent

from agents.matching import MatchingHandler, register
from agents.owners import CLAIM, OP
from agents.runtime import ORIGIN, ORIGIN_OFFSET
from state.party import PartyState
from streaming.settings import load_settings
from tables.engine_internals import BatchIntake
from tests.agents.doubles import (
    NAMES,
    Producer,
    commit,
    dead_letter_code,
    message,
    runtime,
    table,
)
from tests.builders import input_lead, interaction
from tests.state.backends import FakeTable

EVENTS = NAMES.lead_events


def matching(partitions: int = 1) -> tuple[MatchingHandler, Producer]:
    rt, sent = runtime(partitions=partitions)
    return MatchingHandler(rt, table("parties"), table("party-parts")), sent


def stored_party(handler: MatchingHandler, party: str = "P1") -> PartyState:
    return handler.stores[0].load(party)


async def feed(handler: MatchingHandler, *records: dict[str, Any], first: int = 0) -> None:
    for offset, rec in enumerate(records, start=first):
        await handler.handle(message(NAMES.interactions, rec, rec["party_id"], offset), 0.0)


async def test_sends_outcome_link_and_lead_event_then_stores_progress() -> None:
    handler, sent = matching()
    await feed(handler, interaction("i1"))
    assert [s.json()["outcome"] for s in sent.to(NAMES.interaction_outcomes)] == ["PENDING"]
    assert sent.to(EVENTS) == []
    sent.clear()
    await feed(handler, interaction("i2", at=1), first=1)
    commit(handler)
    outcomes = {s.json()["interaction_id"]: s.json()["outcome"]
                for s in sent.to(NAMES.interaction_outcomes)}
    assert outcomes == {"i1": "LINKED", "i2": "LINKED"}
    links = sent.to(NAMES.interaction_leads)
    assert sorted(s.json()["interaction_id"] for s in links) == ["i1", "i2"]
    [created] = sent.to(EVENTS)
    lead_id = created.json()["lead_id"]
    assert (created.key, created.json()["kind"]) == (b"P1", "CREATED")
    assert {s.json()["sales_lead_id"] for s in links} == {lead_id}
    [own] = sent.to(NAMES.lead_owners)  # the lead id is recorded as the party's
    assert (own.key, own.header(OP), own.json()) == (lead_id.encode(), "own",
                                                      {"party_id": "P1"})
    state = stored_party(handler)
    assert state.applied("i0", 1) and not state.applied("i0", 2)
    assert [lr.lead_id for lr in state.leads] == [lead_id]


async def test_redelivered_record_emits_nothing() -> None:
    handler, sent = matching()
    await feed(handler, interaction("i1"), interaction("i2", at=1))
    commit(handler)
    sent.clear()
    await feed(handler, interaction("i1"), interaction("i2", at=1))  # offsets 0, 1 again
    assert sent.sent == []
    await feed(handler, interaction("i3", at=2), first=2)  # the next one is decided
    assert [s.json()["outcome"] for s in sent.to(NAMES.interaction_outcomes)] == ["LINKED"]


async def test_forward_repeated_after_a_crash_is_recognised_by_its_origin() -> None:
    handler, sent = matching()
    origin = [(ORIGIN, b"fc0"), (ORIGIN_OFFSET, b"7")]
    rec = interaction("cc-1")
    await handler.handle(message(NAMES.interactions, rec, "P1", 0, headers=origin), 0.0)
    commit(handler)
    sent.clear()
    # the feeds agent sent it again (crash before its commit): a new offset, the same origin
    await handler.handle(message(NAMES.interactions, rec, "P1", 1, headers=origin), 0.0)
    assert sent.sent == []
    assert stored_party(handler).applied("fc0", 7)


async def test_bad_record_is_dead_lettered_with_its_reason_code() -> None:
    handler, sent = matching()
    await handler.handle(message(NAMES.interactions, b"{bad", "P1", 4), 0.0)
    [letter] = sent.to(NAMES.dead_letters)
    assert (dead_letter_code(letter), letter.header("dl-agent")) == ("invalid_json", "matching")
    assert (letter.header("dl-topic"), letter.header("dl-offset")) == (NAMES.interactions, "4")
    assert letter.value == b"{bad"
    [outcome] = sent.to(NAMES.interaction_outcomes)
    assert outcome.json()["outcome"] == "REJECTED"
    await handler.handle(message(NAMES.interactions, interaction("i1", type="NOPE"), "P1", 5),
                         0.0)
    assert dead_letter_code(sent.to(NAMES.dead_letters)[-1]) == "unknown_type"


async def test_record_off_its_party_partition_is_sent_home() -> None:
    handler, sent = matching(partitions=4)
    home = handler.rt.home_partition(NAMES.interactions, "P1")
    elsewhere = (home + 1) % 4
    await handler.handle(message(NAMES.interactions, interaction("i1"), "x", 3,
                                 partition=elsewhere), 0.0)
    [moved] = sent.sent
    assert (moved.topic, moved.key, moved.partition) == (NAMES.interactions, b"P1", home)
    assert (moved.header(ORIGIN), moved.header(ORIGIN_OFFSET)) == (f"i{elsewhere}", "3")
    assert len(handler.parties) == len(handler.parts) == 0  # nothing decided here


async def test_update_of_a_lead_the_party_lacks_asks_its_owner() -> None:
    handler, sent = matching()
    update = input_lead("L-ELSEWHERE")
    await handler.handle(message(NAMES.lead_updates, update, "P1", 9), 0.0)
    [claim] = sent.sent
    assert (claim.topic, claim.key, claim.header(OP)) == (NAMES.lead_owners, b"L-ELSEWHERE",
                                                           CLAIM)
    assert (claim.header(ORIGIN), claim.header(ORIGIN_OFFSET)) == ("u0", "9")
    commit(handler)
    assert stored_party(handler).applied("u0", 9)  # not asked again when redelivered


async def test_party_import_creates_the_lead_and_sends_its_result() -> None:
    handler, sent = matching()
    rec = {"import_interface_id": "II-1", "source_system": "TRADESHOW",
           "orig_system_reference": "TS-1", "batch_id": "B1", "party_id": "P1",
           "created_at": "2024-03-01T00:00:00+00:00"}
    await handler.handle(message(NAMES.party_imports, rec, "P1", 0), 0.0)
    [result] = sent.to(NAMES.lead_import_results)
    assert (result.key, result.json()["result"]) == (b"II-1", "SUCCESS")
    assert [s.json()["kind"] for s in sent.to(EVENTS)] == ["IMPORTED"]


async def test_partition_assignment_draws_a_new_repair_epoch() -> None:
    handler, _ = matching()
    before = handler.rt.epoch
    await handler.on_partitions_assigned(sender=None, assigned=set())
    assert handler.rt.epoch != before and handler.rt.epoch & 1


def test_phases_send_parts_then_headers_then_part_deletions() -> None:
    handler, _ = matching()
    assert [[(b.topic, puts, deletes) for b, puts, deletes in phase]
            for phase in handler.phases()] == [
        [("party-parts-changelog", True, False)], [("parties-changelog", True, True)],
        [("party-parts-changelog", False, True)]]


class _App:
    """Records what `register` declares and connects."""

    def __init__(self) -> None:
        self.agents: list[tuple[Any, str, int, Any]] = []
        self.receivers: list[Any] = []
        self.on_partitions_assigned = self
        self.flow_control = FlowControlEvent()  # what the batch intake registers its queue with

    def connect(self, receiver: Any) -> None:
        self.receivers.append(receiver)

    def agent(self, topic: Any, *, name: str, concurrency: int) -> Any:
        def declare(fun: Any) -> Any:
            self.agents.append((topic, name, concurrency, fun))
            return fun
        return declare


@pytest.mark.parametrize("intake", ["batch", "events"])
def test_register_declares_the_agent_and_connects_the_new_epoch(intake: str) -> None:
    rt, _ = runtime()
    rt.settings = load_settings({"INTAKE": intake})
    app = _App()
    rt.app = app
    rt.tables = _Tables()  # type: ignore[assignment]
    rt.topics = _Topics()  # type: ignore[assignment]
    register(rt)
    [(topic, name, concurrency, fun)] = app.agents
    assert (topic, name, concurrency) == ("matching sources", "leadstream.matching", 1)
    handler = fun.__self__
    assert isinstance(handler, MatchingHandler) and fun == handler.run
    assert app.receivers == [handler.on_partitions_assigned]
    if intake == "batch":  # the three topics' records come from the intake, not the stream
        assert isinstance(handler.intake, BatchIntake)
        assert handler.intake.topics == {NAMES.interactions, NAMES.lead_updates,
                                         NAMES.party_imports}
    else:
        assert handler.intake is None


class _Tables:
    def __init__(self) -> None:
        self.parties, self.party_parts = FakeTable("parties"), FakeTable("party-parts")


class _Topics:
    names = NAMES
    matching_sources = "matching sources"
