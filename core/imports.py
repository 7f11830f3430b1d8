"""Import Sales Lead (CONTRACT §6) as pure functions: validate, match the customer, dedupe, create.

A caller (`core.pipeline`: the imports agent, `simulate --imports`) runs, for each raw record:

1. `parse_import(raw)`; `InvalidImport` -> `error_result(exc)` (ERROR, every message);
2. `osr_key(rec)` in its "already imported" store -> `osr_duplicate(rec, ...)` (DUPLICATE,
   reason ORIG_SYSTEM_REFERENCE); this store spans parties and batches;
3. `resolve_party(rec)` -> party_id; load that party's `PartyState`;
4. `import_into_party(state, rec, party_id, rules)` -> `ImportDecision`: keep `.state`, emit
   `.result`, send `.lead_events` (one IMPORTED event on SUCCESS) to lead processing, and on
   SUCCESS add `osr_key(rec)` to the store.

Nothing here reads the clock: time is the record's `created_at`, so a replay gives the same
results and the same ids.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from core.validation import (
    FUTURE_TIMESTAMP,
    ID_TOO_LONG,
    INVALID_JSON,
    INVALID_RECORD,
    INVALID_TIMESTAMP,
    MAX_ATTRIBUTE_DEPTH,
    TOO_DEEP,
    Problems,
    attribute_code_errors,
    future_ok,
    json_type,
    too_deep,
)
from models.imports import DuplicateReason, ImportRecord, ImportResult, ImportResultCode
from models.records import JSON, Lead, LeadEvent, LeadEventKind, Link, Origin, short_hash
from models.timefmt import BadTimestamp, parse_ts
from models.wire import MAX_ID_LEN, IdProblem, NotJsonObject, id_or_none, id_text, json_object
from rules.compiled import Rules
from state.party import Draft, LeadRef, PartyState

MAX_NAME_LEN = 360  # HZ_PARTIES.PARTY_NAME

# ---------------------------------------------------------------------------------------------
# Validation


class InvalidImport(ValueError):
    """A record that cannot be imported; `errors` holds every problem, one message each.

    The identifying fields are kept when they could be read, so the ERROR result can name the
    record.
    """

    def __init__(
        self,
        errors: list[str],
        import_interface_id: str | None = None,
        source_system: str | None = None,
        orig_system_reference: str | None = None,
        batch_id: str | None = None,
        code: str = INVALID_RECORD,
    ) -> None:
        super().__init__("; ".join(errors))
        self.errors = list(errors)
        self.code = code  # the reason code of the first problem (dead letters, metrics)
        self.import_interface_id = import_interface_id
        self.source_system = source_system
        self.orig_system_reference = orig_system_reference
        self.batch_id = batch_id

    def to_result(self, line: int | None = None) -> ImportResult:
        return ImportResult(
            import_interface_id=self.import_interface_id, source_system=self.source_system,
            orig_system_reference=self.orig_system_reference, batch_id=self.batch_id,
            result=ImportResultCode.ERROR, errors=list(self.errors), line=line,
        )


RawImport = bytes | str | Mapping[str, Any] | InvalidImport


def decode_import(raw: RawImport) -> dict[str, Any]:
    """A JSON object from bytes/str, or the mapping itself; InvalidImport otherwise.

    An InvalidImport (a file row that could not be read) is raised as it is.
    """
    if isinstance(raw, InvalidImport):
        raise raw
    try:
        return json_object(raw)
    except NotJsonObject as exc:
        what = (f"not a JSON object: got {type(exc.value).__name__}"
                if exc.what == "not an object" else exc.what)
        raise InvalidImport([f"(record): {what}"], code=INVALID_JSON) from None


def _text(v: Any, path: str, errors: list[str], *, required: bool,
          max_len: int = MAX_ID_LEN) -> str | None:
    """A string field, stripped; integers are accepted as ids; "" is null."""
    s = id_text(v, max_len, strip=True)
    if type(s) is str:
        return s
    if s is IdProblem.MISSING:
        if required:
            errors.append(f"{path}: required")
    elif s is IdProblem.NOT_TEXT:
        errors.append(f"{path}: must be a string, got {_type_name(v)}")
    elif isinstance(errors, Problems):
        errors.add(ID_TOO_LONG, f"{path}: longer than {max_len} characters")
    else:
        errors.append(f"{path}: longer than {max_len} characters")
    return None


def _country(v: Any, path: str, errors: list[str]) -> str | None:
    if isinstance(v, str):
        v = v.strip()
    if v is None or v == "":
        return None
    if not isinstance(v, str) or len(v) != 2 or not v.isascii() or not v.isalpha():
        errors.append(f"{path}: must be an ISO 3166 alpha-2 code")
        return None
    return v.upper()


def _type_name(v: Any) -> str:
    """`json_type`, except that import errors have always named text (and null) by its Python
    type: "got str" (tests/core/test_imports.py pins the messages)."""
    return type(v).__name__ if v is None or isinstance(v, str) else json_type(v)


def _ident(doc: Mapping[str, Any], name: str) -> str | None:
    """Best effort, for naming a bad record in its ERROR result."""
    s = id_or_none(doc, name, None, strip=True)
    return None if s is None else s[:MAX_ID_LEN]


def parse_import(raw: RawImport, rules: Rules | None = None,
                 now: float | None = None) -> ImportRecord:
    """Validate one §6 record (JSON, or a mapping such as a CSV row); raise InvalidImport.

    The customer may be given as `customer: {name, country}` or flat as `customer_name` /
    `customer_country` (the CSV form). Unknown fields are ignored. With `rules`: attribute
    values outside `processing.attribute_codes` and a `created_at` more than
    `max_future_skew_hours` ahead of `now` are refused (docs/validation.md).
    """
    doc = decode_import(raw)
    errors = Problems()
    iid = _text(doc.get("import_interface_id"), "import_interface_id", errors, required=True)
    source_system = _text(doc.get("source_system"), "source_system", errors, required=True)
    osr = _text(doc.get("orig_system_reference"), "orig_system_reference", errors, required=True)
    batch_id = _text(doc.get("batch_id"), "batch_id", errors, required=False)
    party_bad = len(errors)
    party_id = _text(doc.get("party_id"), "party_id", errors, required=False)
    party_bad = len(errors) - party_bad
    contact_id = _text(doc.get("contact_id"), "contact_id", errors, required=False)
    source_code = _text(doc.get("source_code"), "source_code", errors, required=False)
    source_code = source_code.upper() if source_code is not None else None  # case-blind
    country = _country(doc.get("country"), "country", errors)
    name, cust_country = _customer(doc, errors, need=party_id is None and not party_bad)

    created: tuple[str, float] | None = None
    raw_created = doc.get("created_at")
    if isinstance(raw_created, str):
        raw_created = raw_created.strip()
    if raw_created is None or raw_created == "":
        errors.append("created_at: required")
    else:
        try:
            created = parse_ts(raw_created, "created_at")[:2]
        except BadTimestamp as exc:
            errors.add(INVALID_TIMESTAMP, str(exc))
        if created is not None and rules is not None and not future_ok(created[1], rules, now):
            created = None
            errors.add(FUTURE_TIMESTAMP, "created_at: in the future, more than "
                       f"{rules.profiles.max_future_skew_hours} hours ahead of the current time")

    interaction_id = _text(doc.get("interaction_id"), "interaction_id", errors, required=False)
    interaction_type = _text(doc.get("interaction_type"), "interaction_type", errors,
                             required=False)
    occurred: str | None = None
    raw_occurred = doc.get("occurred_at")
    if isinstance(raw_occurred, str):
        raw_occurred = raw_occurred.strip()
    if raw_occurred is not None and raw_occurred != "":
        if interaction_id is None:
            errors.append("occurred_at: given without interaction_id")
        try:
            occurred = parse_ts(raw_occurred, "occurred_at")[0]
        except BadTimestamp as exc:
            errors.add(INVALID_TIMESTAMP, str(exc))
    if interaction_type is not None and interaction_id is None:
        errors.append("interaction_type: given without interaction_id")

    attributes = doc.get("attributes")
    if attributes is None:
        attributes = {}
    elif not isinstance(attributes, Mapping):
        errors.append(f"attributes: must be an object, got {_type_name(attributes)}")
    elif not all(isinstance(k, str) for k in attributes):
        errors.append("attributes: names must be strings")
    elif too_deep(attributes, MAX_ATTRIBUTE_DEPTH):
        errors.add(TOO_DEEP, f"attributes: nested deeper than {MAX_ATTRIBUTE_DEPTH} levels")
    elif rules is not None:
        attribute_code_errors(attributes, rules, errors)

    if errors or created is None:
        raise InvalidImport(
            errors, _ident(doc, "import_interface_id"), _ident(doc, "source_system"),
            _ident(doc, "orig_system_reference"), _ident(doc, "batch_id"), code=errors.code,
        )
    assert iid is not None and source_system is not None and osr is not None
    return ImportRecord(
        import_interface_id=iid, source_system=source_system, orig_system_reference=osr,
        created_at=created[0], created_ts=created[1], batch_id=batch_id, party_id=party_id,
        customer_name=name, customer_country=cust_country, contact_id=contact_id,
        country=country or cust_country, source_code=source_code,
        attributes=dict(attributes), interaction_id=interaction_id,
        interaction_type=interaction_type.upper() if interaction_type else None,
        occurred_at=occurred,
    )


def _customer(doc: Mapping[str, Any], errors: list[str],
              *, need: bool) -> tuple[str | None, str | None]:
    """(name, country) from `customer` or the flat CSV columns; both needed without party_id."""
    cust = doc.get("customer")
    if cust is not None and not isinstance(cust, Mapping):
        errors.append(f"customer: must be an object with name and country, got {_type_name(cust)}")
        return None, None
    forms = []
    if cust:
        forms.append(("customer.name", "customer.country", cust.get("name"), cust.get("country")))
    if doc.get("customer_name") is not None or doc.get("customer_country") is not None:
        forms.append(("customer_name", "customer_country", doc.get("customer_name"),
                      doc.get("customer_country")))
    if not forms:
        if need:
            errors.append("party_id: required (or customer.name with customer.country)")
        return None, None
    before = len(errors)
    parsed = []
    for n_path, c_path, raw_name, raw_country in forms:
        name = _text(raw_name, n_path, errors, required=False, max_len=MAX_NAME_LEN)
        if name is not None and not normalise_name(name):
            errors.append(f"{n_path}: has no letters or digits")
        parsed.append((n_path, c_path, name, _country(raw_country, c_path, errors)))
    if len(parsed) == 2 and len(errors) == before and parsed[0][2:] != parsed[1][2:]:
        errors.append("customer: customer and customer_name/customer_country disagree")
    n_path, c_path, name, country = parsed[0]
    if need and len(errors) == before:
        if name is None:
            errors.append(f"party_id: required (or {n_path} with {c_path})")
        elif country is None:
            errors.append(f"{c_path}: required with {n_path} when there is no party_id")
    return name, country


# ---------------------------------------------------------------------------------------------
# Customer matching and the original system reference

# Dropped inside words ("O'Brien" = "OBrien", "A.C.M.E." = "ACME"); other punctuation and
# symbols separate words ("Acme-Widgets" = "Acme Widgets", "AT&T" = "AT & T").
_JOINERS = frozenset("'.\u2019\u2018`\u00b4\u02bc")


def normalise_name(name: str) -> str:
    """NFKC, casefold, punctuation and symbols as above, runs of spaces collapsed."""
    out: list[str] = []
    for ch in unicodedata.normalize("NFKC", name).casefold():
        if ch in _JOINERS:
            continue
        cat = unicodedata.category(ch)
        out.append(" " if cat[0] in "PSZC" else ch)
    return " ".join("".join(out).split())


def customer_key(name: str, country: str) -> str:
    """The matching key of a customer: `CC:normalised name`, e.g. `US:acme widgets inc`."""
    return f"{country.strip().upper()}:{normalise_name(name)}"


def resolve_party(rec: ImportRecord) -> tuple[str, bool]:
    """(party_id, derived): the given party_id, else `P-` + a hash of the customer key.

    The same customer (up to case, Unicode form, punctuation and spacing) always gets the
    same party id, whether or not that party has been seen before.
    """
    if rec.party_id is not None:
        return rec.party_id, False
    if rec.customer_name is None or rec.customer_country is None:  # parse_import prevents it
        raise ValueError("import record has neither party_id nor customer name and country")
    return "P-" + short_hash(customer_key(rec.customer_name, rec.customer_country)), True


def osr_key(rec: ImportRecord) -> str:
    """Key of the "already imported" store: source system + original system reference."""
    return "OSR-" + short_hash(rec.source_system, rec.orig_system_reference, n=32)


def import_lead_id(rec: ImportRecord) -> str:
    """The lead an import creates: one per source system + original system reference."""
    return "L-IMP-" + short_hash(rec.source_system, rec.orig_system_reference)


def _result(rec: ImportRecord, code: ImportResultCode, lead_id: str | None,
            party_id: str | None, reason: str | None = None) -> ImportResult:
    return ImportResult(
        import_interface_id=rec.import_interface_id, source_system=rec.source_system,
        orig_system_reference=rec.orig_system_reference, batch_id=rec.batch_id, result=code,
        lead_id=lead_id, party_id=party_id, reason=reason,
    )


def osr_duplicate(rec: ImportRecord, lead_id: str | None, party_id: str | None) -> ImportResult:
    """Step 1: DUPLICATE of the lead the first import of this OSR created."""
    return _result(rec, ImportResultCode.DUPLICATE, lead_id, party_id,
                   DuplicateReason.ORIG_SYSTEM_REFERENCE.value)


def error_result(exc: InvalidImport, line: int | None = None) -> ImportResult:
    return exc.to_result(line)


# ---------------------------------------------------------------------------------------------
# Dedupe and lead creation


@dataclass(frozen=True, slots=True)
class ImportDecision:
    state: PartyState          # the party's state after the import (the input is never mutated)
    result: ImportResult
    lead_events: list[LeadEvent]
    links: list[Link] = field(default_factory=list)  # the prompting interaction's link (§6)


def import_link(rec: ImportRecord, lead_id: str, party_id: str) -> Link:
    """The link an import naming an interaction makes [AML_INTERACTION_LEADS with
    IMPORT_INTERFACE_ID]: no score, no rule set; created at the import's `created_at`; the
    source code is the import's (the campaign that prompted it)."""
    assert rec.interaction_id is not None
    return Link(
        rec.interaction_id, lead_id, None, None, None, rec.created_at,
        import_interface_id=rec.import_interface_id, party_id=party_id,
        interaction_type=rec.interaction_type, source_code=rec.source_code,
        occurred_at=rec.occurred_at, batch_id=rec.batch_id,
    )


def _link_draft(d: Draft, rec: ImportRecord, lead_id: str) -> bool:
    """Whether the import's interaction gets a link to `lead_id`: not when it is already
    linked to that lead. An id the party does not know, or only saw (no lead, not pending),
    is marked linked to the lead, so a later arrival of it is DUPLICATE and a replay of the
    import makes no second link; a pending id or one linked to another lead keeps its state."""
    iid = rec.interaction_id
    if iid is None:
        return False
    known = d.record(iid)
    if known is not None and known[3] == lead_id:
        return False
    if known is None or (known[3] is None and known[4] is None):
        d.mark_linked(iid, lead_id)
    return True


def _canon(v: Any) -> Any:
    """Dedupe comparison form: null/""/[] are null; strings ignore case and outer spaces;
    numeric strings equal numbers; a list is the set of its elements (one element = scalar)."""
    if isinstance(v, list | tuple | set | frozenset):
        elems = frozenset(c for c in (_canon(x) for x in v) if c is not None)
        if not elems:
            return None
        return next(iter(elems)) if len(elems) == 1 else elems
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        s = v.strip()
        if not s:
            return None
        try:
            return float(s.replace(",", ""))
        except ValueError:
            return unicodedata.normalize("NFKC", s).casefold()
    return orjson.dumps(v, option=orjson.OPT_SORT_KEYS, default=str)


def _record_value(rec: ImportRecord, name: str, rules: Rules) -> Any:
    own: JSON = {**rec.fields(), "status": rules.config.profiles.default_lead_status}
    v = own.get(name)
    return rec.attributes.get(name) if v is None else v


def find_duplicate(state: PartyState, rec: ImportRecord, rules: Rules) -> LeadRef | None:
    """Step 3: the newest lead of the party created within `dedupe_window_days` of the record
    (before or after it, boundary included) and equal on every `dedupe_attributes` field
    (null equals null); ties on created_at: the smallest lead_id."""
    profiles = rules.config.profiles
    window_us = profiles.dedupe_window_days * 86_400_000_000
    wanted = [(a, _canon(_record_value(rec, a, rules))) for a in profiles.dedupe_attributes]
    best: LeadRef | None = None
    for lr in state.leads:
        if abs(round((lr.created_ts - rec.created_ts) * 1_000_000)) > window_us:
            continue
        if any(_canon(lr.value_of(a)) != want for a, want in wanted):
            continue
        if best is None or lr.created_ts > best.created_ts or (
            lr.created_ts == best.created_ts and lr.lead_id < best.lead_id
        ):
            best = lr
    return best


def new_import_lead(rec: ImportRecord, party_id: str, rules: Rules) -> Lead:
    return Lead(
        lead_id=import_lead_id(rec), party_id=party_id,
        status=rules.config.profiles.default_lead_status,
        created_at=rec.created_at, created_ts=rec.created_ts, contact_id=rec.contact_id,
        interaction_score=0, interaction_ids=[], country=rec.country,
        source_code=rec.source_code, attributes=dict(rec.attributes),
        origin=Origin.IMPORT.value, import_interface_id=rec.import_interface_id,
        batch_id=rec.batch_id, rules_version=rules.version,
    )


def import_into_party(state: PartyState, rec: ImportRecord, party_id: str,
                      rules: Rules) -> ImportDecision:
    """Steps 3-4 of §6 for a record whose OSR is new: DUPLICATE (DEDUPE) or a new lead.

    A record whose lead already exists in the party (a replay) is DUPLICATE with reason
    ORIG_SYSTEM_REFERENCE, so the step is idempotent even without the caller's OSR store.
    """
    lead_id = import_lead_id(rec)
    if state.lead(lead_id) is not None:
        return _duplicate(state, rec, party_id, osr_duplicate(rec, lead_id, party_id), rules)
    dup = find_duplicate(state, rec, rules)
    if dup is not None:
        result = _result(rec, ImportResultCode.DUPLICATE, dup.lead_id, party_id,
                         DuplicateReason.DEDUPE.value)
        return _duplicate(state, rec, party_id, result, rules)
    lead = new_import_lead(rec, party_id, rules)
    ref = LeadRef(
        lead.lead_id, lead.status, lead.created_at, lead.created_ts, lead.contact_id,
        lead.source_code, lead.country, dict(lead.attributes), lead.updated_at,
    )
    event = LeadEvent(
        kind=LeadEventKind.IMPORTED, lead_id=lead.lead_id, party_id=party_id,
        at=rec.created_at, rules_version=rules.version, lead=lead,
    )
    d = state.edit(party_id)
    d.leads = (*d.leads, ref)
    links = []
    if _link_draft(d, rec, lead_id):
        assert rec.interaction_id is not None
        lead.interaction_ids.append(rec.interaction_id)
        links.append(import_link(rec, lead_id, party_id))
    new_state = d.freeze()
    return ImportDecision(new_state, _result(rec, ImportResultCode.SUCCESS, lead_id, party_id),
                          [event], links)


def _duplicate(state: PartyState, rec: ImportRecord, party_id: str, result: ImportResult,
               rules: Rules) -> ImportDecision:
    """DUPLICATE of an existing lead: its prompting interaction (if any) is linked to that
    lead, and the lead learns the interaction id (a LINKED event with score 0)."""
    lead_id = result.lead_id
    if rec.interaction_id is None or lead_id is None:
        return ImportDecision(state, result, [])
    d = state.edit(party_id)
    if not _link_draft(d, rec, lead_id):
        return ImportDecision(state, result, [])
    event = LeadEvent(
        kind=LeadEventKind.LINKED, lead_id=lead_id, party_id=party_id, at=rec.created_at,
        rules_version=rules.version, interaction_id=rec.interaction_id, score=0,
    )
    return ImportDecision(d.freeze(), result, [event], [import_link(rec, lead_id, party_id)])


# ---------------------------------------------------------------------------------------------
# Batch summary


@dataclass(frozen=True, slots=True)
class ImportCounts:
    total: int = 0
    success: int = 0
    duplicate: int = 0
    error: int = 0
    duplicate_osr: int = 0
    duplicate_dedupe: int = 0

    def to_json(self) -> JSON:
        return {
            "total": self.total, "SUCCESS": self.success, "DUPLICATE": self.duplicate,
            "ERROR": self.error,
            "duplicate_reasons": {
                DuplicateReason.ORIG_SYSTEM_REFERENCE.value: self.duplicate_osr,
                DuplicateReason.DEDUPE.value: self.duplicate_dedupe,
            },
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ImportCounts:
        reasons = d.get("duplicate_reasons") or {}
        return cls(
            total=int(d.get("total", 0)), success=int(d.get("SUCCESS", 0)),
            duplicate=int(d.get("DUPLICATE", 0)), error=int(d.get("ERROR", 0)),
            duplicate_osr=int(reasons.get(DuplicateReason.ORIG_SYSTEM_REFERENCE.value, 0)),
            duplicate_dedupe=int(reasons.get(DuplicateReason.DEDUPE.value, 0)),
        )


class ImportBatch:
    """Counts of import results by result (and duplicate reason): a pure aggregator."""

    @staticmethod
    def initialize() -> ImportCounts:
        return ImportCounts()

    @staticmethod
    def agg(acc: ImportCounts, r: ImportResult) -> ImportCounts:
        code = r.result
        return ImportCounts(
            total=acc.total + 1,
            success=acc.success + (code is ImportResultCode.SUCCESS),
            duplicate=acc.duplicate + (code is ImportResultCode.DUPLICATE),
            error=acc.error + (code is ImportResultCode.ERROR),
            duplicate_osr=acc.duplicate_osr + (
                code is ImportResultCode.DUPLICATE
                and r.reason == DuplicateReason.ORIG_SYSTEM_REFERENCE.value),
            duplicate_dedupe=acc.duplicate_dedupe + (
                code is ImportResultCode.DUPLICATE and r.reason == DuplicateReason.DEDUPE.value),
        )

    @staticmethod
    def merge(a: ImportCounts, b: ImportCounts) -> ImportCounts:
        return ImportCounts(
            a.total + b.total, a.success + b.success, a.duplicate + b.duplicate,
            a.error + b.error, a.duplicate_osr + b.duplicate_osr,
            a.duplicate_dedupe + b.duplicate_dedupe,
        )

    @staticmethod
    def result(acc: ImportCounts) -> JSON:
        return acc.to_json()

    @staticmethod
    def summary_line(acc: ImportCounts) -> str:
        return (
            f"{acc.total} records: {acc.success} SUCCESS, {acc.duplicate} DUPLICATE "
            f"({acc.duplicate_osr} ORIG_SYSTEM_REFERENCE, {acc.duplicate_dedupe} DEDUPE), "
            f"{acc.error} ERROR"
        )

