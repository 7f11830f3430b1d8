"""Imports agent: `lead-imports` -> party imports (CONTRACT §6, steps 1-2).

Reads `lead-imports` (keyed by orig_system_reference, so every record of one OSR reaches the
same partition). Table `imported`: `osr_key` (source system + OSR) -> the party it was first
sent to. Per record, `core.pipeline.handle_import_head`:
- invalid: ERROR result (every message) to `lead-import-results`, and a dead letter; so is a
  row the import command refused (header `ls-import-refused`: its identity and errors), so
  the job's results and report count it as `simulate --imports` does;
- OSR already imported for another party: DUPLICATE result (reason ORIG_SYSTEM_REFERENCE);
- else: the validated record goes to `leadstream-party-imports` keyed by its party (with
  origin headers), where the matching agent dedupes it against the party's leads and creates
  the lead (or finds it already there: a replay is a DUPLICATE of itself); then the OSR is
  recorded. Sent first, recorded after: a crash in between sends the record again with the
  same origin, which the matching agent recognises and skips.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from agents.handler import TableHandler
from agents.runtime import Runtime
from core.imports import InvalidImport, osr_key
from core.pipeline import handle_import_head
from models.imports import REFUSED_HEADER
from models.wire import id_or_none
from streaming.codecs import dumps, header, loads_object
from tables.batch import TableBatch

log = logging.getLogger("leadstream.agents.imports")


class ImportsHandler(TableHandler):
    """Validates a lead import and sends it on to its party; `table`: `imported`."""

    agent = "imports"

    async def handle(self, message: Any, received: float) -> None:
        value: bytes = message.value or b""
        doc = loads_object(value)
        osr = _osr_of(doc)
        if osr is not None and await self.rt.sent_home(message, osr):
            return
        if doc is not None and header(message.headers, REFUSED_HEADER) is not None:
            await self.refused(message, doc)
            return

        def osr_party(key: str) -> str | None:
            return _party_of(self.table.get(message.partition, key.encode()))

        head = handle_import_head(doc if doc is not None else value, osr_party,
                                  self.rt.holder.current, now=time.time())
        if head.result is not None:
            await self.send_import_result(head.result)
            if head.result["result"] == "ERROR":
                await self.dead_letter(message, "; ".join(head.result.get("errors") or []),
                                       head.code or "invalid_record")
            return
        assert head.party_id is not None
        await self.rt.forward(self.names.party_imports, head.party_id, message,
                              dumps(head.record.to_json()))
        key = osr_key(head.record).encode()
        if self.table.get(message.partition, key) is None:
            self.table.put(message.partition, key,
                           dumps({"party_id": head.party_id, "offset": message.offset}))

    async def refused(self, message: Any, doc: dict[str, Any]) -> None:
        """A row the import command refused: its ERROR result, as simulate --imports gives,
        and a dead letter."""
        refused = InvalidImport(
            [str(e) for e in doc.get("errors") or []] or ["(record): refused"],
            _ident(doc, "import_interface_id"), _ident(doc, "source_system"),
            _ident(doc, "orig_system_reference"), _ident(doc, "batch_id"))
        await self.send_import_result(refused.to_result().to_json())
        code = doc.get("code")
        await self.dead_letter(message, "; ".join(refused.errors),
                               code if isinstance(code, str) else "invalid_record")


def register(rt: Runtime) -> Any:
    handler = ImportsHandler(rt, TableBatch(rt.tables.imported))
    return handler.declare(rt.topics.lead_imports, "leadstream.imports")


def _ident(doc: dict[str, Any], name: str) -> str | None:
    v = doc.get(name)
    return v if isinstance(v, str) else None


def _party_of(raw: bytes | None) -> str | None:
    return id_or_none(loads_object(raw), "party_id", None)


def _osr_of(doc: dict[str, Any] | None) -> str | None:
    return id_or_none(doc, "orig_system_reference", None, strip=True)
