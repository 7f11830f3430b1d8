"""A handler run as its Faust agent runs it (`AgentHandler.run` -> `Runtime.consume`), over
a broker that acknowledges when the test says: the batch's outputs go first and the table of
a `TableHandler` only once the broker has them; a redelivered import is sent on again (the
matching agent knows its origin) but not recorded again."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from agents.imports import ImportsHandler
from tests.agents.doubles import NAMES, message, runtime, table
from tests.agents.test_runtime import _Broker, _settle, _Stream


class _Acking(_Broker):
    """Acknowledges with record metadata (an offset), as aiokafka does."""

    def ack_all(self) -> None:
        for fut in self.pending:
            if not fut.done():
                fut.set_result(SimpleNamespace(offset=0))  # type: ignore[arg-type]


def _events(*offsets: int) -> list[Any]:
    row = {"import_interface_id": "II-1", "source_system": "TRADESHOW",
           "orig_system_reference": "TS-1", "batch_id": "B1", "party_id": "P1",
           "created_at": "2024-03-01T00:00:00+00:00"}
    return [SimpleNamespace(message=message(NAMES.lead_imports, row, "TS-1", offset))
            for offset in offsets]


async def test_table_handler_sends_its_table_after_the_outputs() -> None:
    broker = _Acking()
    rt, _ = runtime()
    rt.app.producer._ensure_producer = lambda: broker
    handler = ImportsHandler(rt, table("imported"))
    task = asyncio.ensure_future(handler.run(_Stream([_events(0)])))
    await _settle()
    assert broker.topics() == [NAMES.party_imports]  # the output, not yet the table
    broker.ack_all()
    await _settle()
    assert broker.topics()[1:] == ["imported-changelog"]
    await asyncio.wait_for(task, 1)

    broker.sent.clear()
    again = asyncio.ensure_future(handler.run(_Stream([_events(0)])))  # redelivered
    await _settle()
    assert broker.topics() == [NAMES.party_imports]  # sent again: matching recognises it
    broker.ack_all()
    await asyncio.wait_for(again, 1)
    assert broker.topics() == [NAMES.party_imports]  # the OSR was recorded already
