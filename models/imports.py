"""Lead import records (CONTRACT §6) [AS_IMPORT_INTERFACE] and their results."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

JSON = dict[str, Any]


#: Kafka header of a row the import command refused (published so the job records its ERROR)
REFUSED_HEADER = "ls-import-refused"


class ImportResultCode(StrEnum):
    SUCCESS = "SUCCESS"
    DUPLICATE = "DUPLICATE"
    ERROR = "ERROR"


class DuplicateReason(StrEnum):
    ORIG_SYSTEM_REFERENCE = "ORIG_SYSTEM_REFERENCE"  # step 1: same source system + OSR
    DEDUPE = "DEDUPE"                                # step 3: the dedupe rule


@dataclass(frozen=True, slots=True)
class ImportRecord:
    """A validated import record. Strings are stripped; countries are upper case.

    `country` is the lead's country: the record's `country`, else the customer's country.
    """

    import_interface_id: str
    source_system: str
    orig_system_reference: str
    created_at: str
    created_ts: float
    batch_id: str | None = None
    party_id: str | None = None
    customer_name: str | None = None
    customer_country: str | None = None
    contact_id: str | None = None
    country: str | None = None
    source_code: str | None = None
    attributes: JSON = field(default_factory=dict)
    # the interaction that prompted the import (CONTRACT §6): linked to the lead
    interaction_id: str | None = None
    interaction_type: str | None = None
    occurred_at: str | None = None

    def fields(self) -> JSON:
        """The record's own lead fields, looked up before `attributes` (as for a lead)."""
        return {
            "source_code": self.source_code, "country": self.country,
            "contact_id": self.contact_id, "party_id": self.party_id,
        }

    def to_json(self) -> JSON:
        """The canonical §6 record (what the import command publishes on `lead-imports`)."""
        out: JSON = {
            "import_interface_id": self.import_interface_id,
            "source_system": self.source_system,
            "orig_system_reference": self.orig_system_reference,
        }
        if self.batch_id is not None:
            out["batch_id"] = self.batch_id
        if self.party_id is not None:
            out["party_id"] = self.party_id
        if self.customer_name is not None or self.customer_country is not None:
            out["customer"] = {"name": self.customer_name, "country": self.customer_country}
        for k in ("contact_id", "country", "source_code"):
            v = getattr(self, k)
            if v is not None:
                out[k] = v
        out["created_at"] = self.created_at
        if self.attributes:
            out["attributes"] = self.attributes
        for k in ("interaction_id", "interaction_type", "occurred_at"):
            v = getattr(self, k)
            if v is not None:
                out[k] = v
        return out


@dataclass(frozen=True, slots=True)
class ImportResult:
    """The result of one import record (topic `lead-import-results`, `import_results.jsonl`).

    SUCCESS: `lead_id` is the new lead. DUPLICATE: `lead_id` is the existing lead and `reason`
    says why (ORIG_SYSTEM_REFERENCE or DEDUPE). ERROR: `errors` holds every problem found.
    `line` (1-based, input file line) is set by file readers and emitted only when set.
    """

    import_interface_id: str | None
    source_system: str | None
    orig_system_reference: str | None
    batch_id: str | None
    result: ImportResultCode
    lead_id: str | None = None
    party_id: str | None = None
    reason: str | None = None
    errors: list[str] = field(default_factory=list)
    line: int | None = None

    def to_json(self) -> JSON:
        out: JSON = {
            "import_interface_id": self.import_interface_id,
            "source_system": self.source_system,
            "orig_system_reference": self.orig_system_reference,
            "batch_id": self.batch_id,
            "result": self.result.value,
            "lead_id": self.lead_id,
            "party_id": self.party_id,
            "reason": self.reason,
            "errors": list(self.errors),
        }
        if self.line is not None:
            out["line"] = self.line
        return out

    @classmethod
    def from_json(cls, d: JSON) -> ImportResult:
        return cls(
            import_interface_id=d.get("import_interface_id"),
            source_system=d.get("source_system"),
            orig_system_reference=d.get("orig_system_reference"),
            batch_id=d.get("batch_id"),
            result=ImportResultCode(d["result"]),
            lead_id=d.get("lead_id"),
            party_id=d.get("party_id"),
            reason=d.get("reason"),
            errors=list(d.get("errors") or []),
            line=d.get("line"),
        )
