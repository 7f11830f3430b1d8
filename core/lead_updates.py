"""Lead updates from the sales system (CONTRACT §5): move a lead along the pipeline, close it,
or register a lead leadstream does not know yet (origin EXTERNAL)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from core.assignment import manual_event
from core.lead_update_fields import validate_lead_update
from core.matching import lead_ref
from core.processing import merge_attributes
from core.validation import (
    LEAD_DELETED,
    LEAD_OTHER_PARTY,
    UNKNOWN_LEAD,
    InvalidRecord,
    decode_json,
)
from models.records import Lead, LeadEvent, LeadEventKind, Origin
from models.timefmt import parse_ts
from rules.compiled import Rules
from state.party import LeadRef, PartyState


@dataclass(frozen=True, slots=True)
class UpdateDecision:
    state: PartyState
    lead_events: list[LeadEvent] = field(default_factory=list)
    ignored: str | None = None  # why nothing changed (stale update), for logs and metrics
    # the lead is not the party's and no owner lookup was given: the streaming job asks the
    # lead-owners table (agents/owners.py) and handles the update again with its answer
    claim: bool = False


@dataclass(frozen=True, slots=True)
class LeadOwner:
    """Who a lead id belongs to, across parties (CONTRACT §10 ownership of ids)."""

    party_id: str
    deleted: bool = False


#: lead id -> its owner, or None when no party has it
OwnerLookup = Callable[[str], LeadOwner | None]


class LeadOfOtherParty(InvalidRecord):
    """An update naming a lead that belongs to another party: changes nothing."""

    def __init__(self, party_id: str | None) -> None:
        super().__init__("lead belongs to another party", None, party_id, LEAD_OTHER_PARTY)


class LeadDeleted(InvalidRecord):
    """An update naming a lead its party deleted: a deleted lead stays deleted."""

    def __init__(self, party_id: str | None) -> None:
        super().__init__("lead_id: the lead was deleted", None, party_id, LEAD_DELETED)


#: fields of a lead update that edit a known lead beside `status` (CONTRACT §10); `owner`
#: is an assignment by hand (core/assignment.py)
EDIT_FIELDS = ("country", "source_code", "contact_id")


def parse_lead_update(raw: bytes | str | Mapping[str, Any], rules: Rules,
                      now: float | None = None) -> dict[str, Any]:
    """Decode and type-check a lead update (or an input lead): core/lead_update_fields.py.
    Returns the normalised document; InvalidRecord (with its reason code) otherwise."""
    return validate_lead_update(decode_json(raw), rules, now)


def external_lead(doc: dict[str, Any]) -> Lead:
    """A lead registered from outside; fields not given take the contract's defaults."""
    return Lead.from_json({**doc, "origin": Origin.EXTERNAL.value,
                           "updated_at": doc.get("updated_at")})


def apply_lead_update(state: PartyState, doc: dict[str, Any], rules: Rules,
                      owner_of: OwnerLookup | None = None) -> UpdateDecision:
    """Apply a validated update (CONTRACT §5, §10).

    A lead the party has: an edit (EDITED event, when the update carries an editable field),
    a deletion (`deleted: true`: DELETED, the lead leaves the party's leads, so no interaction
    links to it again) or a status change (STATUS). A lead the party does not have: `owner_of`
    says whose it is; another party's: `LeadOfOtherParty`; one the party deleted:
    `LeadDeleted`; nobody's: registered (origin EXTERNAL; without created_at: InvalidRecord).
    Without `owner_of` the decision only says `claim` (the streaming job asks its owners
    table first). An update older than the lead's last one changes nothing."""
    lead_id, party_id = doc["lead_id"], doc["party_id"]
    known = state.lead(lead_id)
    if known is None:
        if owner_of is None:
            return UpdateDecision(state, claim=True)
        owner = owner_of(lead_id)
        if owner is not None and owner.party_id != party_id:
            raise LeadOfOtherParty(party_id)
        if owner is not None and owner.deleted:
            raise LeadDeleted(party_id)
        return _register(state, doc, rules)
    at = doc.get("updated_at") or known.updated_at or known.created_at
    if (known.updated_at and doc.get("updated_at")
            and parse_ts(doc["updated_at"])[1] < parse_ts(known.updated_at)[1]):
        return UpdateDecision(state, [], ignored="stale: older than the lead's last update")
    status = doc.get("status")
    d = state.edit(party_id)
    if doc.get("deleted") is True:
        d.leads = tuple(lr for lr in state.leads if lr.lead_id != lead_id)
        return UpdateDecision(d.freeze(), [
            LeadEvent(LeadEventKind.DELETED, lead_id, party_id, at, rules.version)])
    changes: dict[str, Any] = {k: doc[k] for k in EDIT_FIELDS if k in doc}
    if isinstance(doc.get("attributes"), dict):
        changes["attributes"] = doc["attributes"]
    d.leads = tuple(_edited_ref(lr, status, doc.get("updated_at"), changes)
                    if lr.lead_id == lead_id else lr for lr in state.leads)
    if changes:
        event = LeadEvent(LeadEventKind.EDITED, lead_id, party_id, at, rules.version,
                          status=status, changes=changes)
    else:
        if status is None:
            status = known.status
        event = LeadEvent(LeadEventKind.STATUS, lead_id, party_id, at, rules.version,
                          status=status)
    events = [event]
    if "owner" in doc:  # assigned by hand (CONTRACT §11), after the edit
        events.append(manual_event(lead_id, party_id, doc["owner"], at, rules.version))
    return UpdateDecision(d.freeze(), events)


def _edited_ref(lr: LeadRef, status: str | None, updated_at: str | None,
                changes: dict[str, Any]) -> LeadRef:
    """The party's view of the lead (matching, import dedupe) after the update."""
    attrs = lr.attributes
    patch = changes.get("attributes")
    if patch:
        attrs = merge_attributes(attrs, patch)
    return replace(
        lr, status=status or lr.status, updated_at=updated_at or lr.updated_at,
        contact_id=changes.get("contact_id", lr.contact_id),
        source_code=changes.get("source_code", lr.source_code),
        country=changes.get("country", lr.country), attributes=attrs,
    )


def registration_error(doc: Mapping[str, Any]) -> InvalidRecord | None:
    """Why an update for a lead nobody has cannot register it (None: it can)."""
    party_id = doc.get("party_id")
    if doc.get("created_at") is None:
        return InvalidRecord("lead_id: unknown lead and no created_at to register it",
                             None, party_id, UNKNOWN_LEAD)
    if doc.get("deleted") is True:
        return InvalidRecord("deleted: the lead is not known", None, party_id)
    return None


def _register(state: PartyState, doc: dict[str, Any], rules: Rules) -> UpdateDecision:
    """A lead nobody has, made known with origin EXTERNAL (processed or kept as given:
    `processing.process_external_leads`, core/processing.py)."""
    lead_id, party_id = doc["lead_id"], doc["party_id"]
    err = registration_error(doc)
    if err is not None:
        raise err
    lead = external_lead(doc)
    event = LeadEvent(LeadEventKind.REGISTERED, lead_id, party_id,
                      doc.get("updated_at") or lead.created_at, rules.version, lead=lead)
    d = state.edit(party_id)
    d.leads = (*d.leads, lead_ref(lead))
    for iid in lead.interaction_ids:  # given ids are linked: DUPLICATE from now on
        d.mark_linked(iid, lead_id)
    return UpdateDecision(d.freeze(), [event])
