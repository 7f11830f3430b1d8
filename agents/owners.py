"""Owners agent: whose lead id is it, across parties (CONTRACT §10, ownership of ids).

Lead updates are keyed by party, and a party's matching agent knows only its own leads, so
an update naming a lead id its party does not have cannot be decided there: the id may be
another party's (refused), one the party deleted (refused), or nobody's (a registration).
The Kafka Streams answer, as for imports' orig_system_reference: a table keyed by the id,
fed by an internal topic keyed by the id, so every question about one id reaches one owner.

Topic `leadstream-lead-owners` (key lead_id), header `ls-owner-op`:
- `own` (value `{"party_id"}`): the matching agent created, imported or registered the lead;
  recorded unless the id is already owned;
- `delete` (value `{"party_id"}`): the party deleted the lead; the id stays the party's;
- `claim` (value: the lead update's own bytes, with its origin headers): the matching agent of
  the update's party did not have the lead. Another party's id: dead letter
  `lead_belongs_to_other_party`; the party's deleted lead: `lead_deleted`; nobody's, but the
  update cannot register it (no `created_at`): `unknown_lead` (all carry the update's
  original topic, partition and offset from its origin headers); else the id is recorded
  for the party and the update goes
  back to `lead-updates`, on the party's partition, with header `ls-owner-granted` and this
  record as its origin (`lo<partition>`, offset): the matching agent then handles it as
  nobody else's (`apply_lead_update(owner_of=...)`).
Table `lead-owners`: lead_id -> `{"party_id", "deleted"}`. Sent first, recorded after: a
crash in between sends the update back twice with the same origin, which the matching
agent's per-origin progress recognises. The matching agent records the original update's
offset in the party's progress when it asks, so a redelivered original is not asked again.

An id is owned from the moment its `own` or `claim` record is handled here; an update from
another party that names a brand-new lead id before its `own` record arrived is not refused
(lead ids made by the job derive from the party, so only a wrong producer can do that).
"""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import orjson

from agents.handler import TableHandler
from agents.runtime import ORIGIN, ORIGIN_OFFSET, Runtime, origin_of
from core.lead_updates import LeadDeleted, LeadOfOtherParty, registration_error
from streaming.codecs import decode_key, dumps, header, loads_object, party_of
from streaming.deadletter import headers_list
from tables.batch import TableBatch

log = logging.getLogger("leadstream.agents.owners")

OP = "ls-owner-op"
GRANTED = "ls-owner-granted"
OWN, DELETE, CLAIM = "own", "delete", "claim"


class OwnersHandler(TableHandler):
    """Records who owns a lead id and decides claims on it; `table`: `lead-owners`."""

    agent = "owners"

    async def handle(self, message: Any, received: float) -> None:
        lead_id = decode_key(message.key)
        op = header(message.headers, OP)
        if not lead_id or op not in (OWN, DELETE, CLAIM):
            await self.dead_letter(message, "lead owners: no lead id or unknown op",
                                   "invalid_lead_event")
            return
        owners = self.table
        key = lead_id.encode()
        raw = owners.get(message.partition, key)
        entry: dict[str, Any] | None = orjson.loads(raw) if raw else None
        doc = loads_object(message.value)
        party = party_of(doc)
        if party is None:
            await self.dead_letter(message, "lead owners: no party_id", "invalid_lead_event")
            return
        if op == OWN:
            if entry is None:
                owners.put(message.partition, key, dumps({"party_id": party, "deleted": False}))
            return
        if op == DELETE:
            if entry is None or entry["party_id"] == party:
                owners.put(message.partition, key, dumps({"party_id": party, "deleted": True}))
            return
        await self.claim(message, key, entry, doc, party)

    async def claim(self, message: Any, key: bytes, entry: dict[str, Any] | None,
                    doc: dict[str, Any] | None, party: str) -> None:
        """A party's update of a lead id it does not have: granted (sent back to the party,
        the id recorded for it) or refused (a dead letter naming the original update)."""
        err: Any = None
        if entry is not None and entry["party_id"] != party:
            err = LeadOfOtherParty(party)
        elif entry is not None and entry.get("deleted"):
            err = LeadDeleted(party)
        elif entry is None and doc is not None:
            err = registration_error(doc)  # nobody's, and the update cannot register it
        if err is not None:
            await self.dead_letter(_as_update(message, self.names.lead_updates, party),
                                   err.reason, err.code)
            return
        # its origin now is this record: the party's progress on `lead-updates` is past the
        # original already (the matching agent recorded it when it asked)
        rt, topic = self.rt, self.names.lead_updates
        await rt.forward(topic, party, message, partition=rt.home_partition(topic, party),
                         extra=[(ORIGIN, rt.source(message.topic, message.partition).encode()),
                                (ORIGIN_OFFSET, str(message.offset).encode()),
                                (GRANTED, b"1")])
        if entry is None:
            self.table.put(message.partition, key,
                           dumps({"party_id": party, "deleted": False}))


def register(rt: Runtime) -> Any:
    handler = OwnersHandler(rt, TableBatch(rt.tables.lead_owners))
    return handler.declare(rt.topics.lead_owners, "leadstream.owners")


def _as_update(message: Any, topic: str, party: str) -> Any:
    """The claimed update as it was on `lead-updates` (its origin headers say where), so its
    dead letter names the original topic, partition and offset."""
    origin = origin_of(message)
    partition, offset = message.partition, message.offset
    if origin is not None:
        src, offset = origin
        digits = "".join(ch for ch in src if ch.isdigit())
        partition = int(digits) if digits else partition
    headers = [(k, v) for k, v in headers_list(message.headers)
               if k not in (OP, ORIGIN, ORIGIN_OFFSET)]
    return SimpleNamespace(topic=topic, partition=partition, offset=offset,
                           key=party.encode(), value=message.value, headers=headers)
