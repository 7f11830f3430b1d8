"""Processing agent: lead events -> lead snapshots (CONTRACT §3).

Reads `leadstream-lead-events` (keyed by party_id, so a party's leads live in the partition its
matching state lives in). Table `leads`: lead_id -> ``{"lead": Lead.to_json(), "offset": n,
"history": [...]}``, n the lead-events offset last applied to that lead, history its timeline
entries (core/timeline.py, `GET /leads/{lead_id}`); a deleted lead: ``{"deleted": true,
"offset": n}`` and a tombstone (null value) on `leads`, and later events for it are skipped.
Per event: decode; skip it when its offset
is not above the stored one (redelivery); skip a CREATED / IMPORTED / REGISTERED event for a
lead already stored (the matching agent sent it twice, after a crash before its state write);
else `apply_lead_event(lead, event, holder.current)`, send the snapshot to `leads` (key
lead_id) when it changed, then write the table (through the batch's `TableBatch`). Same
ordering argument as the matching agent: outputs first, then state.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from agents.handler import TableHandler
from agents.runtime import Runtime
from core import assignment as asg
from core.assign_flow import LeadSide
from core.processing import BadLeadEvent, UnknownLead
from core.timeline import append_history, history_entries
from models.records import Lead, LeadEvent, LeadEventKind
from ops import metrics
from streaming.codecs import dumps
from tables.batch import TableBatch

log = logging.getLogger("leadstream.agents.processing")

NEW_LEAD = (LeadEventKind.CREATED, LeadEventKind.IMPORTED, LeadEventKind.REGISTERED)


class ProcessingHandler(TableHandler):
    """Applies lead events to the stored leads and sends the snapshots; `table`: `leads`."""

    agent = "processing"

    async def handle(self, message: Any, received: float) -> None:
        try:
            ev = LeadEvent.from_json(orjson.loads(message.value or b""))
        except Exception as exc:
            await self.dead_letter(message, f"bad lead event: {type(exc).__name__}: {exc}",
                                   "invalid_lead_event")
            return
        rt, leads = self.rt, self.table
        key = ev.lead_id.encode()
        # decoded once per batch, encoded once at its end (a busy lead: many events a batch)
        stored = leads.get_doc(message.partition, key, orjson.loads)
        if stored is not None and (message.offset <= stored["offset"] or ev.kind in NEW_LEAD):
            return  # redelivered, or a repeated creation: the lead is already known
        if stored is not None and stored.get("deleted"):
            if ev.kind is LeadEventKind.ASSIGNED and not (ev.assignment or {}).get("manual"):
                await self.give_back(ev, message)  # a territory's place for it: given back
            return  # otherwise nothing to do for a deleted lead
        old = Lead.from_json(stored["lead"]) if stored is not None else None
        rules = rt.holder.current
        flow = LeadSide(stored, rules, rt.source(message.topic, message.partition),
                        message.offset)
        try:
            new = flow.apply(old, ev)
        except (UnknownLead, BadLeadEvent) as exc:
            await self.dead_letter(message, str(exc), "invalid_lead_event")
            return
        await self.send_requests(flow)  # before the lead that says they were sent
        # a copy: `stored` may be this batch's own document, kept as it is should this
        # record fail before its put
        history = append_history(list((stored or {}).get("history") or ()),
                                 history_entries(old, new, ev))
        if new is None:
            if old is not None:  # deleted: a tombstone on `leads`; the table keeps a marker
                await rt.send(self.names.leads, key, None)
                leads.put_doc(message.partition, key,
                              {"deleted": True, "offset": message.offset}, dumps)
            return
        doc = new.to_json()
        if old is None or doc != old.to_json():
            await rt.send(self.names.leads, key, dumps(doc))
            _count(old, new, ev)
            statuses = rules.config.lead_statuses
            metrics.count_funnel(old, new, {s.code for s in statuses if s.open},
                                 {s.code for s in statuses if s.won})
        leads.put_doc(message.partition, key,
                      {"lead": doc, "offset": message.offset, "history": history,
                       **flow.pending()}, dumps)

    async def give_back(self, ev: LeadEvent, message: Any) -> None:
        """A deleted lead's assignment: the place the territory kept for it is released."""
        side = LeadSide(None, self.rt.holder.current,
                        self.rt.source(message.topic, message.partition), message.offset)
        side.apply(None, ev)
        await self.send_requests(side)

    async def send_requests(self, side: LeadSide) -> None:
        """The assignment requests a lead's step made, each to its territory's owner."""
        for territory_id, request in side.sends:
            await self.rt.send(self.names.assignments, territory_id.encode(), dumps(request))


def register(rt: Runtime) -> Any:
    handler = ProcessingHandler(rt, TableBatch(rt.tables.leads))
    handler.intake = rt.intake([rt.topics.names.lead_events])  # INTAKE=batch
    return handler.declare(rt.topics.lead_events, "leadstream.processing")


def _label(result: Any) -> str:
    if result is None:
        return "none"
    if isinstance(result, bool):
        return "true" if result else "false"
    return str(result)[:32]


def _count_assignment(entry: dict[str, Any]) -> None:
    manual = entry.get("trigger") == asg.MANUAL
    metrics.ASSIGNMENTS.labels(
        territory="none" if manual else str(entry.get("rule_set_id") or "none"),
        result="manual" if manual else asg.outcome_label(entry.get("rule_set_id"),
                                                         entry.get("result"))).inc()


def _count(old: Lead | None, new: Lead, ev: LeadEvent) -> None:
    if old is None:
        metrics.LEADS_CREATED.labels(origin=new.origin).inc()
    if ev.kind is LeadEventKind.ASSIGNED:  # a decision's entry may go before the last ones
        a = ev.assignment or {}
        _count_assignment({"trigger": asg.MANUAL if a.get("manual") else a.get("trigger"),
                           "rule_set_id": a.get("territory_id"), "result": a.get("owner")})
        if old is not None and len(new.processing) > len(old.processing) + 1:
            _count_assignment(new.processing[-1])  # a reassignment decided here (fallback)
        return
    done = len(old.processing) if old is not None else len(ev.lead.processing if ev.lead else [])
    for entry in new.processing[done:]:
        if entry.get("engine") == asg.ENGINE:
            _count_assignment(entry)
            continue
        metrics.PROCESSING_RESULTS.labels(engine=str(entry.get("engine")),
                                          result=_label(entry.get("result"))).inc()
