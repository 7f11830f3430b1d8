"""Lead updates from the sales system (CONTRACT §5): move a lead along the pipeline, close it,
or register a lead leadstream does not know yet (origin EXTERNAL)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from core.lead_update_fields import validate_lead_update
from core.matching import lead_ref
from core.validation import UNKNOWN_LEAD, InvalidRecord, decode_json
from models.records import Lead, LeadEvent, LeadEventKind, Origin
from models.state import PartyState
from models.timefmt import parse_ts
from rules.compiled import Rules


@dataclass(frozen=True, slots=True)
class UpdateDecision:
    state: PartyState
    lead_events: list[LeadEvent] = field(default_factory=list)
    ignored: str | None = None  # why nothing changed (stale update), for logs and metrics


def parse_lead_update(raw: bytes | str | Mapping[str, Any], rules: Rules,
                      now: float | None = None) -> dict[str, Any]:
    """Decode and type-check a lead update (or an input lead): core/lead_update_fields.py.
    Returns the normalised document; InvalidRecord (with its reason code) otherwise."""
    return validate_lead_update(decode_json(raw), rules, now)


def external_lead(doc: dict[str, Any]) -> Lead:
    """A lead registered from outside; fields not given take the contract's defaults."""
    return Lead.from_json({**doc, "origin": Origin.EXTERNAL.value,
                           "updated_at": doc.get("updated_at")})


def apply_lead_update(state: PartyState, doc: dict[str, Any], rules: Rules) -> UpdateDecision:
    """Apply a validated update. Unknown lead without created_at: InvalidRecord."""
    lead_id, party_id, status = doc["lead_id"], doc["party_id"], doc["status"]
    known = state.lead(lead_id)
    if known is None:
        if doc.get("created_at") is None:
            raise InvalidRecord("lead_id: unknown lead and no created_at to register it",
                                None, party_id, UNKNOWN_LEAD)
        lead = external_lead(doc)
        event = LeadEvent(LeadEventKind.REGISTERED, lead_id, party_id,
                          doc.get("updated_at") or lead.created_at, rules.version, lead=lead)
        d = state.edit(party_id)
        d.leads = (*d.leads, lead_ref(lead))
        for iid in lead.interaction_ids:  # given ids are linked: DUPLICATE from now on
            d.mark_linked(iid, lead_id)
        return UpdateDecision(d.freeze(), [event])
    at = doc.get("updated_at") or known.updated_at or known.created_at
    if (known.updated_at and doc.get("updated_at")
            and parse_ts(doc["updated_at"])[1] < parse_ts(known.updated_at)[1]):
        return UpdateDecision(state, [], ignored="stale: older than the lead's last update")
    leads = tuple(
        replace(lr, status=status, updated_at=doc.get("updated_at") or lr.updated_at)
        if lr.lead_id == lead_id else lr
        for lr in state.leads
    )
    event = LeadEvent(LeadEventKind.STATUS, lead_id, party_id, at, rules.version, status=status)
    d = state.edit(party_id)
    d.leads = leads
    return UpdateDecision(d.freeze(), [event])
