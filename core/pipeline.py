"""One step per input record, shared by `simulate` and the streaming agents, and `Pipeline`,
the in-memory composition of those steps that `simulate` and the tests run.

The streaming job runs the same `handle_*` functions with state loaded from and written to
RocksDB tables; `Pipeline` keeps the same state in dicts. That is what makes their outputs equal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from core import assignment as asg
from core import report as rep
from core import timeline as tl
from core.lead_updates import LeadOwner, OwnerLookup, apply_lead_update, parse_lead_update
from core.matching import MatchDecision, match_interaction
from core.processing import UnknownLead, apply_lead_event
from core.validation import InvalidRecord, parse_interaction
from models.records import (
    JSON,
    Interaction,
    Lead,
    LeadEvent,
    LeadEventKind,
    Link,
    Outcome,
    OutcomeCode,
)
from rules.compiled import Rules
from state.memory import MemoryTable
from state.party import PartyState
from state.store import PartyStore
from state.types import KeyValue

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
    # a lead update for a lead the party does not have, without an owner lookup: the
    # streaming job asks its lead-owners table and handles the update again (agents/owners.py)
    claim: bool = False


def rejected(err: InvalidRecord, rules: Rules) -> Outcome:
    return Outcome(err.interaction_id, OutcomeCode.REJECTED, err.party_id,
                   rules_version=rules.version, reason=err.reason)


def handle_interaction(raw: Raw, rules: Rules, load: StateLoader,
                       now: float | None = None) -> Handled:
    """Validate, then match against the party's state. A bad record gives REJECTED.
    `now`: the wall clock when handled, for the future-skew check (None: no check)."""
    try:
        it = parse_interaction(raw, rules, now)
    except InvalidRecord as err:
        return Handled(err.party_id, None, [rejected(err, rules)], error=err)
    decision: MatchDecision = match_interaction(load(it.party_id), it, rules)
    # matching attaches each lead event's links itself (`with_links` is for imports)
    return Handled(it.party_id, decision.state, decision.outcomes, decision.links,
                   decision.lead_events)


def with_links(events: list[LeadEvent], links: list[Link],
               it: Interaction | None = None) -> list[LeadEvent]:
    """The lead events with the links made to their lead attached (the lead's timeline);
    `it`, the interaction being handled, fills its own link's attribution if missing."""
    if not links:
        return events
    by_lead: dict[str, list[JSON]] = {}
    for lk in links:
        doc = lk.to_json()
        if it is not None and lk.interaction_id == it.interaction_id:
            for k, v in (("interaction_type", it.type), ("source_code", it.source_code),
                         ("occurred_at", it.occurred_at)):
                if doc.get(k) is None:
                    doc[k] = v
        by_lead.setdefault(lk.sales_lead_id, []).append(doc)
    return [replace(ev, links=tuple(by_lead[ev.lead_id]))
            if ev.lead_id in by_lead and ev.kind is not LeadEventKind.DELETED else ev
            for ev in events]


def handle_lead_update(raw: Raw, rules: Rules, load: StateLoader,
                       now: float | None = None,
                       owner_of: OwnerLookup | None = None) -> Handled:
    """Edit, delete, move or close a known lead, or register an external one (CONTRACT §5,
    §10); InvalidRecord (another party's lead included) goes to `error`. `owner_of`: who a
    lead id the party does not have belongs to (None: `claim`, the streaming job asks)."""
    try:
        doc = parse_lead_update(raw, rules, now)
        decision = apply_lead_update(load(doc["party_id"]), doc, rules, owner_of)
    except InvalidRecord as err:
        return Handled(err.party_id, None, error=err)
    if decision.claim:
        return Handled(doc["party_id"], None, claim=True)
    return Handled(doc["party_id"], decision.state, lead_events=decision.lead_events)


@dataclass(frozen=True, slots=True)
class ImportHead:
    """First half of an import: either its final result, or the party it goes to."""

    result: dict[str, Any] | None = None  # ERROR, or DUPLICATE of an OSR seen for another party
    record: Any = None                     # the validated ImportRecord
    party_id: str | None = None
    code: str | None = None                # the reason code of an ERROR result


def handle_import_head(raw: Raw, osr_party: Callable[[str], str | None],
                       rules: Rules | None = None, now: float | None = None) -> ImportHead:
    """Validate and check the Original System Reference (CONTRACT §6 step 1-2).

    `osr_party(key)` returns the party an OSR was first imported for (the caller's store,
    spanning parties and batches; the caller records new ones). An OSR seen for the same
    party goes on: the party step recognises it (its lead exists), so a replay is idempotent.
    """
    from core.imports import (
        InvalidImport,
        import_lead_id,
        osr_duplicate,
        parse_import,
        resolve_party,
    )

    try:
        rec = parse_import(raw, rules, now)
    except InvalidImport as exc:
        return ImportHead(result=exc.to_result().to_json(), code=exc.code)
    party_id, _ = resolve_party(rec)
    first = osr_party(_osr(rec))
    if first is not None and first != party_id:
        return ImportHead(result=osr_duplicate(rec, import_lead_id(rec), first).to_json())
    return ImportHead(record=rec, party_id=party_id)


def _osr(rec: Any) -> str:
    from core.imports import osr_key

    return osr_key(rec)


def handle_party_import(raw: Raw, rules: Rules,
                        load: StateLoader) -> tuple[Handled, dict[str, Any]]:
    """Second half, on the party's owner: dedupe against its leads, or create the lead."""
    from core.imports import import_into_party, parse_import, resolve_party

    rec = parse_import(raw)
    party_id, _ = resolve_party(rec)
    decision = import_into_party(load(party_id), rec, party_id, rules)
    return (Handled(party_id, decision.state, links=decision.links,
                    lead_events=with_links(decision.lead_events, decision.links)),
            decision.result.to_json())


NEW_LEAD = (LeadEventKind.CREATED, LeadEventKind.IMPORTED, LeadEventKind.REGISTERED)


def apply_lead_change(old: Lead | None, ev: LeadEvent, rules: Rules,
                      territories: dict[str, asg.TerritoryState]) -> Lead | None:
    """Processing (§3), then assignment (§11) over the territories' state, synchronously;
    None: the lead is gone (a deletion gives its member's load back).

    A creation event for a lead already known is a repeat (a batch delivered again): the lead
    stays as it is, as the processing agent skips it."""
    if old is not None and ev.kind in NEW_LEAD:
        return old
    new: Lead | None
    if ev.kind is LeadEventKind.ASSIGNED:
        if old is None:
            raise UnknownLead(ev.lead_id, ev.kind.value)
        new = asg.apply_assigned(old, ev, rules)
    else:
        new = apply_lead_event(old, ev, rules)  # None: the lead is deleted
    return asg.follow(old, new, territories, rules, ev.at, asg.trigger_of(ev.kind),
                      external=ev.kind is LeadEventKind.REGISTERED)


@dataclass(slots=True)
class Emitted:
    outcomes: list[Outcome] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    leads: list[Lead] = field(default_factory=list)
    import_results: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    code: str | None = None  # the reason code of `error` (what the job's dead letter carries)
    deleted: list[str] = field(default_factory=list)  # lead ids: tombstones on `leads`


class PartyStates(Mapping[str, PartyState]):
    """`Pipeline.parties`: party id -> its PartyState, decoded from the stored header (the
    parts are read through the pipeline's part store), like the streaming job loads it."""

    def __init__(self, pipe: Pipeline) -> None:
        self._pipe = pipe

    def __getitem__(self, party_id: str) -> PartyState:
        raw = self._pipe.headers.get(party_id.encode())
        if raw is None:
            raise KeyError(party_id)
        return PartyState.from_bytes(raw, self._pipe.parts.get)

    def __iter__(self) -> Iterator[str]:
        return (k.decode() for k, _ in self._pipe.headers.scan(b""))

    def __len__(self) -> int:
        return len(self._pipe.headers.scan(b""))


class Pipeline:
    """Matching + processing over in-memory state: the offline twin of the streaming job.

    Party state is stored by the same `PartyStore` as the streaming job's (state/store.py), over
    the in-memory back end: `headers` (the `parties` table) and `parts` (the `party-parts`
    table). `simulate` stores each step at once; between `begin_batch()` and `end_batch()` steps
    are stored as the matching agent stores a batch, so tests can kill it between the phases
    (tests/state/test_crash_gap.py), and a party is repaired the first time it is loaded after
    a kill, as the agent does in a new epoch.
    """

    def __init__(self, rules: Rules, history: bool = False,
                 tables: tuple[KeyValue, KeyValue] | None = None) -> None:
        """`history`: keep each lead's history for `timeline` (tests; `simulate` and `rules
        diff` show no timelines and do not pay for it). `tables`: the party store's (headers,
        parts) back end; default: in memory (`state.memory`)."""
        self.rules = rules
        self.keep_history = history
        self.headers: KeyValue
        self.parts: KeyValue
        self.headers, self.parts = tables or (MemoryTable(), MemoryTable())
        #: batch mode's repair epoch: a new one after each kill (a restart), as the worker's
        self.epoch = 1
        #: parts rewritten by repairs (tests read it)
        self.repaired: list[bytes] = []
        self.states = PartyStore(self.headers, self.parts, epoch=lambda: self.epoch,
                                 batched=False, on_repair=self.repaired.extend)
        self.leads: dict[str, Lead] = {}
        #: lead id -> its party, deleted leads included (CONTRACT §10 ownership of ids)
        self.lead_owners: dict[str, LeadOwner] = {}
        #: lead id -> its history (core/timeline.py), until the lead is deleted
        self.history: dict[str, list[JSON]] = {}
        self.osr_party: dict[str, str] = {}
        #: territory id -> its assignment state: global, leads assigned in input order (§11)
        self.territories: dict[str, asg.TerritoryState] = {}
        self.report: rep.Report = rep.initialize()

    @property
    def parties(self) -> PartyStates:
        return PartyStates(self)

    def state(self, party_id: str) -> PartyState:
        """The party's state as the next step sees it (`PartyStore.load`)."""
        return self.states.load(party_id)

    def begin_batch(self) -> None:
        """Batch mode, as the matching agent runs (agents/runtime.py): until `end_batch`,
        states are loaded and stored through the batch's own writes."""
        assert not self.states.batched, "a batch is running"
        self.states.forget()
        self.states.batched = True

    def end_batch(self, *, killed: bool = False) -> None:
        """Store the batch's writes in the store's phases. `killed`: the worker dies after the
        first; its local state is rebuilt from the changelogs, which hold that one only."""
        assert self.states.batched, "no batch is running"
        self.states.batched = False
        self.states.end_batch(killed=killed)
        if killed:
            self.epoch += 1  # the restarted worker's

    def reload(self) -> None:
        """Forget the decoded states: the next steps load every party from the stored bytes
        (a restart)."""
        self.states.forget()

    def _commit(self, h: Handled) -> Emitted:
        if h.party_id is not None and h.state is not None:
            self.states.store(h.party_id, h.state)
        rep.agg_all(self.report, h.outcomes)
        em = Emitted(h.outcomes, h.links, error=h.error.reason if h.error else None,
                     code=h.error.code if h.error else None)
        em.leads = self.apply_lead_events(h.lead_events, em.deleted)
        return em

    def apply_lead_events(self, events: list[LeadEvent],
                          deleted: list[str] | None = None) -> list[Lead]:
        """Run processing for each event; returns the lead snapshots to emit (and adds the
        ids of deleted leads to `deleted`)."""
        out = []
        for ev in events:
            old = self.leads.get(ev.lead_id)
            lead = apply_lead_change(old, ev, self.rules, self.territories)
            if self.keep_history:
                tl.append_history(self.history.setdefault(ev.lead_id, []),
                                  tl.history_entries(old, lead, ev))
            if lead is None:
                self.leads.pop(ev.lead_id, None)
                self.history.pop(ev.lead_id, None)
                self.lead_owners[ev.lead_id] = LeadOwner(ev.party_id, deleted=True)
                if deleted is not None:
                    deleted.append(ev.lead_id)
                continue
            self.leads[ev.lead_id] = lead
            self.lead_owners.setdefault(ev.lead_id, LeadOwner(lead.party_id))
            out.append(lead)
        return out

    def timeline(self, lead_id: str, include_attributes: bool = False) -> JSON | None:
        """`GET /leads/{lead_id}` offline: the lead and its timeline (None: no such lead)."""
        lead = self.leads.get(lead_id)
        if lead is None:
            return None
        return tl.build_timeline(lead, self.history.get(lead_id, ()), include_attributes)

    def interaction(self, raw: Raw, now: float | None = None) -> Emitted:
        return self._commit(handle_interaction(raw, self.rules, self.state, now))

    def feed(self, feed: str, raw: Raw, now: float | None = None) -> Emitted:
        """A feed record as the feeds agent handles it: mapped and forwarded to matching, or
        REJECTED and dead-lettered (`error`, `code`)."""
        from core.feeds import FeedError, feed_to_interaction

        try:
            doc = feed_to_interaction(feed, raw, self.rules, now)
        except FeedError as err:
            out = [rejected(err, self.rules)]
            rep.agg_all(self.report, out)
            return Emitted(out, error=err.reason, code=err.code)
        return self.interaction(doc, now)

    def lead_update(self, raw: Raw, now: float | None = None) -> Emitted:
        return self._commit(handle_lead_update(raw, self.rules, self.state, now,
                                               self.lead_owners.get))

    def import_record(self, raw: Raw, now: float | None = None) -> Emitted:
        head = handle_import_head(raw, self.osr_party.get, self.rules, now)
        if head.result is not None:
            emitted = Emitted(import_results=[head.result])
            if head.code is not None:
                emitted.error = "; ".join(head.result.get("errors") or [])
                emitted.code = head.code
        else:
            assert head.party_id is not None
            self.osr_party.setdefault(_osr(head.record), head.party_id)
            h, result = handle_party_import(head.record.to_json(), self.rules, self.state)
            emitted = self._commit(h)
            emitted.import_results.append(result)
        rep.agg_import(self.report, emitted.import_results[0])
        for link in emitted.links:
            rep.agg_link(self.report, link)
        return emitted

    def report_result(self) -> rep.Report:
        """The Lead Linking Report of everything handled so far (CONTRACT §12)."""
        return rep.result(self.report, self.rules, self.leads.values())
