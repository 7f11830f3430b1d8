"""The records of CONTRACT §5 and the lead events passed from matching to processing."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

Score = int | float
JSON = dict[str, Any]


class OutcomeCode(StrEnum):
    LINKED = "LINKED"
    PENDING = "PENDING"
    EXPIRED = "EXPIRED"
    GUEST = "GUEST"
    DUPLICATE = "DUPLICATE"
    NO_RULE = "NO_RULE"
    TYPE_DISABLED = "TYPE_DISABLED"
    REJECTED = "REJECTED"


class Origin(StrEnum):
    INTERACTION = "INTERACTION"
    IMPORT = "IMPORT"
    EXTERNAL = "EXTERNAL"


def short_hash(*parts: str, n: int = 20) -> str:
    """A stable id from input ids; `\\x1f` keeps ('a','bc') and ('ab','c') apart."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:n]


@dataclass(slots=True, unsafe_hash=True)  # never mutated; not frozen: a frozen __init__ costs ~4x
class Interaction:
    """A validated canonical interaction."""

    interaction_id: str
    party_id: str
    type: str
    occurred_at: str
    ts: float
    day_ordinal: int  # calendar date of occurred_at in its own offset, as date.toordinal()
    contact_id: str | None = None
    country: str | None = None
    source_code: str | None = None
    attributes: JSON = field(default_factory=dict)

    def fields(self) -> JSON:
        """What a rule-set guard sees before attributes."""
        return {
            "country": self.country, "source_code": self.source_code, "type": self.type,
            "party_id": self.party_id, "contact_id": self.contact_id,
            "interaction_id": self.interaction_id,
        }

    def to_json(self) -> JSON:
        out: JSON = {
            "interaction_id": self.interaction_id, "party_id": self.party_id, "type": self.type,
            "occurred_at": self.occurred_at,
        }
        for k in ("contact_id", "country", "source_code"):
            v = getattr(self, k)
            if v is not None:
                out[k] = v
        if self.attributes:
            out["attributes"] = self.attributes
        return out


@dataclass(slots=True)
class Lead:
    """A lead snapshot [AS_SALES_LEADS]."""

    lead_id: str
    party_id: str
    status: str
    created_at: str
    created_ts: float
    contact_id: str | None = None
    interaction_score: Score = 0
    interaction_ids: list[str] = field(default_factory=list)
    country: str | None = None
    source_code: str | None = None
    attributes: JSON = field(default_factory=dict)
    origin: str = Origin.INTERACTION.value
    import_interface_id: str | None = None
    qualified: bool | None = None
    rating: str | None = None
    channel: str | None = None
    processing: list[JSON] = field(default_factory=list)
    rules_version: str | None = None
    updated_at: str | None = None
    batch_id: str | None = None       # the import batch that created it (CONTRACT §5)
    territory_id: str | None = None   # assignment (CONTRACT §11)
    owner: str | None = None

    def fields(self) -> JSON:
        """What processing conditions see before attributes (CONTRACT §3)."""
        return {
            "country": self.country, "source_code": self.source_code, "status": self.status,
            "qualified": self.qualified, "rating": self.rating, "channel": self.channel,
            "interaction_score": self.interaction_score, "party_id": self.party_id,
            "contact_id": self.contact_id, "origin": self.origin,
        }

    def copy(self) -> Lead:
        return Lead(
            self.lead_id, self.party_id, self.status, self.created_at, self.created_ts,
            self.contact_id, self.interaction_score, list(self.interaction_ids), self.country,
            self.source_code, dict(self.attributes), self.origin, self.import_interface_id,
            self.qualified, self.rating, self.channel, list(self.processing),
            self.rules_version, self.updated_at, self.batch_id, self.territory_id, self.owner,
        )

    def to_json(self) -> JSON:
        return {
            "lead_id": self.lead_id, "party_id": self.party_id, "contact_id": self.contact_id,
            "status": self.status, "created_at": self.created_at,
            "interaction_score": self.interaction_score, "interaction_ids": self.interaction_ids,
            "country": self.country, "source_code": self.source_code,
            "attributes": self.attributes, "origin": self.origin,
            "import_interface_id": self.import_interface_id, "batch_id": self.batch_id,
            "qualified": self.qualified, "rating": self.rating, "channel": self.channel,
            "territory_id": self.territory_id, "owner": self.owner,
            "processing": self.processing,
            "rules_version": self.rules_version, "updated_at": self.updated_at,
        }

    @classmethod
    def from_json(cls, d: JSON) -> Lead:
        from models.timefmt import parse_ts

        return cls(
            lead_id=d["lead_id"], party_id=d["party_id"], status=d["status"],
            created_at=d["created_at"], created_ts=parse_ts(d["created_at"], "created_at")[1],
            contact_id=d.get("contact_id"), interaction_score=d.get("interaction_score") or 0,
            interaction_ids=list(d.get("interaction_ids") or []), country=d.get("country"),
            source_code=d.get("source_code"), attributes=dict(d.get("attributes") or {}),
            origin=d.get("origin") or Origin.EXTERNAL.value,
            import_interface_id=d.get("import_interface_id"), qualified=d.get("qualified"),
            rating=d.get("rating"), channel=d.get("channel"),
            processing=list(d.get("processing") or []), rules_version=d.get("rules_version"),
            updated_at=d.get("updated_at"), batch_id=d.get("batch_id"),
            territory_id=d.get("territory_id"), owner=d.get("owner"),
        )


@dataclass(slots=True, unsafe_hash=True)  # never mutated; not frozen: a frozen __init__ costs ~4x
class Link:
    """[AML_INTERACTION_LEADS] an interaction contributed to a lead."""

    interaction_id: str
    sales_lead_id: str
    score: Score | None  # None: a link made by an import (§6)
    rule_set_id: str | None
    rules_version: str | None
    created_at: str
    import_interface_id: str | None = None
    # attribution (CONTRACT §5): the interaction's party, type, source code and own time
    party_id: str | None = None
    interaction_type: str | None = None
    source_code: str | None = None
    occurred_at: str | None = None
    batch_id: str | None = None  # a link made by an import (§6)

    @property
    def interaction_lead_id(self) -> str:
        return "IL-" + short_hash(self.interaction_id, self.sales_lead_id)

    def to_json(self) -> JSON:
        return {
            "interaction_lead_id": self.interaction_lead_id, "interaction_id": self.interaction_id,
            "sales_lead_id": self.sales_lead_id, "import_interface_id": self.import_interface_id,
            "batch_id": self.batch_id, "score": self.score, "rule_set_id": self.rule_set_id,
            "rules_version": self.rules_version, "created_at": self.created_at,
            "party_id": self.party_id, "interaction_type": self.interaction_type,
            "source_code": self.source_code, "occurred_at": self.occurred_at,
        }


@dataclass(slots=True, unsafe_hash=True)  # never mutated; not frozen: a frozen __init__ costs ~4x
class Outcome:
    """What happened to one interaction; PENDING may later be followed by LINKED or EXPIRED."""

    interaction_id: str | None
    outcome: OutcomeCode
    party_id: str | None = None
    score: Score | None = None
    lead_id: str | None = None
    rule_set_id: str | None = None
    rules_version: str | None = None
    reason: str | None = None
    # Internal, not emitted: LINKED into a lead created by this decision (not an existing one);
    # and whether this record supersedes an earlier PENDING (for the linking report).
    created_lead: bool = False
    was_pending: bool = False
    # Internal, not emitted: the interaction's own type, source code and occurred_at (the
    # report's by_interaction_type / by_source_code / by_day), and the source code of the
    # lead this decision created (credited with it in by_source_code).
    interaction_type: str | None = None
    source_code: str | None = None
    occurred_at: str | None = None
    lead_source_code: str | None = None

    def to_json(self) -> JSON:
        return {
            "interaction_id": self.interaction_id, "outcome": self.outcome.value,
            "party_id": self.party_id, "score": self.score, "lead_id": self.lead_id,
            "rule_set_id": self.rule_set_id, "rules_version": self.rules_version,
            "reason": self.reason,
        }


class LeadEventKind(StrEnum):
    CREATED = "CREATED"        # a new lead from interactions: run the engines
    IMPORTED = "IMPORTED"      # a new lead from an import: run the engines
    LINKED = "LINKED"          # an interaction added to an existing lead
    STATUS = "STATUS"          # a lead update moved the lead along the pipeline
    REGISTERED = "REGISTERED"  # an external lead made known (lead-updates / --leads)
    EDITED = "EDITED"          # a lead update changed the lead's data (CONTRACT §10)
    DELETED = "DELETED"        # a lead update deleted the lead: a tombstone on `leads`
    ASSIGNED = "ASSIGNED"      # an owner: set by hand, or decided by a territory (§11)


class Trigger(StrEnum):
    """Why an engine ran (the `trigger` of a `processing` audit entry, CONTRACT §3)."""

    CREATED = "CREATED"
    REEVALUATION = "REEVALUATION"
    EDIT = "EDIT"


@dataclass(slots=True, unsafe_hash=True)  # never mutated; not frozen: a frozen __init__ costs ~4x
class LeadEvent:
    """What matching tells processing; `at` is the evaluation time (event time)."""

    kind: LeadEventKind
    lead_id: str
    party_id: str
    at: str
    rules_version: str | None
    lead: Lead | None = None           # CREATED, IMPORTED, REGISTERED
    interaction_id: str | None = None  # LINKED
    score: Score = 0                   # LINKED
    status: str | None = None          # STATUS, EDITED (None: unchanged)
    # EDITED: the editable fields the update carried (`attributes` is a patch: null removes)
    changes: JSON | None = None
    # CREATED, LINKED, IMPORTED: the links this decision made to the lead (Link.to_json()),
    # kept in the lead's timeline (core/timeline.py)
    links: tuple[JSON, ...] = ()
    assignment: JSON | None = None     # ASSIGNED (core/assignment.py)

    def to_json(self) -> JSON:
        return {
            "kind": self.kind.value, "lead_id": self.lead_id, "party_id": self.party_id,
            "at": self.at, "rules_version": self.rules_version,
            "lead": self.lead.to_json() if self.lead else None,
            "interaction_id": self.interaction_id, "score": self.score, "status": self.status,
            "changes": self.changes, "links": list(self.links),
            "assignment": self.assignment,
        }

    @classmethod
    def from_json(cls, d: JSON) -> LeadEvent:
        return cls(
            kind=LeadEventKind(d["kind"]), lead_id=d["lead_id"], party_id=d["party_id"],
            at=d["at"], rules_version=d.get("rules_version"),
            lead=Lead.from_json(d["lead"]) if d.get("lead") else None,
            interaction_id=d.get("interaction_id"), score=d.get("score") or 0,
            status=d.get("status"), changes=d.get("changes"),
            links=tuple(d.get("links") or ()), assignment=d.get("assignment"),
        )
