"""The Interaction Matching Engine (CONTRACT §2): one interaction against one party's state.

`match_interaction` is a pure function: (state, interaction, rules) -> new state and the
records to emit. The streaming job and `simulate` both call it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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


def _dims(it: Interaction) -> dict[str, Any]:
    """The interaction's attribution, carried on its outcomes for the report."""
    return {"interaction_type": it.type, "source_code": it.source_code,
            "occurred_at": it.occurred_at}


def _entry_dims(e: PendingEntry) -> dict[str, Any]:
    return {"interaction_type": e.type, "source_code": e.source_code,
            "occurred_at": e.occurred_at}


def _simple(state: PartyState, it: Interaction, rules: Rules, code: OutcomeCode,
            remember: bool = True) -> MatchDecision:
    out = Outcome(it.interaction_id, code, it.party_id, rules_version=rules.version,
                  **_dims(it))
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
        status=rules.config.profiles.default_lead_status,
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
    if state.watermark is not None and it.ts < state.watermark - lookback:
        # Older than the ids we remember (the lookback behind the party's newest interaction):
        # it cannot be told from a forgotten duplicate, so it neither links nor joins.
        return MatchDecision(_remembered(state, it, rules), [Outcome(
            it.interaction_id, OutcomeCode.EXPIRED, it.party_id, scored.score, None,
            scored.rule_set_id, version, reason=BEYOND_HORIZON, **_dims(it))])
    lead = choose_lead(state.leads, it, rules) if state.leads else None
    if lead is not None:
        d = state.edit(it.party_id)
        d.remember(it.interaction_id, it.ts, lookback, lead_id=lead.lead_id)
        return MatchDecision(
            d.freeze(),
            [Outcome(it.interaction_id, OutcomeCode.LINKED, it.party_id, scored.score,
                     lead.lead_id, scored.rule_set_id, version, **_dims(it))],
            [Link(it.interaction_id, lead.lead_id, scored.score, scored.rule_set_id, version,
                  it.occurred_at, party_id=it.party_id, interaction_type=it.type,
                  source_code=it.source_code, occurred_at=it.occurred_at)],
            [LeadEvent(LeadEventKind.LINKED, lead.lead_id, it.party_id, it.occurred_at, version,
                       interaction_id=it.interaction_id, score=scored.score)],
        )

    entry = PendingEntry(
        it.interaction_id, it.occurred_at, it.ts, state.seq, scored.score, scored.rule_set_id,
        version, it.contact_id, it.country, it.source_code, it.attributes, it.type,
    )
    d = state.edit(it.party_id)
    step = win.agg_stored(d, entry, lookback, rules.config.profiles.interaction_score_threshold)
    outcomes = [
        Outcome(e.interaction_id, OutcomeCode.EXPIRED, it.party_id, e.score, None,
                e.rule_set_id, e.rules_version, was_pending=True, **_entry_dims(e))
        for e in step.expired
    ]
    if step.entry_expired:
        outcomes.append(Outcome(it.interaction_id, OutcomeCode.EXPIRED, it.party_id,
                                scored.score, None, scored.rule_set_id, version, **_dims(it)))
        d.remember(it.interaction_id, it.ts, lookback)
        return MatchDecision(d.freeze(), outcomes)
    if not step.fired:
        outcomes.append(Outcome(it.interaction_id, OutcomeCode.PENDING, it.party_id,
                                scored.score, None, scored.rule_set_id, version, **_dims(it)))
        d.remember(it.interaction_id, it.ts, lookback, entry=entry)
        return MatchDecision(d.freeze(), outcomes)

    new = create_lead(step.fired, entry, it.party_id, rules)
    links = []
    for e in sorted(step.fired, key=lambda e: (e.ts, e.seq)):
        trigger = e is entry
        outcomes.append(Outcome(e.interaction_id, OutcomeCode.LINKED, it.party_id, e.score,
                                new.lead_id, e.rule_set_id, e.rules_version,
                                created_lead=True, was_pending=not trigger,
                                lead_source_code=new.source_code, **_entry_dims(e)))
        links.append(Link(e.interaction_id, new.lead_id, e.score, e.rule_set_id,
                          e.rules_version, it.occurred_at, party_id=it.party_id,
                          interaction_type=e.type, source_code=e.source_code,
                          occurred_at=e.occurred_at))
        if not trigger:
            d.mark_linked(e.interaction_id, new.lead_id, pending=False)
    event = LeadEvent(LeadEventKind.CREATED, new.lead_id, it.party_id, it.occurred_at, version,
                      lead=new)
    d.remember(it.interaction_id, it.ts, lookback, lead_id=new.lead_id)
    d.leads = (*d.leads, lead_ref(new))
    return MatchDecision(d.freeze(), outcomes, links, [event])
