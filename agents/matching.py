"""Matching agent: the one owner of each party's state.

One agent reads `interactions`, `lead-updates` and `leadstream-party-imports`, three topics
keyed by party_id with the same partition count, so Faust's assignor gives partition *n* of
all three (and of the `parties` table changelog) to the same worker: every decision reads and
writes only local state, and a party's records are handled one at a time in arrival order.

Per record: `rules = holder.current` once; load the party's `PartyState` (its header from the
`parties` table, window segments and seen ids from `party-parts` on demand, both through the
batch's `TableBatch`, so a batch sees its own earlier writes); if the state already applied
this record (`state.applied(source, offset)`, or the origin a forwarded record came from) it is
a redelivery: skip it, emit nothing. Else call the core (`core.pipeline.handle_interaction` /
`handle_lead_update` / `handle_party_import`), SEND the outputs (outcomes, links, lead events,
import results, dead letters), and only THEN write the new state with the record's progress. In
batch terms (agents/runtime.py): the outputs of the whole batch are handed to the producer
before its table writes are flushed.

Why this is idempotent under at-least-once delivery:
- Faust flushes the producer before it commits source offsets
  (faust/transport/consumer.py `_commit_offsets`), so a committed record's outputs are in Kafka.
- A crash after the outputs were sent but before the state write: the record is delivered
  again, the state does not show it, the core recomputes the same outputs from the same state
  (ids are derived from input ids: lead, link, outcome keys), and downstream upserts by key.
- A crash after the state write but before the commit: the record is delivered again, the
  state shows it as applied (the progress lives in the same table value as the state it
  guards, written in the same put), so it is skipped and nothing is emitted again.
- A rebalance moves the party with its table partition; the new owner restores the state,
  progress included, from the changelog before it consumes.
A hard kill (SIGKILL, OOM): local RocksDB writes are immediate while this record's outputs may
still sit in the producer's buffer, so the local state can be ahead of the outputs. The worker
therefore drops its local tables after a stop that was not clean and rebuilds them from the
changelogs (job/worker.py). A batch's party headers are sent only after the broker has
acknowledged its outputs and part writes (agents/runtime.py), so a header in the changelog never
stands for outputs that were lost, with one broker or several.
A kill between those two phases leaves a big party's parts (records and index pages under their
own keys, rewritten in place; state/party.py) ahead of its header in the changelog. Each
stored part value keeps, with a tag, its content at the header stored for good before its
batch, so the rebuilt state reads exactly as its header says; the records delivered again
are decided again in the same order and rewrite those parts before any header gets past
their tag, whatever the batch boundaries (tests/core/test_crash_gap.py). For that the agent
tells the state which headers its running batch wrote (`in_batch`: they carry the batch base)
and gives it the value before the batch of a part the batch deleted (`dropped`).
That argument needs the records delivered again to be decided as before; a rules reload
between the kill and the redelivery, or a party's lead updates and party imports arriving
interleaved otherwise with its interactions (one order per topic, none across topics), can
make a change skip a part the lost batch wrote, which would then show once a header passes
its tag. So the first load of a party in a new repair epoch (`Runtime.epoch`, drawn at start
and at every assignment; the epoch is kept in the headers this worker writes) scans the
party's stored parts and sets back those ahead of its header (`lost_part_repairs`), before
the record is decided; the repairs go with the batch's part puts, deletions included (what
they delete no stored header uses). tests/streaming/test_lost_batch_repair.py.
Part deletions go in a third phase, once the headers are acknowledged: a kill before then
leaves parts no header uses (garbage in the changelog, never read), never a header missing
a part.
SIGTERM is clean: Faust stops the agents, flushes and commits.

Records whose key does not place them on their party's partition (a producer that keys
differently or uses another partitioner) are re-sent, with origin headers, to the party's
partition (murmur2, as Kafka's Java client and aiokafka) and handled there.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from agents.handler import AgentHandler
from agents.owners import CLAIM, DELETE, GRANTED, OP, OWN
from agents.runtime import Drain, Runtime, origin_of
from core.imports import InvalidImport
from core.lead_updates import LeadOwner
from core.pipeline import Handled, handle_interaction, handle_lead_update, handle_party_import
from models.records import LeadEventKind
from models.timefmt import BadTimestamp, parse_ts
from ops import metrics
from state.party import PartyState
from state.store import write_phases
from streaming.codecs import dumps, header, loads_object, party_of
from tables.batch import TableBatch
from tables.party_kv import PartyStores

log = logging.getLogger("leadstream.agents.matching")

INTERACTION, LEAD_UPDATE, PARTY_IMPORT = "interaction", "lead_update", "party_import"
NEW_LEAD = (LeadEventKind.CREATED, LeadEventKind.IMPORTED, LeadEventKind.REGISTERED)


def _nobody(lead_id: str) -> LeadOwner | None:
    """The owners agent granted the update: no other party has the lead id."""
    return None


class MatchingHandler(AgentHandler):
    """Decides a party's interactions, lead updates and party imports against its state in
    the `parties` (headers) and `party-parts` (parts) tables."""

    agent = "matching"

    def __init__(self, rt: Runtime, parties: TableBatch, parts: TableBatch) -> None:
        super().__init__(rt)
        self.parties, self.parts = parties, parts
        self.stores = PartyStores(parties, parts, epoch=lambda: rt.epoch,
                                  on_repair=self.repaired)
        names = self.names
        self.kind_of = {names.interactions: INTERACTION, names.lead_updates: LEAD_UPDATE,
                        names.party_imports: PARTY_IMPORT}

    def phases(self) -> Sequence[Sequence[Drain]]:
        # parts with the outputs, then the headers (the commit point) and part deletions: a
        # crash in between leaves parts ahead of their header, which readers ignore
        return [[phase] for phase in write_phases(self.parties, self.parts)]

    @staticmethod
    def repaired(partition: int, keys: list[bytes]) -> None:
        metrics.PARTS_REPAIRED.inc(len(keys))
        log.warning("partition %d: %d part(s) of a party written by a lost batch set back "
                    "to its stored header", partition, len(keys))

    async def on_partitions_assigned(self, sender: Any, assigned: Any = None,
                                     **kwargs: Any) -> None:
        self.rt.new_epoch()  # state recovered from the changelogs may hold a lost batch's parts

    async def handle(self, message: Any, received: float) -> None:
        rt = self.rt
        kind = self.kind_of[message.topic]
        value: bytes = message.value or b""
        doc = loads_object(value)
        party = party_of(doc)
        if party is None and kind == PARTY_IMPORT:
            party = _import_party(doc)
        if party is not None and await rt.sent_home(message, party):
            return
        rules = rt.holder.current
        store = self.stores[message.partition]
        load_state = store.load
        state = load_state(party) if party is not None else None
        source = rt.source(message.topic, message.partition)
        origin = origin_of(message)
        if state is not None and (
            state.applied(source, message.offset)
            or (origin is not None and state.applied(*origin))
        ):
            return  # redelivery: already applied, its outputs were sent before the state

        def load(p: str) -> PartyState:
            return state if (p == party and state is not None) else load_state(p)

        raw: Any = doc if doc is not None else value
        result: dict[str, Any] | None = None
        if kind == INTERACTION:
            h = handle_interaction(raw, rules, load, now=time.time())
        elif kind == LEAD_UPDATE:
            # granted by the owners agent: the lead id is nobody else's (agents/owners.py)
            granted = header(message.headers, GRANTED) is not None
            h = handle_lead_update(raw, rules, load, now=time.time(),
                                   owner_of=_nobody if granted else None)
            if h.claim and doc is not None:  # a lead the party does not have: ask its owner
                await rt.forward(self.names.lead_owners, str(doc["lead_id"]), message,
                                 extra=[(OP, CLAIM.encode())])
                h = Handled(h.party_id, state)  # nothing changes but the progress
        else:
            try:
                h, result = handle_party_import(raw, rules, load)
            except InvalidImport as exc:  # only our imports agent writes here: not expected
                await self.dead_letter(message, "; ".join(exc.errors), "invalid_import")
                return

        await self.emit(message, h, result, received, kind)
        if h.party_id is not None and h.state is not None:
            new = h.state.with_progress(source, message.offset)
            if origin is not None:
                new = new.with_progress(*origin)
            store.store(h.party_id, new)
        if kind == INTERACTION and h.error is None and doc is not None:
            _note_event_time(doc.get("occurred_at"))

    async def emit(self, message: Any, h: Handled, result: dict[str, Any] | None,
                   received: float, kind: str) -> None:
        """Send what deciding the record gave, before the state that says it was decided."""
        rt, names = self.rt, self.names
        if h.outcomes:
            await rt.send_outcomes(h.outcomes)
            if kind == INTERACTION:
                metrics.DECISION_LATENCY.observe(time.perf_counter() - received)
                metrics.INTERACTIONS_HANDLED.inc()
        await rt.send_links(h.links)
        for ev in h.lead_events:
            await rt.send(names.lead_events, ev.party_id.encode(), dumps(ev.to_json()))
            op = OWN if ev.kind in NEW_LEAD else DELETE if ev.kind is LeadEventKind.DELETED \
                else None
            if op is not None:  # who owns the lead id (agents/owners.py)
                await rt.send(names.lead_owners, ev.lead_id.encode(),
                              dumps({"party_id": ev.party_id}), [(OP, op.encode())])
        if result is not None:
            await self.send_import_result(result)
        if h.error is not None:
            await self.dead_letter(message, h.error.reason, h.error.code)


def register(rt: Runtime) -> Any:
    handler = MatchingHandler(rt, TableBatch(rt.tables.parties),
                              TableBatch(rt.tables.party_parts))
    rt.app.on_partitions_assigned.connect(handler.on_partitions_assigned)
    # INTAKE=batch: the records come in the fetched lists; the agent keeps the subscription
    names = rt.topics.names
    handler.intake = rt.intake([names.interactions, names.lead_updates, names.party_imports])
    return handler.declare(rt.topics.matching_sources, "leadstream.matching")


def _import_party(doc: dict[str, Any] | None) -> str | None:
    """The party an import record goes to (given, or derived from the customer)."""
    if doc is None:
        return None
    try:
        from core.imports import parse_import, resolve_party

        return resolve_party(parse_import(doc))[0]
    except Exception:
        return None


def _note_event_time(occurred_at: Any) -> None:
    try:
        ts = parse_ts(occurred_at)[1]
    except BadTimestamp:
        return
    metrics.EVENT_TIME_LAG.set(time.time() - ts)
