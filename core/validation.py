"""Step 1 of matching: turn raw bytes or a mapping into a valid Interaction, or say why not."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import orjson

from models.records import Interaction
from models.timefmt import BadTimestamp, parse_ts
from rules.compiled import Rules

MAX_ID_LEN = 256


class InvalidRecord(ValueError):
    """A record that cannot be processed; `reason` names every problem."""

    def __init__(self, reason: str, interaction_id: str | None = None,
                 party_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.interaction_id = interaction_id
        self.party_id = party_id


def decode_json(raw: bytes | str | Mapping[str, Any]) -> dict[str, Any]:
    """JSON object from bytes/str, or the mapping itself; InvalidRecord otherwise."""
    if isinstance(raw, Mapping):
        return dict(raw)
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRecord(f"not valid JSON: {exc.args[0][:80]}") from None
    if not isinstance(doc, dict):
        raise InvalidRecord(f"not a JSON object: got {type(doc).__name__}")
    return doc


def read_id(doc: Mapping[str, Any], name: str, errors: list[str], required: bool = True,
            max_len: int | None = MAX_ID_LEN) -> str | None:
    """An id-like text field (strings, or integers read as text); problems go to `errors`."""
    v = doc.get(name)
    if type(v) is str and v and (max_len is None or len(v) <= max_len):
        return v  # the common case, decided by the checks below as well
    if v is None or v == "":
        if required:
            errors.append(f"{name}: required")
        return None
    if isinstance(v, bool) or not isinstance(v, str | int):
        errors.append(f"{name}: must be a string")
        return None
    s = str(v)
    if max_len is not None and len(s) > max_len:
        errors.append(f"{name}: longer than {max_len} characters")
        return None
    return s


def _country(doc: dict[str, Any], errors: list[str]) -> str | None:
    v = doc.get("country")
    if v is None or v == "":
        return None
    if not isinstance(v, str) or len(v) != 2 or not v.isascii() or not v.isalpha():
        errors.append(f"country: not an ISO 3166 alpha-2 code: {str(v)[:20]!r}")
        return None
    return v.upper()


def build_interaction(doc: dict[str, Any], rules: Rules) -> Interaction:
    """Validate a decoded record against the contract and the known interaction types."""
    errors: list[str] = []
    interaction_id = read_id(doc, "interaction_id", errors)
    party_id = read_id(doc, "party_id", errors)
    contact_id = read_id(doc, "contact_id", errors, required=False)
    source_code = read_id(doc, "source_code", errors, required=False)
    country = _country(doc, errors)
    itype = doc.get("type")
    if itype is None or itype == "":
        errors.append("type: required")
    elif not isinstance(itype, str):
        errors.append("type: must be a string")
    elif itype not in rules.known_types:
        errors.append(f"type: unknown interaction type {itype[:60]!r}")
    occurred: tuple[str, float, date] | None = None
    if doc.get("occurred_at") is None:
        errors.append("occurred_at: required")
    else:
        try:
            occurred = parse_ts(doc["occurred_at"])
        except BadTimestamp as exc:
            errors.append(str(exc))
    attributes = doc.get("attributes")
    if attributes is None:
        attributes = {}
    elif not isinstance(attributes, dict):
        errors.append("attributes: must be an object")
    if errors or occurred is None:
        raise InvalidRecord("; ".join(errors), interaction_id, party_id)
    assert interaction_id is not None and party_id is not None and isinstance(itype, str)
    return Interaction(
        interaction_id=interaction_id, party_id=party_id, type=itype,
        occurred_at=occurred[0], ts=occurred[1], day_ordinal=occurred[2].toordinal(),
        contact_id=contact_id, country=country, source_code=source_code,
        attributes=attributes,
    )


def parse_interaction(raw: bytes | str | Mapping[str, Any], rules: Rules) -> Interaction:
    """Decode and validate; raises InvalidRecord with every problem found."""
    doc = decode_json(raw)
    try:
        return build_interaction(doc, rules)
    except InvalidRecord:
        raise
    except Exception as exc:  # defensive: a record must never crash the caller
        raise InvalidRecord(f"invalid record: {type(exc).__name__}") from None
