"""Step 6 of matching: choose the open lead an interaction links to (CONTRACT §2.6)."""

from __future__ import annotations

from models.records import Interaction
from rules.compiled import Rules
from state.party import LeadRef


def link_candidates(leads: tuple[LeadRef, ...], it: Interaction, rules: Rules) -> list[LeadRef]:
    """Open leads created no earlier than occurred_at - lookback (and same contact, for B2B)."""
    earliest = it.ts - rules.lookback_seconds
    same_contact = rules.b2b_contact and it.contact_id is not None
    return [
        lr for lr in leads
        if lr.status in rules.open_statuses
        and lr.created_ts >= earliest
        and (not same_contact or lr.contact_id == it.contact_id)
    ]


def choose_lead(leads: tuple[LeadRef, ...], it: Interaction, rules: Rules) -> LeadRef | None:
    """Furthest along the pipeline, then newest created_at, then smallest lead_id."""
    candidates = link_candidates(leads, it, rules)
    if not candidates:
        return None
    rank = rules.status_rank
    return min(candidates, key=lambda lr: (-rank.get(lr.status, -1), -lr.created_ts, lr.lead_id))
