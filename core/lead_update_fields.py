"""Typed lead updates (CONTRACT §5, §10): each field of a lead update has the type of the Lead
field of the same name, or the update is refused naming the field (nothing changes).

The result holds only the fields the update carried, normalised (codes upper-cased, integer
ids as text); fields the contract does not know are dropped, so nothing unchecked reaches
the lead. `origin` cannot be set from outside: null or EXTERNAL (what a registered lead gets
anyway) is accepted and dropped, anything else refused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from core.validation import (
    INVALID_RECORD,
    MAX_ATTRIBUTE_DEPTH,
    TOO_DEEP,
    UNKNOWN_CHANNEL,
    UNKNOWN_RATING,
    UNKNOWN_STATUS,
    Problems,
    attribute_code_errors,
    json_type,
    read_attributes,
    read_code,
    read_country,
    read_id,
    read_text,
    read_time,
    too_deep,
)
from rules.compiled import Rules

Doc = Mapping[str, Any]
Reader = Callable[[Doc, str, Problems, Rules, float | None], Any]


def _id(doc: Doc, name: str, errors: Problems, rules: Rules, now: float | None) -> Any:
    return read_id(doc, name, errors, required=False)


def _text(doc: Doc, name: str, errors: Problems, rules: Rules, now: float | None) -> Any:
    return read_text(doc, name, errors)


def _time(doc: Doc, name: str, errors: Problems, rules: Rules, now: float | None) -> Any:
    t = read_time(doc, name, errors, rules=rules, now=now, required=False)
    return None if t is None else t[0]


#: a score beyond this could not be written back as JSON once links add to it
MAX_SCORE = 1e15


def _number(doc: Doc, name: str, errors: Problems, rules: Rules, now: float | None) -> Any:
    v = doc.get(name)
    if v is None:
        return v
    if isinstance(v, bool) or not isinstance(v, int | float):
        errors.add(INVALID_RECORD, f"{name}: must be a number, not {json_type(v)}")
        return None
    if not -MAX_SCORE <= v <= MAX_SCORE:  # also refuses NaN
        errors.add(INVALID_RECORD, f"{name}: out of range (at most {MAX_SCORE:.0e} either way)")
        return None
    return v


def _bool(doc: Doc, name: str, errors: Problems, rules: Rules, now: float | None) -> Any:
    v = doc.get(name)
    if v is None or isinstance(v, bool):
        return v
    errors.add(INVALID_RECORD, f"{name}: must be true, false or null, not {json_type(v)}")
    return None


def _id_list(doc: Doc, name: str, errors: Problems, rules: Rules, now: float | None) -> Any:
    v = doc.get(name)
    if v is None:
        return None
    if not isinstance(v, list):
        errors.add(INVALID_RECORD, f"{name}: must be an array of strings, not {json_type(v)}")
        return None
    out: list[str] = []
    for i, item in enumerate(v):
        if not isinstance(item, str) or not item:
            errors.add(INVALID_RECORD, f"{name}[{i}]: must be a non-empty string")
            return None
        s = read_id({name: item}, name, errors)
        if s is None:
            return None
        out.append(s)
    return out


def _code_in(choices: Callable[[Rules], list[str]], code: str) -> Reader:
    def read(doc: Doc, name: str, errors: Problems, rules: Rules, now: float | None) -> Any:
        v = read_code(doc, name, errors)
        if v is None:
            return None
        allowed = {c.upper(): c for c in choices(rules)}
        if v not in allowed:
            errors.add(code, f"{name}: not one of {', '.join(choices(rules))}")
            return None
        return allowed[v]
    return read


def _status(doc: Doc, name: str, errors: Problems, rules: Rules, now: float | None) -> Any:
    v = read_code(doc, name, errors, required=True)
    if v is not None and v not in rules.status_rank:
        upper = {c.upper(): c for c in rules.status_rank}
        if v in upper:
            return upper[v]
        errors.add(UNKNOWN_STATUS, f"{name}: not a status in lead_statuses")
        return None
    return v


def _country(doc: Doc, name: str, errors: Problems, rules: Rules, now: float | None) -> Any:
    return read_country(doc, errors, name)


def _code(doc: Doc, name: str, errors: Problems, rules: Rules, now: float | None) -> Any:
    return read_code(doc, name, errors)


def _attributes(doc: Doc, name: str, errors: Problems, rules: Rules, now: float | None) -> Any:
    attrs = read_attributes(doc, errors, name)
    if attrs is not None:
        attribute_code_errors(attrs, rules, errors, name)
    return attrs


def _processing(doc: Doc, name: str, errors: Problems, rules: Rules, now: float | None) -> Any:
    v = doc.get(name)
    if v is None:
        return None
    if not isinstance(v, list) or not all(isinstance(x, Mapping) for x in v):
        errors.add(INVALID_RECORD, f"{name}: must be an array of objects")
        return None
    if too_deep(v, MAX_ATTRIBUTE_DEPTH):
        errors.add(TOO_DEEP, f"{name}: nested deeper than {MAX_ATTRIBUTE_DEPTH} levels")
        return None
    return [dict(x) for x in v]


#: Lead field -> how a lead update's value of it is read (CONTRACT §5 Lead, §10 edits).
FIELDS: dict[str, Reader] = {
    "status": _status,
    "created_at": _time,
    "updated_at": _time,
    "contact_id": _id,
    "interaction_score": _number,
    "interaction_ids": _id_list,
    "country": _country,
    "source_code": _code,
    "attributes": _attributes,
    "import_interface_id": _text,
    "batch_id": _text,
    "qualified": _bool,
    "rating": _code_in(lambda r: list(r.config.processing.ratings), UNKNOWN_RATING),
    "channel": _code_in(lambda r: list(r.config.processing.channels), UNKNOWN_CHANNEL),
    "territory_id": _text,
    "owner": _text,
    "processing": _processing,
    "rules_version": _text,
    "deleted": _bool,
}


def validate_lead_update(doc: Doc, rules: Rules, now: float | None = None) -> dict[str, Any]:
    """The typed, normalised update; InvalidRecord (code of the first problem) otherwise."""
    errors = Problems()
    lead_id = read_id(doc, "lead_id", errors)
    party_id = read_id(doc, "party_id", errors)
    out: dict[str, Any] = {"lead_id": lead_id, "party_id": party_id}
    for name, read in FIELDS.items():
        if name in doc or name == "status":
            out[name] = read(doc, name, errors, rules, now)
    origin = doc.get("origin")
    if origin is not None and not (isinstance(origin, str) and origin.upper() == "EXTERNAL"):
        errors.add(INVALID_RECORD, "origin: cannot be set from outside")
    if errors:
        raise errors.error(None, party_id)
    return out
