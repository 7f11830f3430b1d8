"""Import Sales Lead (CONTRACT §6): validation, customer matching, OSR key, dedupe, creation."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from core.imports import (
    ImportBatch,
    ImportCounts,
    InvalidImport,
    customer_key,
    import_into_party,
    import_lead_id,
    osr_duplicate,
    osr_key,
    parse_import,
    resolve_party,
)
from models.imports import ImportRecord, ImportResult, ImportResultCode
from models.records import LeadEventKind, Origin
from models.timefmt import parse_ts
from rules.compiled import Rules
from rules.loader import load_rules_doc, load_rules_file
from state.party import LeadRef, PartyState

ROOT = Path(__file__).resolve().parents[2]
T0 = "2024-05-01T12:00:00+00:00"
DAY = 86400.0


@pytest.fixture(scope="module")
def rules() -> Rules:
    return load_rules_file(ROOT / "config/rules.yaml")


def _rules_with(**profiles: Any) -> Rules:
    doc = yaml.safe_load((ROOT / "config/rules.yaml").read_text())
    doc["profiles"].update(profiles)
    return load_rules_doc(doc)


@pytest.fixture(scope="module")
def rules2() -> Rules:
    return _rules_with(dedupe_attributes=["source_code", "product_category"])


def raw(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "import_interface_id": "II-1", "source_system": "TRADESHOW",
        "orig_system_reference": "TS-0001", "batch_id": "B1", "party_id": "P100",
        "contact_id": "C1", "country": "us", "source_code": "CEO-SUMMIT", "created_at": T0,
        "attributes": {"product_category": "Monitors", "purchase_amount": 60000},
    }
    for k, v in over.items():
        if v is _DROP:
            base.pop(k, None)
        else:
            base[k] = v
    return base


_DROP = object()


def rec(**over: Any) -> ImportRecord:
    return parse_import(raw(**over))


def errors_of(doc: Any) -> list[str]:
    with pytest.raises(InvalidImport) as ei:
        parse_import(doc)
    return ei.value.errors


def at(days: float, base: str = T0) -> str:
    return (datetime.fromisoformat(base) + timedelta(days=days)).isoformat()


def ref(lead_id: str, days: float, source_code: str | None = "CEO-SUMMIT",
        attributes: dict[str, Any] | None = None) -> LeadRef:
    ts = at(days)
    return LeadRef(lead_id, "NEW", ts, parse_ts(ts)[1], source_code=source_code,
                   attributes=dict(attributes or {}))


# ------------------------------------------------------------------------------ validation


def test_valid_record_is_normalised() -> None:
    r = parse_import(orjson.dumps(raw(import_interface_id="  II-1 ", country="us")))
    assert r.import_interface_id == "II-1"
    assert r.country == "US"
    assert r.created_at == T0 and r.created_ts == parse_ts(T0)[1]
    assert r.attributes == {"product_category": "Monitors", "purchase_amount": 60000}
    assert parse_import(orjson.dumps(raw()).decode()) == parse_import(raw())


@pytest.mark.parametrize("field", [
    "import_interface_id", "source_system", "orig_system_reference", "created_at",
])
@pytest.mark.parametrize("missing", [_DROP, None, "", "   "])
def test_required_field(field: str, missing: Any) -> None:
    assert errors_of(raw(**{field: missing})) == [f"{field}: required"]


@pytest.mark.parametrize("over, expected", [
    ({"party_id": _DROP}, "party_id: required (or customer.name with customer.country)"),
    ({"party_id": None, "customer": {"name": "Acme"}},
     "customer.country: required with customer.name when there is no party_id"),
    ({"party_id": None, "customer": {"country": "US"}},
     "party_id: required (or customer.name with customer.country)"),
    ({"party_id": None, "customer_name": "Acme"},
     "customer_country: required with customer_name when there is no party_id"),
    ({"party_id": None, "customer": {"name": " ... ", "country": "US"}},
     "customer.name: has no letters or digits"),
])
def test_party_or_customer_required(over: dict[str, Any], expected: str) -> None:
    assert errors_of(raw(**over)) == [expected]


@pytest.mark.parametrize("field, value, expected", [
    ("import_interface_id", 12.5, "import_interface_id: must be a string, got number"),
    ("source_system", ["A"], "source_system: must be a string, got array"),
    ("orig_system_reference", {"a": 1}, "orig_system_reference: must be a string, got object"),
    ("orig_system_reference", "x" * 300, "orig_system_reference: longer than 256 characters"),
    ("batch_id", True, "batch_id: must be a string, got boolean"),
    ("party_id", 1.5, "party_id: must be a string, got number"),
    ("contact_id", [], "contact_id: must be a string, got array"),
    ("source_code", {}, "source_code: must be a string, got object"),
    ("country", "USA", "country: must be an ISO 3166 alpha-2 code"),
    ("country", "U1", "country: must be an ISO 3166 alpha-2 code"),
    ("country", 12, "country: must be an ISO 3166 alpha-2 code"),
    ("created_at", "2024-05-01T12:00:00", "created_at: timestamp has no UTC offset"),
    ("created_at", "yesterday", "created_at: not an ISO-8601 timestamp"),
    ("created_at", 1714564800, "created_at: must be an ISO-8601 timestamp with offset"),
    ("attributes", [1, 2], "attributes: must be an object, got array"),
    ("attributes", "x", "attributes: must be an object, got str"),
    ("customer", "Acme", "customer: must be an object with name and country, got str"),
])
def test_bad_type(field: str, value: Any, expected: str) -> None:
    errs = errors_of(raw(**{field: value}))
    assert len(errs) == 1 and errs[0].startswith(expected), errs


def test_every_error_reported_at_once() -> None:
    doc = {
        "source_system": 5.0, "party_id": None, "customer": {"name": "Acme", "country": "USA"},
        "country": "X", "created_at": "2024-13-01T00:00:00Z", "attributes": [],
        "contact_id": False,
    }
    errs = errors_of(doc)
    prefixes = ["import_interface_id: required", "source_system: must be a string",
                "orig_system_reference: required", "contact_id: must be a string",
                "country: must be an ISO", "customer.country: must be an ISO",
                "created_at: not an ISO-8601", "attributes: must be an object"]
    assert len(errs) == len(prefixes), errs
    for p in prefixes:
        assert any(e.startswith(p) for e in errs), (p, errs)


@pytest.mark.parametrize("doc, expected", [
    (b"{not json", "(record): not valid JSON"),
    ("[1, 2]", "(record): not a JSON object: got list"),
    (b'"text"', "(record): not a JSON object: got str"),
])
def test_not_a_json_object(doc: Any, expected: str) -> None:
    errs = errors_of(doc)
    assert len(errs) == 1 and errs[0].startswith(expected)


def test_an_unreadable_row_is_raised_as_it_is() -> None:
    exc = InvalidImport(["(record): not valid UTF-8"], "II-7")
    with pytest.raises(InvalidImport) as ei:
        parse_import(exc)
    assert ei.value is exc


def test_invalid_import_keeps_identity_for_the_error_result() -> None:
    with pytest.raises(InvalidImport) as ei:
        parse_import(raw(created_at="bad", batch_id="B7"))
    res = ei.value.to_result(line=4).to_json()
    assert res["result"] == "ERROR" and res["line"] == 4
    assert (res["import_interface_id"], res["source_system"], res["orig_system_reference"],
            res["batch_id"]) == ("II-1", "TRADESHOW", "TS-0001", "B7")
    assert res["lead_id"] is None and res["errors"][0].startswith("created_at:")


def test_ids_may_be_integers_and_unknown_fields_are_ignored() -> None:
    r = parse_import(raw(import_interface_id=7, party_id=1001, extra_field="x"))
    assert (r.import_interface_id, r.party_id) == ("7", "1001")


@pytest.mark.parametrize("over, name, country, lead_country", [
    ({"party_id": None, "country": None, "customer": {"name": "Acme ", "country": "gb"}},
     "Acme", "GB", "GB"),
    ({"party_id": None, "country": "fr", "customer_name": "Acme", "customer_country": "gb"},
     "Acme", "GB", "FR"),
    ({"customer": {"name": "Acme", "country": "GB"}, "customer_name": "Acme",
      "customer_country": "gb"}, "Acme", "GB", "US"),
])
def test_customer_forms(over: dict[str, Any], name: str, country: str, lead_country: str) -> None:
    r = rec(**over)
    assert (r.customer_name, r.customer_country, r.country) == (name, country, lead_country)


def test_customer_forms_that_disagree() -> None:
    errs = errors_of(raw(customer={"name": "Acme", "country": "GB"}, customer_name="Other"))
    assert errs == ["customer: customer and customer_name/customer_country disagree"]


def test_record_json_round_trip() -> None:
    r = rec(party_id=None, customer={"name": "Acme", "country": "US"}, batch_id=None)
    assert parse_import(orjson.dumps(r.to_json())) == r


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(
    st.sampled_from(["import_interface_id", "source_system", "orig_system_reference",
                     "party_id", "customer", "customer_name", "country", "created_at",
                     "attributes", "batch_id"]),
    st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                 lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(), c, max_size=3),
                 max_leaves=6)))
def test_parse_never_raises_anything_else(doc: dict[str, Any]) -> None:
    try:
        parse_import(doc)
    except InvalidImport as exc:
        assert exc.errors


# ------------------------------------------------------------------------------ customer / OSR


@pytest.mark.parametrize("a, b", [
    ("Acme Widgets", "ACME WIDGETS"),
    ("Acme Widgets", "  acme   widgets "),
    ("Acme Widgets, Inc.", "acme widgets inc"),
    ("Acme-Widgets", "Acme Widgets"),
    ("O'Brien & Sons", "obrien  &  sons"),
    ("A.C.M.E.", "acme"),
    ("Ｆｏｏ　Ｃｏｒｐ", "foo corp"),  # full-width forms and ideographic space (NFKC)
    ("Straße GmbH", "STRASSE GMBH"),  # casefold
    ("Acme\tWidgets\n", "Acme Widgets"),
])
def test_customer_matching_same_party(a: str, b: str) -> None:
    assert customer_key(a, "US") == customer_key(b, "us")
    ra = rec(party_id=None, customer={"name": a, "country": "us"})
    rb = rec(party_id=None, customer_name=b, customer_country="US",
             orig_system_reference="other")
    assert resolve_party(ra) == resolve_party(rb)
    assert resolve_party(ra)[0].startswith("P-") and resolve_party(ra)[1] is True


@pytest.mark.parametrize("a, b", [
    (("Acme", "US"), ("Acme", "GB")),
    (("Acme", "US"), ("Acme Widgets", "US")),
    (("Acme Co", "US"), ("Acmeco", "US")),
])
def test_customer_matching_different_party(a: tuple[str, str], b: tuple[str, str]) -> None:
    assert customer_key(*a) != customer_key(*b)
    ra = rec(party_id=None, customer={"name": a[0], "country": a[1]})
    rb = rec(party_id=None, customer={"name": b[0], "country": b[1]})
    assert resolve_party(ra)[0] != resolve_party(rb)[0]


def test_given_party_id_wins() -> None:
    assert resolve_party(rec(customer={"name": "Acme", "country": "US"})) == ("P100", False)


@given(st.text(alphabet=st.sampled_from("abcdefgXYZ019 ,.-"), min_size=1))
def test_customer_key_ignores_case_and_spacing(name: str) -> None:
    assert customer_key(name, "US") == customer_key("  " + name.upper().replace(" ", "   "), "US")


@pytest.mark.parametrize("over_a, over_b, same", [
    ({}, {"import_interface_id": "II-2", "batch_id": "B2", "party_id": "P9"}, True),
    ({}, {"orig_system_reference": "TS-0002"}, False),
    ({}, {"source_system": "PARTNER"}, False),
    ({"source_system": "a", "orig_system_reference": "bc"},
     {"source_system": "ab", "orig_system_reference": "c"}, False),
])
def test_osr_key(over_a: dict[str, Any], over_b: dict[str, Any], same: bool) -> None:
    assert (osr_key(rec(**over_a)) == osr_key(rec(**over_b))) is same
    assert (import_lead_id(rec(**over_a)) == import_lead_id(rec(**over_b))) is same


def test_osr_duplicate_result() -> None:
    res = osr_duplicate(rec(), "L-1", "P100")
    assert (res.result, res.reason, res.lead_id) == (
        ImportResultCode.DUPLICATE, "ORIG_SYSTEM_REFERENCE", "L-1")


# ------------------------------------------------------------------------------ dedupe


def _state(*refs: LeadRef) -> PartyState:
    return PartyState(leads=tuple(refs))


@pytest.mark.parametrize("lead_days, lead_source, lead_attrs, over, dup", [
    (-10, "CEO-SUMMIT", {}, {}, True),                          # inside the window
    (-30, "CEO-SUMMIT", {}, {}, True),                          # exactly at the boundary
    (-30 - 1 / DAY, "CEO-SUMMIT", {}, {}, False),               # one second outside
    (-31, "CEO-SUMMIT", {}, {}, False),
    (+30, "CEO-SUMMIT", {}, {}, True),                          # created after, within window
    (+30 + 1 / DAY, "CEO-SUMMIT", {}, {}, False),
    (-1, "OTHER", {}, {}, False),                               # differs on source_code
    (-1, "ceo-summit ", {}, {}, True),                          # case and outer spaces ignored
    (-1, None, {}, {"source_code": None}, True),                # null equals null
    (-1, None, {}, {}, False),                                  # null vs value
    (-1, None, {"source_code": "CEO-SUMMIT"}, {}, True),        # attribute when field is null
    (-1, "CEO-SUMMIT", {"product_category": "Laptops"}, {}, True),  # not a dedupe attribute
])
def test_dedupe_default_rules(rules: Rules, lead_days: float, lead_source: str | None,
                              lead_attrs: dict[str, Any], over: dict[str, Any], dup: bool) -> None:
    state = _state(ref("L-OLD", lead_days, lead_source, lead_attrs))
    d = import_into_party(state, rec(**over), "P100", rules)
    if dup:
        assert (d.result.result, d.result.reason, d.result.lead_id) == (
            ImportResultCode.DUPLICATE, "DEDUPE", "L-OLD")
        assert d.state is state and d.lead_events == []
    else:
        assert d.result.result is ImportResultCode.SUCCESS
        assert len(d.state.leads) == 2


@pytest.mark.parametrize("lead_source, lead_attrs, attrs, dup", [
    ("CEO-SUMMIT", {"product_category": "Monitors"}, {"product_category": "Monitors"}, True),
    ("CEO-SUMMIT", {"product_category": "Laptops"}, {"product_category": "Monitors"}, False),
    ("WEBINAR", {"product_category": "Monitors"}, {"product_category": "Monitors"}, False),
    ("CEO-SUMMIT", {}, {}, True),                                              # both null
    ("CEO-SUMMIT", {}, {"product_category": "Monitors"}, False),               # null vs value
    ("CEO-SUMMIT", {"product_category": "MONITORS"}, {"product_category": "monitors"}, True),
    ("CEO-SUMMIT", {"product_category": ["Monitors"]}, {"product_category": "Monitors"}, True),
    ("CEO-SUMMIT", {"product_category": ["Laptops", "Monitors"]},
     {"product_category": ["Monitors", "Laptops"]}, True),                     # lists as sets
    ("CEO-SUMMIT", {"product_category": []}, {}, True),                        # [] is null
    ("CEO-SUMMIT", {"product_category": 5}, {"product_category": "5"}, True),  # numeric string
])
def test_dedupe_on_each_attribute(rules2: Rules, lead_source: str, lead_attrs: dict[str, Any],
                                  attrs: dict[str, Any], dup: bool) -> None:
    state = _state(ref("L-OLD", -5, lead_source, lead_attrs))
    d = import_into_party(state, rec(attributes=attrs), "P100", rules2)
    assert (d.result.result is ImportResultCode.DUPLICATE) is dup
    if dup:
        assert d.result.lead_id == "L-OLD"


def test_newest_duplicate_wins_ties_smallest_lead_id(rules: Rules) -> None:
    state = _state(ref("L-A", -20), ref("L-C", -3), ref("L-B", -3), ref("L-D", -40),
                   ref("L-E", -1, "OTHER"))
    d = import_into_party(state, rec(), "P100", rules)
    assert (d.result.reason, d.result.lead_id) == ("DEDUPE", "L-B")


def test_lead_created_after_the_record_is_newest(rules: Rules) -> None:
    d = import_into_party(_state(ref("L-A", -2), ref("L-B", +2)), rec(), "P100", rules)
    assert d.result.lead_id == "L-B"


def test_zero_day_window(rules: Rules) -> None:
    r0 = _rules_with(dedupe_window_days=0)
    assert import_into_party(_state(ref("L-A", 0)), rec(), "P100", r0).result.lead_id == "L-A"
    res = import_into_party(_state(ref("L-A", -1 / DAY)), rec(), "P100", r0).result
    assert res.result is ImportResultCode.SUCCESS


def test_window_uses_instants_across_offsets(rules: Rules) -> None:
    # 30 days earlier, written in another offset: still exactly on the boundary.
    ts = "2024-04-01T14:00:00+02:00"
    lr = LeadRef("L-A", "NEW", ts, parse_ts(ts)[1], source_code="CEO-SUMMIT")
    assert import_into_party(_state(lr), rec(), "P100", rules).result.lead_id == "L-A"


# ------------------------------------------------------------------------------ lead creation


def test_new_lead(rules: Rules) -> None:
    r = rec()
    d = import_into_party(PartyState(), r, "P100", rules)
    assert d.result.to_json() == {
        "import_interface_id": "II-1", "source_system": "TRADESHOW",
        "orig_system_reference": "TS-0001", "batch_id": "B1", "result": "SUCCESS",
        "lead_id": import_lead_id(r), "party_id": "P100", "reason": None, "errors": [],
    }
    [ev] = d.lead_events
    assert (ev.kind, ev.at, ev.rules_version, ev.party_id) == (
        LeadEventKind.IMPORTED, T0, rules.version, "P100")
    lead = ev.lead
    assert lead is not None and lead.lead_id == ev.lead_id == import_lead_id(r)
    assert lead.lead_id.startswith("L-IMP-")
    assert (lead.origin, lead.import_interface_id, lead.status, lead.created_at) == (
        Origin.IMPORT.value, "II-1", rules.config.profiles.default_lead_status, T0)
    assert (lead.interaction_score, lead.interaction_ids) == (0, [])
    assert (lead.contact_id, lead.country, lead.source_code, lead.attributes) == (
        "C1", "US", "CEO-SUMMIT", {"product_category": "Monitors", "purchase_amount": 60000})
    [lr] = d.state.leads
    assert (lr.lead_id, lr.status, lr.created_ts, lr.source_code, lr.contact_id) == (
        lead.lead_id, "NEW", r.created_ts, "CEO-SUMMIT", "C1")
    assert lr.value_of("product_category") == "Monitors"


def test_lead_ids_are_deterministic(rules: Rules) -> None:
    a = import_into_party(PartyState(), rec(), "P100", rules)
    b = import_into_party(PartyState(), rec(import_interface_id="II-99", batch_id="B9"),
                          "P100", rules)
    c = import_into_party(PartyState(), rec(orig_system_reference="TS-0002"), "P100", rules)
    assert a.result.lead_id == b.result.lead_id != c.result.lead_id
    assert a.lead_events[0].to_json() == import_into_party(
        PartyState(), rec(), "P100", rules).lead_events[0].to_json()


def test_replayed_record_is_an_osr_duplicate(rules: Rules) -> None:
    first = import_into_party(PartyState(), rec(), "P100", rules)
    again = import_into_party(first.state, rec(source_code="OTHER"), "P100", rules)
    assert (again.result.result, again.result.reason, again.result.lead_id) == (
        ImportResultCode.DUPLICATE, "ORIG_SYSTEM_REFERENCE", first.result.lead_id)
    assert again.state is first.state and again.lead_events == []


def test_second_import_in_the_batch_dedupes_against_the_first(rules: Rules) -> None:
    first = import_into_party(PartyState(), rec(), "P100", rules)
    second = import_into_party(first.state, rec(orig_system_reference="TS-0002",
                                                created_at=at(3)), "P100", rules)
    assert (second.result.reason, second.result.lead_id) == ("DEDUPE", first.result.lead_id)


def test_input_state_is_not_mutated(rules: Rules) -> None:
    lr = ref("L-X", -100, "OTHER", {"product_category": "Monitors"})
    state = PartyState(leads=(lr,), seen={"i1": 1.0}, watermark=5.0, seq=3)
    before = state.to_bytes()
    snapshot = copy.deepcopy(state)
    r = rec()
    d = import_into_party(state, r, "P100", rules)
    assert state.to_bytes() == before and state == snapshot and state.leads == (lr,)
    assert d.state is not state and d.state.leads[0] is lr and len(d.state.leads) == 2
    assert (d.state.seen, d.state.watermark, d.state.seq) == ({"i1": 1.0}, 5.0, 3)
    lead = d.lead_events[0].lead
    assert lead is not None
    lead.attributes["x"] = 1  # the event's lead shares nothing with the record or the state
    assert "x" not in r.attributes and "x" not in d.state.leads[1].attributes


# ------------------------------------------------------------------------------ batch summary


def test_import_batch_counts() -> None:
    def res(code: ImportResultCode, reason: str | None = None) -> ImportResult:
        return ImportResult("i", "s", "o", None, code, reason=reason)

    results = [res(ImportResultCode.SUCCESS), res(ImportResultCode.SUCCESS),
               res(ImportResultCode.DUPLICATE, "DEDUPE"),
               res(ImportResultCode.DUPLICATE, "ORIG_SYSTEM_REFERENCE"),
               res(ImportResultCode.ERROR)]
    acc = ImportBatch.initialize()
    for r in results[:2]:
        acc = ImportBatch.agg(acc, r)
    acc2 = ImportBatch.initialize()
    for r in results[2:]:
        acc2 = ImportBatch.agg(acc2, r)
    total = ImportBatch.merge(acc, acc2)
    assert acc == ImportCounts(total=2, success=2)
    assert ImportBatch.result(total) == {
        "total": 5, "SUCCESS": 2, "DUPLICATE": 2, "ERROR": 1,
        "duplicate_reasons": {"ORIG_SYSTEM_REFERENCE": 1, "DEDUPE": 1},
    }
    assert ImportCounts.from_json(ImportBatch.result(total)) == total
    assert ImportBatch.summary_line(total) == (
        "5 records: 2 SUCCESS, 2 DUPLICATE (1 ORIG_SYSTEM_REFERENCE, 1 DEDUPE), 1 ERROR")


def test_import_result_json_round_trip() -> None:
    r = ImportResult("i", "s", "o", "b", ImportResultCode.ERROR, errors=["x: required"], line=3)
    assert ImportResult.from_json(orjson.loads(orjson.dumps(r.to_json()))) == r


# ------------------------------------------------------------------------------ end to end


def test_pipeline_import_osr_duplicates_within_and_across_batches(rules: Rules) -> None:
    from core.pipeline import Pipeline

    pipe = Pipeline(rules)
    first = pipe.import_record(raw()).import_results[0]
    same_batch = pipe.import_record(raw(import_interface_id="II-2")).import_results[0]
    later = pipe.import_record(raw(import_interface_id="II-3", batch_id="B2",
                                   created_at=at(200))).import_results[0]
    other_system = pipe.import_record(raw(import_interface_id="II-4", source_system="WEB",
                                          created_at=at(400))).import_results[0]
    assert first["result"] == "SUCCESS"
    for r in (same_batch, later):
        assert (r["result"], r["reason"], r["lead_id"], r["party_id"]) == (
            "DUPLICATE", "ORIG_SYSTEM_REFERENCE", first["lead_id"], "P100")
    other_party = pipe.import_record(raw(import_interface_id="II-5", party_id="P200",
                                         batch_id="B3")).import_results[0]
    assert (other_party["result"], other_party["reason"], other_party["lead_id"]) == (
        "DUPLICATE", "ORIG_SYSTEM_REFERENCE", first["lead_id"])
    assert other_system["result"] == "SUCCESS" and other_system["lead_id"] != first["lead_id"]
    assert len(pipe.leads) == 2 and pipe.report["imports"] == {
        "SUCCESS": 2, "DUPLICATE": 3, "ERROR": 0}


def test_pipeline_import_errors_and_customer_parties(rules: Rules) -> None:
    from core.pipeline import Pipeline

    pipe = Pipeline(rules)
    bad = pipe.import_record(raw(party_id=None)).import_results[0]
    passed = pipe.import_record(InvalidImport(["(record): bad CSV"], "II-9")).import_results[0]
    assert (bad["result"], bad["errors"]) == (
        "ERROR", ["party_id: required (or customer.name with customer.country)"])
    assert (passed["result"], passed["import_interface_id"], passed["errors"]) == (
        "ERROR", "II-9", ["(record): bad CSV"])
    a = pipe.import_record(raw(party_id=None, customer={"name": "Acme, Inc.", "country": "US"}))
    b = pipe.import_record(raw(party_id=None, customer_name="ACME  INC", customer_country="us",
                               orig_system_reference="TS-0002", created_at=at(1)))
    ra, rb = a.import_results[0], b.import_results[0]
    assert ra["result"] == "SUCCESS" and ra["party_id"].startswith("P-")
    assert (rb["result"], rb["reason"], rb["lead_id"], rb["party_id"]) == (
        "DUPLICATE", "DEDUPE", ra["lead_id"], ra["party_id"])


def test_interaction_links_to_an_imported_lead(rules: Rules) -> None:
    from core.pipeline import Pipeline

    pipe = Pipeline(rules)
    lead_id = pipe.import_record(raw()).import_results[0]["lead_id"]
    em = pipe.interaction({"interaction_id": "i1", "party_id": "P100", "type": "SURVEY_CALLBACK",
                           "occurred_at": at(2)})
    assert [(o.outcome.value, o.lead_id) for o in em.outcomes] == [("LINKED", lead_id)]
    assert pipe.leads[lead_id].interaction_ids == ["i1"]
    assert pipe.leads[lead_id].origin == "IMPORT"
