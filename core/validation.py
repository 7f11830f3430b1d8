"""Step 1 of matching: turn raw bytes or a mapping into a valid Interaction, or say why not.

Also the shared pieces every input topic's validation uses (docs/validation.md): reason
codes, ids with a length bound, codes upper-cased when read (CONTRACT §4), bounded nesting,
timestamps that may not run ahead of "now" by more than `profiles.max_future_skew_hours`.
Messages name the field, never its value (values are personal data).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, cast

from models.records import Interaction
from models.timefmt import BadTimestamp, parse_ts
from models.wire import MAX_ID_LEN as MAX_ID_LEN
from models.wire import IdProblem, NotJsonObject, id_text, json_object
from rules.compiled import Rules

MAX_ATTRIBUTE_DEPTH = 16  # the attributes object itself is level 1

# Reason codes (dead-letter `dl-reason-code`, `dead_letters.jsonl` `reason`, metric label).
INVALID_JSON = "invalid_json"            # not JSON, not an object, or nested past the parser
INVALID_RECORD = "invalid_record"        # a field missing or of the wrong JSON type
INVALID_TIMESTAMP = "invalid_timestamp"  # not ISO-8601 with an offset (or epoch, web `ts`)
FUTURE_TIMESTAMP = "future_timestamp"    # more than max_future_skew_hours ahead of now
ID_TOO_LONG = "id_too_long"              # an id or code over MAX_ID_LEN characters
TOO_DEEP = "too_deep"                    # attributes nested deeper than MAX_ATTRIBUTE_DEPTH
UNKNOWN_TYPE = "unknown_type"            # interaction type not in interaction_types
UNMAPPED_FEED_VALUE = "unmapped_feed_value"  # feed outcome/event the `feeds` section lacks
UNKNOWN_STATUS = "unknown_status"        # lead status not in lead_statuses
UNKNOWN_RATING = "unknown_rating"        # rating not in processing.ratings
UNKNOWN_CHANNEL = "unknown_channel"      # channel not in processing.channels
ATTRIBUTE_CODE = "attribute_code"        # attribute value outside processing.attribute_codes
UNKNOWN_LEAD = "unknown_lead"            # lead update for an unknown lead without created_at
LEAD_OTHER_PARTY = "lead_belongs_to_other_party"  # lead update naming another party's lead
LEAD_DELETED = "lead_deleted"            # lead update naming a lead its party deleted
UNKNOWN_TOPIC = "unknown_topic"          # `simulate --events` line with a topic the job lacks

RECORD_CODES = (
    INVALID_JSON, INVALID_RECORD, INVALID_TIMESTAMP, FUTURE_TIMESTAMP, ID_TOO_LONG, TOO_DEEP,
    UNKNOWN_TYPE, UNMAPPED_FEED_VALUE, UNKNOWN_STATUS, UNKNOWN_RATING, UNKNOWN_CHANNEL,
    ATTRIBUTE_CODE, UNKNOWN_LEAD, LEAD_OTHER_PARTY, LEAD_DELETED, UNKNOWN_TOPIC,
)


class InvalidRecord(ValueError):
    """A record that cannot be processed; `reason` names every problem, `code` the first."""

    def __init__(self, reason: str, interaction_id: str | None = None,
                 party_id: str | None = None, code: str = INVALID_RECORD) -> None:
        super().__init__(reason)
        self.reason = reason
        self.interaction_id = interaction_id
        self.party_id = party_id
        self.code = code


class Problems(list[str]):
    """Error messages with the reason code of each; a plain `append` is INVALID_RECORD."""

    def __init__(self) -> None:
        super().__init__()
        self.codes: list[str] = []

    def add(self, code: str, message: str) -> None:
        super().append(message)
        self.codes.append(code)

    def append(self, message: str) -> None:
        self.add(INVALID_RECORD, message)

    @property
    def code(self) -> str:
        return self.codes[0] if self.codes else INVALID_RECORD

    def error(self, interaction_id: str | None = None,
              party_id: str | None = None) -> InvalidRecord:
        return InvalidRecord("; ".join(self), interaction_id, party_id, self.code)


def _add(errors: list[str], code: str, message: str) -> None:
    if isinstance(errors, Problems):
        errors.add(code, message)
    else:
        errors.append(message)


def json_type(v: Any) -> str:
    """The JSON name of a value's type, for messages."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list | tuple):
        return "array"
    if isinstance(v, Mapping):
        return "object"
    return type(v).__name__


def decode_json(raw: bytes | str | Mapping[str, Any]) -> dict[str, Any]:
    """JSON object from bytes/str, or the mapping itself; InvalidRecord otherwise."""
    try:
        return json_object(raw)
    except NotJsonObject as exc:
        what = (f"not a JSON object but {json_type(exc.value)}"
                if exc.what == "not an object" else exc.what)
        raise InvalidRecord(f"(record): {what}", code=INVALID_JSON) from None


def read_id(doc: Mapping[str, Any], name: str, errors: list[str], required: bool = True,
            max_len: int | None = MAX_ID_LEN) -> str | None:
    """An id-like text field (strings, or integers read as text); problems go to `errors`."""
    v = doc.get(name)
    s = id_text(v, max_len)
    if type(s) is str:
        return s
    if s is IdProblem.MISSING:
        if required:
            _add(errors, INVALID_RECORD, f"{name}: required")
    elif s is IdProblem.NOT_TEXT:
        _add(errors, INVALID_RECORD, f"{name}: must be a string, not {json_type(v)}")
    else:
        _add(errors, ID_TOO_LONG, f"{name}: longer than {max_len} characters")
    return None


def read_code(doc: Mapping[str, Any], name: str, errors: list[str],
              required: bool = False) -> str | None:
    """A code (CONTRACT §4: case-blind): a string, upper-cased, at most MAX_ID_LEN long."""
    v = read_text(doc, name, errors, required)
    return None if v is None else v.upper()


def read_text(doc: Mapping[str, Any], name: str, errors: list[str],
              required: bool = False) -> str | None:
    """A string (not a number), at most MAX_ID_LEN long; "" is null."""
    v = doc.get(name)
    if v is None or v == "":
        if required:
            _add(errors, INVALID_RECORD, f"{name}: required")
        return None
    if not isinstance(v, str):
        _add(errors, INVALID_RECORD, f"{name}: must be a string, not {json_type(v)}")
        return None
    if len(v) > MAX_ID_LEN:
        _add(errors, ID_TOO_LONG, f"{name}: longer than {MAX_ID_LEN} characters")
        return None
    return v


def read_country(doc: Mapping[str, Any], errors: list[str], name: str = "country") -> str | None:
    v = doc.get(name)
    if v is None or v == "":
        return None
    if not isinstance(v, str) or len(v) != 2 or not v.isascii() or not v.isalpha():
        _add(errors, INVALID_RECORD, f"{name}: must be an ISO 3166 alpha-2 code")
        return None
    return v.upper()


def too_deep(value: Any, limit: int) -> bool:
    """Whether containers nest more than `limit` levels (a container alone is one level).
    Iterative, so no input reaches Python's recursion limit."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        v, level = stack.pop()
        if isinstance(v, Mapping):
            children: Any = v.values()
        elif isinstance(v, list | tuple):
            children = v
        else:
            continue
        if level > limit:
            return True
        stack.extend((c, level + 1) for c in children if isinstance(c, Mapping | list | tuple))
    return False


def read_attributes(doc: Mapping[str, Any], errors: list[str],
                    name: str = "attributes") -> dict[str, Any] | None:
    """An object whose values nest at most MAX_ATTRIBUTE_DEPTH levels; None when absent."""
    v = doc.get(name)
    if v is None:
        return None
    if not isinstance(v, Mapping):
        _add(errors, INVALID_RECORD, f"{name}: must be an object, not {json_type(v)}")
        return None
    if too_deep(v, MAX_ATTRIBUTE_DEPTH):
        _add(errors, TOO_DEEP, f"{name}: nested deeper than {MAX_ATTRIBUTE_DEPTH} levels")
        return None
    return dict(v)


def attribute_code_errors(attributes: Mapping[str, Any], rules: Rules,
                          errors: list[str], name: str = "attributes") -> None:
    """Values outside `processing.attribute_codes` (CONTRACT §4), by the rules' own check
    (`Rules.attribute_code_error`); null is always allowed (it removes the key in an edit)."""
    if not rules.attribute_codes:
        return
    for attr, value in attributes.items():
        why = rules.attribute_code_error(attr, value)
        if why is not None:
            _add(errors, ATTRIBUTE_CODE, f"{name}.{why}")


def read_time(doc: Mapping[str, Any], name: str, errors: list[str], *, rules: Rules,
              now: float | None, required: bool = True,
              value: Any = None) -> tuple[str, float, date] | None:
    """An ISO-8601 timestamp with offset, not more than the allowed skew ahead of `now`
    (None: no such check)."""
    v = doc.get(name) if value is None else value
    if v is None or v == "":
        if required:
            _add(errors, INVALID_RECORD, f"{name}: required")
        return None
    try:
        parsed = parse_ts(v, name)
    except BadTimestamp as exc:
        _add(errors, INVALID_TIMESTAMP, str(exc))
        return None
    if not future_ok(parsed[1], rules, now):
        _add(errors, FUTURE_TIMESTAMP, f"{name}: in the future, more than "
             f"{rules.profiles.max_future_skew_hours} hours ahead of the current time")
        return None
    return parsed


def future_ok(ts: float, rules: Rules, now: float | None) -> bool:
    return now is None or ts <= now + rules.future_skew_seconds


def _plain_id(v: Any) -> bool:
    return type(v) is str and 0 < len(v) <= MAX_ID_LEN


def _optional_text(v: Any) -> bool:
    return v is None or (type(v) is str and len(v) <= MAX_ID_LEN)


def _clean_interaction(doc: Mapping[str, Any], rules: Rules,
                       now: float | None) -> Interaction | None:
    """`build_interaction` of a record with nothing to report, in one pass of plain checks;
    None when anything is unusual (the full path then decides, and words the problems).
    Every check here is one the full path makes, so both give the same Interaction."""
    iid, pid, itype = doc.get("interaction_id"), doc.get("party_id"), doc.get("type")
    occurred, contact, country = doc.get("occurred_at"), doc.get("contact_id"), doc.get("country")
    source, attributes = doc.get("source_code"), doc.get("attributes")
    if not (_plain_id(iid) and _plain_id(pid) and _plain_id(itype)
            and _optional_text(contact) and _optional_text(source)
            and type(occurred) is str and occurred):
        return None
    itype = cast(str, itype).upper()
    if itype not in rules.known_types:
        return None
    if country is not None and country != "":
        if not (type(country) is str and len(country) == 2 and country.isascii()
                and country.isalpha()):
            return None
        country = country.upper()
    if attributes is not None:
        if type(attributes) is not dict:
            return None
        for v in attributes.values():
            if isinstance(v, Mapping | list | tuple):
                if too_deep(attributes, MAX_ATTRIBUTE_DEPTH):
                    return None
                break
        attributes = dict(attributes)
    try:
        at, ts, day = parse_ts(occurred, "occurred_at")
    except BadTimestamp:
        return None
    if not future_ok(ts, rules, now):
        return None
    return Interaction(cast(str, iid), cast(str, pid), itype, at, ts, day.toordinal(),
                       contact or None, country or None, source.upper() if source else None,
                       attributes or {})


def build_interaction(doc: Mapping[str, Any], rules: Rules, now: float | None = None,
                      names: Mapping[str, str] | None = None) -> Interaction:
    """Validate a decoded record against the contract and the known interaction types.

    `names` renames fields in messages (a feed record's own field names)."""
    clean = _clean_interaction(doc, rules, now)
    if clean is not None:
        return clean
    errors = Problems()
    interaction_id = read_id(doc, "interaction_id", errors)
    party_id = read_id(doc, "party_id", errors)
    itype = read_code(doc, "type", errors, required=True)
    if itype is not None and itype not in rules.known_types:
        errors.add(UNKNOWN_TYPE, "type: not a known interaction type")
    occurred = read_time(doc, "occurred_at", errors, rules=rules, now=now)
    contact_id = read_id(doc, "contact_id", errors, required=False)
    country = read_country(doc, errors)
    source_code = read_code(doc, "source_code", errors)
    attributes = read_attributes(doc, errors)
    if errors or occurred is None:
        if names:
            _rename(errors, names)
        raise errors.error(interaction_id, party_id)
    assert interaction_id is not None and party_id is not None and itype is not None
    return Interaction(
        interaction_id=interaction_id, party_id=party_id, type=itype,
        occurred_at=occurred[0], ts=occurred[1], day_ordinal=occurred[2].toordinal(),
        contact_id=contact_id, country=country, source_code=source_code,
        attributes=attributes or {},
    )


def _rename(errors: Problems, names: Mapping[str, str]) -> None:
    for i, msg in enumerate(errors):
        field, sep, rest = msg.partition(":")
        if sep and field in names:
            errors[i] = f"{names[field]}:{rest}"


def parse_interaction(raw: bytes | str | Mapping[str, Any], rules: Rules,
                      now: float | None = None) -> Interaction:
    """Decode and validate; raises InvalidRecord with every problem found.

    `now` (epoch seconds): the wall clock when handled (`simulate --now`); None skips the
    future check (tests and replays that mean to)."""
    doc = decode_json(raw)
    try:
        return build_interaction(doc, rules, now)
    except InvalidRecord:
        raise
    except Exception as exc:  # defensive: a record must never crash the caller
        raise InvalidRecord(f"(record): cannot be read ({type(exc).__name__})",
                            code=INVALID_RECORD) from None
