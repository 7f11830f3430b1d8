"""One step per input record, shared by `simulate` and the streaming agents, and `Pipeline`,
the in-memory composition of those steps that `simulate` and the tests run.

The streaming job runs the same `handle_*` functions with state loaded from and written to
RocksDB tables; `Pipeline` keeps the same state in dicts. That is what makes their outputs equal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from core import report as rep
from core.lead_updates import apply_lead_update, parse_lead_update
from core.matching import MatchDecision, match_interaction
from core.processing import apply_lead_event
from core.validation import InvalidRecord, parse_interaction
from models.records import Lead, LeadEvent, Link, Outcome, OutcomeCode
from models.state import PartyState
from rules.compiled import Rules

Raw = bytes | str | Mapping[str, Any]
StateLoader = Callable[[str], PartyState]


@dataclass(slots=True)
class Handled:
    """The result of one input record: new party state (None: unchanged) and what to emit."""

    party_id: str | None
    state: PartyState | None = None
    outcomes: list[Outcome] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    lead_events: list[LeadEvent] = field(default_factory=list)
    error: InvalidRecord | None = None


def rejected(err: InvalidRecord, rules: Rules) -> Outcome:
    return Outcome(err.interaction_id, OutcomeCode.REJECTED, err.party_id,
                   rules_version=rules.version, reason=err.reason)


def handle_interaction(raw: Raw, rules: Rules, load: StateLoader) -> Handled:
    """Validate, then match against the party's state. A bad record gives REJECTED."""
    try:
        it = parse_interaction(raw, rules)
    except InvalidRecord as err:
        return Handled(err.party_id, None, [rejected(err, rules)], error=err)
    decision: MatchDecision = match_interaction(load(it.party_id), it, rules)
    return Handled(it.party_id, decision.state, decision.outcomes, decision.links,
                   decision.lead_events)


def handle_lead_update(raw: Raw, rules: Rules, load: StateLoader) -> Handled:
    """Move/close a known lead or register an external one; InvalidRecord goes to `error`."""
    try:
        doc = parse_lead_update(raw, rules)
        decision = apply_lead_update(load(doc["party_id"]), doc, rules)
    except InvalidRecord as err:
        return Handled(err.party_id, None, error=err)
    return Handled(doc["party_id"], decision.state, lead_events=decision.lead_events)


@dataclass(slots=True)
class Emitted:
    outcomes: list[Outcome] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    leads: list[Lead] = field(default_factory=list)
    import_results: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


class Pipeline:
    """Matching + processing over in-memory state: the offline twin of the streaming job."""

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self.parties: dict[str, PartyState] = {}
        self.leads: dict[str, Lead] = {}
        self.imported: set[str] = set()
        self.report: rep.Report = rep.initialize()

    def state(self, party_id: str) -> PartyState:
        return self.parties.get(party_id) or PartyState()

    def _commit(self, h: Handled) -> Emitted:
        if h.party_id is not None and h.state is not None:
            self.parties[h.party_id] = h.state
        rep.agg_all(self.report, h.outcomes)
        return Emitted(h.outcomes, h.links, self.apply_lead_events(h.lead_events),
                       error=h.error.reason if h.error else None)

    def apply_lead_events(self, events: list[LeadEvent]) -> list[Lead]:
        """Run processing for each event; returns the lead snapshots to emit."""
        out = []
        for ev in events:
            lead = apply_lead_event(self.leads.get(ev.lead_id), ev, self.rules)
            self.leads[ev.lead_id] = lead
            out.append(lead)
        return out

    def interaction(self, raw: Raw) -> Emitted:
        return self._commit(handle_interaction(raw, self.rules, self.state))

    def lead_update(self, raw: Raw) -> Emitted:
        return self._commit(handle_lead_update(raw, self.rules, self.state))

    def import_record(self, raw: Raw) -> Emitted:
        from core.imports import handle_import  # the import flow is optional for matching

        h, result = handle_import(raw, self.rules, self.state, self.imported)
        emitted = self._commit(h)
        emitted.import_results.append(result)
        rep.agg_import(self.report, result["result"])
        return emitted
