"""The Interaction Matching Engine (CONTRACT §2): one interaction against one party's state.

`match_interaction` is a pure function: (state, interaction, rules) -> new state and the
records to emit. The streaming job and `simulate` both call it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core import window as win
from core.linking import choose_lead
from core.scoring import score_interaction
from models.records import (
    Interaction,
    Lead,
    LeadEvent,
    LeadEventKind,
    Link,
    Origin,
    Outcome,
    OutcomeCode,
    short_hash,
)
from rules.compiled import Rules
from state.party import LeadRef, PartyState, PendingEntry

BEYOND_HORIZON = "older than the lookback behind the party's newest interaction"


@dataclass(slots=True)  # a transient result (not frozen: a frozen __init__ costs ~4x)
class MatchDecision:
    state: PartyState
    outcomes: list[Outcome] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    lead_events: list[LeadEvent] = field(default_factory=list)


def lead_id_for(party_id: str, trigger_interaction_id: str) -> str:
    """A lead created by interactions is named after its party and triggering interaction."""
    return "L-" + short_hash(party_id, trigger_interaction_id, n=16)


def _is_duplicate(state: PartyState, interaction_id: str) -> bool:
    """Seen within the lookback, pending in the window, or linked to one of the party's leads:
    the id has a record (one part read)."""
    return state.knows(interaction_id)


def _remembered(state: PartyState, it: Interaction, rules: Rules) -> PartyState:
    d = state.edit(it.party_id)
    d.remember(it.interaction_id, it.ts, rules.lookback_seconds)
    return d.freeze()


def _simple(state: PartyState, it: Interaction, rules: Rules, code: OutcomeCode,
            remember: bool = True) -> MatchDecision:
    out = Outcome(it.interaction_id, code, it.party_id, rules_version=rules.version,
                  interaction_type=it.type, source_code=it.source_code,
                  occurred_at=it.occurred_at)
    return MatchDecision(_remembered(state, it, rules) if remember else state, [out])


def create_lead(entries: tuple[PendingEntry, ...], trigger: PendingEntry, party_id: str,
                rules: Rules) -> Lead:
    """A new lead from the window's interactions (CONTRACT §2.8); processing runs later."""
    ordered = sorted(entries, key=lambda e: (e.ts, e.seq))
    top = max(ordered, key=lambda e: (e.score, e.ts, e.seq))
    attributes: dict[str, object] = {}
    for e in ordered:
        attributes.update(e.attributes)
    return Lead(
        lead_id=lead_id_for(party_id, trigger.interaction_id),
        party_id=party_id,
        status=rules.default_status,
        created_at=trigger.occurred_at,
        created_ts=trigger.ts,
        contact_id=trigger.contact_id,
        interaction_score=win.result(entries),
        interaction_ids=[e.interaction_id for e in ordered],
        country=trigger.country,
        source_code=top.source_code,
        attributes=attributes,
        origin=Origin.INTERACTION.value,
        rules_version=rules.version,
    )


def lead_ref(lead: Lead) -> LeadRef:
    return LeadRef(
        lead.lead_id, lead.status, lead.created_at, lead.created_ts, lead.contact_id,
        lead.source_code, lead.country, lead.attributes, lead.updated_at,
    )


def match_interaction(state: PartyState, it: Interaction, rules: Rules) -> MatchDecision:
    """Steps 2-8 of CONTRACT §2 for a validated interaction."""
    if _is_duplicate(state, it.interaction_id):
        return _simple(state, it, rules, OutcomeCode.DUPLICATE, remember=False)
    if it.party_id in rules.guests:
        return _simple(state, it, rules, OutcomeCode.GUEST)
    if it.type not in rules.enabled_types:
        return _simple(state, it, rules, OutcomeCode.TYPE_DISABLED)
    scored = score_interaction(it, rules)
    if scored is None:
        return _simple(state, it, rules, OutcomeCode.NO_RULE)

    version = rules.version
    lookback = rules.lookback_seconds
    iid, pid, itype, src, at = (it.interaction_id, it.party_id, it.type, it.source_code,
                                it.occurred_at)
    score, rs_id = scored.score, scored.rule_set_id
    if state.watermark is not None and it.ts < state.watermark - lookback:
        # Older than the ids we remember (the lookback behind the party's newest interaction):
        # it cannot be told from a forgotten duplicate, so it neither links nor joins.
        return MatchDecision(_remembered(state, it, rules), [Outcome(
            iid, OutcomeCode.EXPIRED, pid, score, None, rs_id, version, BEYOND_HORIZON,
            interaction_type=itype, source_code=src, occurred_at=at)])
    lead = choose_lead(state.leads, it, rules) if state.leads else None
    if lead is not None:
        d = state.edit(pid)
        d.remember(iid, it.ts, lookback, lead_id=lead.lead_id)
        link = Link(iid, lead.lead_id, score, rs_id, version, at, party_id=pid,
                    interaction_type=itype, source_code=src, occurred_at=at)
        # the lead event carries its links (the lead's timeline), as `with_links` would
        return MatchDecision(
            d.freeze(),
            [Outcome(iid, OutcomeCode.LINKED, pid, score, lead.lead_id, rs_id, version,
                     interaction_type=itype, source_code=src, occurred_at=at)],
            [link],
            [LeadEvent(LeadEventKind.LINKED, lead.lead_id, pid, at, version,
                       interaction_id=iid, score=score, links=(link.to_json(),))],
        )

    entry = PendingEntry(iid, at, it.ts, state.seq, score, rs_id, version, it.contact_id,
                         it.country, src, it.attributes, itype)
    d = state.edit(pid)
    step = win.agg_stored(d, entry, lookback, rules.threshold)
    outcomes = [
        Outcome(e.interaction_id, OutcomeCode.EXPIRED, pid, e.score, None, e.rule_set_id,
                e.rules_version, was_pending=True, interaction_type=e.type,
                source_code=e.source_code, occurred_at=e.occurred_at)
        for e in step.expired
    ]
    if step.entry_expired or not step.fired:
        code = OutcomeCode.EXPIRED if step.entry_expired else OutcomeCode.PENDING
        outcomes.append(Outcome(iid, code, pid, score, None, rs_id, version,
                                interaction_type=itype, source_code=src, occurred_at=at))
        d.remember(iid, it.ts, lookback, entry=None if step.entry_expired else entry)
        return MatchDecision(d.freeze(), outcomes)

    new = create_lead(step.fired, entry, pid, rules)
    links = []
    for e in sorted(step.fired, key=lambda e: (e.ts, e.seq)):
        trigger = e is entry
        outcomes.append(Outcome(e.interaction_id, OutcomeCode.LINKED, pid, e.score,
                                new.lead_id, e.rule_set_id, e.rules_version,
                                created_lead=True, was_pending=not trigger,
                                interaction_type=e.type, source_code=e.source_code,
                                occurred_at=e.occurred_at, lead_source_code=new.source_code))
        links.append(Link(e.interaction_id, new.lead_id, e.score, e.rule_set_id,
                          e.rules_version, at, party_id=pid, interaction_type=e.type,
                          source_code=e.source_code, occurred_at=e.occurred_at))
        if not trigger:
            d.mark_linked(e.interaction_id, new.lead_id, pending=False)
    event = LeadEvent(LeadEventKind.CREATED, new.lead_id, pid, at, version, lead=new,
                      links=tuple(lk.to_json() for lk in links))
    d.remember(iid, it.ts, lookback, lead_id=new.lead_id)
    d.leads = (*d.leads, lead_ref(new))
    return MatchDecision(d.freeze(), outcomes, links, [event])
