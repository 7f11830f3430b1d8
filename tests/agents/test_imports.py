"""The imports agent's handler, called record by record (no broker): a valid import goes on to
its party (origin headers) and its OSR is recorded; the same OSR for another party is a
DUPLICATE; an invalid import and a row the import command refused get an ERROR result and a
dead letter with their reason code."""

from __future__ import annotations

from typing import Any

import orjson

from agents.imports import ImportsHandler
from agents.runtime import ORIGIN, ORIGIN_OFFSET
from core.imports import osr_key, parse_import
from models.imports import REFUSED_HEADER
from tests.agents.doubles import NAMES, Producer, commit, dead_letter_code, message, runtime, table

IMPORTS = NAMES.lead_imports


def row(**over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "import_interface_id": "II-1", "source_system": "TRADESHOW",
        "orig_system_reference": "TS-1", "batch_id": "B1", "party_id": "P1",
        "created_at": "2024-03-01T00:00:00+00:00"}
    return {**doc, **over}


def imports() -> tuple[ImportsHandler, Producer]:
    rt, sent = runtime()
    return ImportsHandler(rt, table("imported")), sent


async def send(handler: ImportsHandler, doc: Any, offset: int,
               headers: list[tuple[str, bytes]] | None = None) -> None:
    osr = doc.get("orig_system_reference") if isinstance(doc, dict) else None
    await handler.handle(message(IMPORTS, doc, osr, offset, headers=headers), 0.0)
    commit(handler)


async def test_valid_import_goes_to_its_party_then_its_osr_is_recorded() -> None:
    handler, sent = imports()
    await send(handler, row(), 4)
    [forward] = sent.sent
    assert (forward.topic, forward.key) == (NAMES.party_imports, b"P1")
    assert forward.json()["orig_system_reference"] == "TS-1"
    assert (forward.header(ORIGIN), forward.header(ORIGIN_OFFSET)) == ("li0", "4")
    [(key, value)] = handler.table.scan(0, b"")
    assert key == osr_key(parse_import(row())).encode()
    assert orjson.loads(value) == {"party_id": "P1", "offset": 4}


async def test_same_osr_for_another_party_is_a_duplicate() -> None:
    handler, sent = imports()
    await send(handler, row(), 0)
    sent.clear()
    await send(handler, row(import_interface_id="II-2", party_id="P2"), 1)
    [result] = sent.sent
    assert (result.topic, result.key) == (NAMES.lead_import_results, b"II-2")
    assert (result.json()["result"], result.json()["reason"]) == (
        "DUPLICATE", "ORIG_SYSTEM_REFERENCE")
    [(_, value)] = handler.table.scan(0, b"")
    assert orjson.loads(value)["party_id"] == "P1"  # the first party keeps it
    sent.clear()
    await send(handler, row(), 2)  # the same party again: on to it (it knows the lead)
    assert [s.topic for s in sent.sent] == [NAMES.party_imports]


async def test_invalid_import_gets_an_error_result_and_a_dead_letter() -> None:
    handler, sent = imports()
    await send(handler, row(created_at="yesterday"), 7)
    result, letter = sent.sent
    assert (result.topic, result.key, result.json()["result"]) == (
        NAMES.lead_import_results, b"II-1", "ERROR")
    assert any("created_at" in e for e in result.json()["errors"])
    assert (letter.topic, letter.header("dl-agent"), letter.header("dl-offset")) == (
        NAMES.dead_letters, "imports", "7")
    assert dead_letter_code(letter) == "invalid_timestamp"
    assert handler.table.scan(0, b"") == []


async def test_row_the_import_command_refused_is_counted_as_an_error() -> None:
    handler, sent = imports()
    refused = {"import_interface_id": "II-3", "source_system": "TRADESHOW",
               "orig_system_reference": "TS-3", "batch_id": "B1",
               "errors": ["party_id: required"], "code": "invalid_record"}
    await send(handler, refused, 0, headers=[(REFUSED_HEADER, b"1")])
    result, letter = sent.sent
    assert (result.key, result.json()["result"], result.json()["errors"]) == (
        b"II-3", "ERROR", ["party_id: required"])
    assert (dead_letter_code(letter), letter.header("dl-reason")) == (
        "invalid_record", "party_id: required")
    assert handler.table.scan(0, b"") == []
