"""The owners agent's handler, called record by record (no broker): `own` records a lead id
for its party; a claim on nobody's id is granted (the update goes back to its party's
partition, marked granted, with this record as its origin) and recorded; a claim on another
party's or a deleted id is refused with a dead letter that names the original update."""

from __future__ import annotations

from typing import Any

import orjson

from agents.owners import CLAIM, DELETE, GRANTED, OP, OWN, OwnersHandler
from agents.runtime import ORIGIN, ORIGIN_OFFSET
from tests.agents.doubles import NAMES, Producer, commit, dead_letter_code, message, runtime, table
from tests.builders import input_lead

OWNERS = NAMES.lead_owners


def owners(partitions: int = 1) -> tuple[OwnersHandler, Producer]:
    rt, sent = runtime(partitions=partitions)
    return OwnersHandler(rt, table("lead-owners")), sent


async def send(handler: OwnersHandler, op: str, lead_id: str, doc: Any, offset: int,
               origin: tuple[str, int] | None = None) -> None:
    headers = [(OP, op.encode())]
    if origin is not None:
        headers += [(ORIGIN, origin[0].encode()), (ORIGIN_OFFSET, str(origin[1]).encode())]
    await handler.handle(message(OWNERS, doc, lead_id, offset, headers=headers), 0.0)
    commit(handler)


def entry(handler: OwnersHandler, lead_id: str) -> Any:
    raw = handler.table.get(0, lead_id.encode())
    return orjson.loads(raw) if raw is not None else None


async def test_own_records_the_first_party_only() -> None:
    handler, sent = owners()
    await send(handler, OWN, "L1", {"party_id": "P1"}, 0)
    await send(handler, OWN, "L1", {"party_id": "P2"}, 1)
    assert entry(handler, "L1") == {"party_id": "P1", "deleted": False}
    assert sent.sent == []


async def test_claim_on_nobodys_id_is_granted_and_recorded() -> None:
    handler, sent = owners(partitions=4)
    update = input_lead("L9", party="P2")
    await send(handler, CLAIM, "L9", update, 3, origin=("u1", 40))
    [granted] = sent.sent
    assert (granted.topic, granted.key, orjson.loads(granted.value or b"")) == (
        NAMES.lead_updates, b"P2", update)
    assert granted.partition == handler.rt.home_partition(NAMES.lead_updates, "P2")
    assert (granted.header(GRANTED), granted.header(ORIGIN), granted.header(ORIGIN_OFFSET)) \
        == ("1", "lo0", "3")
    assert entry(handler, "L9") == {"party_id": "P2", "deleted": False}


async def test_claim_on_another_partys_id_is_refused_naming_the_update() -> None:
    handler, sent = owners()
    await send(handler, OWN, "L1", {"party_id": "P1"}, 0)
    await send(handler, CLAIM, "L1", input_lead("L1", party="P2"), 1, origin=("u3", 17))
    [letter] = sent.sent
    assert letter.topic == NAMES.dead_letters
    assert dead_letter_code(letter) == "lead_belongs_to_other_party"
    assert (letter.header("dl-topic"), letter.header("dl-partition"),
            letter.header("dl-offset"), letter.key) == (NAMES.lead_updates, "3", "17", b"P2")
    assert letter.header(OP) is None  # the internal headers stay behind
    assert entry(handler, "L1") == {"party_id": "P1", "deleted": False}


async def test_claim_on_a_deleted_or_unregistrable_id_is_refused() -> None:
    handler, sent = owners()
    await send(handler, OWN, "L1", {"party_id": "P1"}, 0)
    await send(handler, DELETE, "L1", {"party_id": "P1"}, 1)
    assert entry(handler, "L1") == {"party_id": "P1", "deleted": True}
    await send(handler, CLAIM, "L1", input_lead("L1", party="P1"), 2, origin=("u0", 5))
    no_created_at = {k: v for k, v in input_lead("L2").items() if k != "created_at"}
    await send(handler, CLAIM, "L2", no_created_at, 3, origin=("u0", 6))
    assert [dead_letter_code(s) for s in sent.sent] == ["lead_deleted", "unknown_lead"]
    assert entry(handler, "L2") is None


async def test_record_without_op_or_party_is_dead_lettered() -> None:
    handler, sent = owners()
    await handler.handle(message(OWNERS, {"party_id": "P1"}, "L1", 0), 0.0)
    await send(handler, OWN, "L1", {"nobody": 1}, 1)
    assert [(dead_letter_code(s), s.header("dl-agent")) for s in sent.sent] == [
        ("invalid_lead_event", "owners"), ("invalid_lead_event", "owners")]
    assert entry(handler, "L1") is None
