"""The assignment agent's handler, called request by request (no broker): members take leads
within their capacity and each decision goes back to the lead's party as an ASSIGNED event;
a full territory passes the request on; a request applied already emits nothing; a bad one is
dead-lettered; one off its territory's partition is sent there."""

from __future__ import annotations

from typing import Any

import orjson

from agents.assignment import AssignmentHandler
from tests.agents.doubles import NAMES, Producer, commit, dead_letter_code, message, runtime, table
from tests.builders import ts
from tests.core.test_assign_flow import RULES  # a: ANN (weight 2, capacity 2), BOB (1, 1)

REQUESTS = NAMES.assignments


def assign(lead: str, seq: int, tried: tuple[str, ...] = ("a", "b")) -> dict[str, Any]:
    return {"op": "assign", "lead_id": lead, "party_id": "P1", "tried": list(tried),
            "trigger": "CREATED", "at": ts(0), "request": f"le0:{lead}", "src": "le0",
            "seq": [seq, 0]}


def assignment(partitions: int = 1) -> tuple[AssignmentHandler, Producer]:
    rt, sent = runtime(RULES, partitions=partitions)
    return AssignmentHandler(rt, table("territories")), sent


async def send(handler: AssignmentHandler, territory: str, req: Any, offset: int,
               partition: int = 0) -> None:
    await handler.handle(message(REQUESTS, req, territory, offset, partition=partition), 0.0)
    commit(handler)


async def test_members_take_leads_within_capacity_then_it_is_passed_on() -> None:
    handler, sent = assignment()
    for i in range(4):
        await send(handler, "a", assign(f"L{i}", seq=i), i)
    decided = sent.to(NAMES.lead_events)
    assert [(s.key, s.json()["kind"]) for s in decided] == [(b"P1", "ASSIGNED")] * 3
    assert [s.json()["assignment"]["owner"] for s in decided] == ["ANN", "BOB", "ANN"]
    [passed] = sent.to(REQUESTS)  # everyone in `a` is full: on to `b`
    assert passed.key == b"b" and passed.json()["lead_id"] == "L3"
    assert passed.json()["tried"] == ["b"]
    stored = orjson.loads(handler.table.get(0, b"a") or b"")
    assert stored["state"]["open"] == {"ANN": ["L0", "L2"], "BOB": ["L1"]}


async def test_request_applied_already_emits_nothing() -> None:
    handler, sent = assignment()
    await send(handler, "a", assign("L0", seq=5), 0)
    before = handler.table.get(0, b"a")
    sent.clear()
    await send(handler, "a", assign("L0", seq=5), 1)  # its sender sent it again
    await send(handler, "a", assign("L0", seq=5), 0)  # redelivered
    assert sent.sent == [] and handler.table.get(0, b"a") == before


async def test_bad_request_is_dead_lettered() -> None:
    handler, sent = assignment()
    await send(handler, "a", b"{nope", 0)
    await send(handler, "b", assign("L1", seq=1), 1)  # `tried` does not start with `b`
    assert [(dead_letter_code(s), s.header("dl-agent")) for s in sent.sent] == [
        ("invalid_assignment_request", "assignment")] * 2
    assert handler.table.scan(0, b"") == []


async def test_request_off_its_territory_partition_is_sent_there() -> None:
    handler, sent = assignment(partitions=4)
    home = handler.rt.home_partition(REQUESTS, "a")
    await send(handler, "a", assign("L0", seq=0), 0, partition=(home + 1) % 4)
    [moved] = sent.sent
    assert (moved.topic, moved.key, moved.partition) == (REQUESTS, b"a", home)
    assert moved.json() == assign("L0", seq=0)
    assert handler.table.scan((home + 1) % 4, b"") == []
