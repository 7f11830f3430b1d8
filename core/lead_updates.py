"""Lead updates from the sales system (CONTRACT §5): move a lead along the pipeline, close it,
or register a lead leadstream does not know yet (origin EXTERNAL)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from core.matching import lead_ref
from core.validation import InvalidRecord, decode_json, read_id
from models.records import Lead, LeadEvent, LeadEventKind, Origin
from models.state import PartyState
from models.timefmt import BadTimestamp, parse_ts
from rules.compiled import Rules


@dataclass(frozen=True, slots=True)
class UpdateDecision:
    state: PartyState
    lead_events: list[LeadEvent] = field(default_factory=list)
    ignored: str | None = None  # why nothing changed (stale update), for logs and metrics


def _str(doc: dict[str, Any], name: str, errors: list[str], required: bool) -> str | None:
    return read_id(doc, name, errors, required, max_len=None)


def parse_lead_update(raw: bytes | str | Mapping[str, Any], rules: Rules) -> dict[str, Any]:
    """Validate a lead update (or an input lead); returns the decoded document."""
    doc = decode_json(raw)
    errors: list[str] = []
    lead_id = _str(doc, "lead_id", errors, True)
    party_id = _str(doc, "party_id", errors, True)
    status = _str(doc, "status", errors, True)
    if status is not None and status not in rules.status_rank:
        errors.append(f"status: unknown lead status {status[:40]!r}")
    for name in ("updated_at", "created_at"):
        if doc.get(name) is not None:
            try:
                parse_ts(doc[name], name)
            except BadTimestamp as exc:
                errors.append(str(exc))
    if doc.get("attributes") is not None and not isinstance(doc["attributes"], dict):
        errors.append("attributes: must be an object")
    if errors:
        raise InvalidRecord("; ".join(errors), None, party_id)
    doc["lead_id"], doc["party_id"] = lead_id, party_id
    return doc


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
            raise InvalidRecord(f"lead_id: unknown lead {lead_id[:60]!r} and no created_at to "
                                "register it", None, party_id)
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
