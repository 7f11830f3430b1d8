"""Lead processing engines (CONTRACT §3): table-driven tests of core.processing."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from core.processing import (
    BadLeadEvent,
    UnknownLead,
    apply_lead_event,
    needs_reevaluation,
    run_engines,
)
from models.records import Lead, LeadEvent, LeadEventKind
from rules.compiled import Rules
from rules.loader import RulesError, load_rules_text

AT = "2026-03-15T10:00:00+00:00"

BASE = """\
lead_statuses:
  - {code: NEW, open: true}
  - {code: CONTACTED, open: true}
  - {code: DEAD, open: false}
interaction_types:
  - {code: SURVEY_CALLBACK, default_score: 10}
interaction_rule_sets:
  - {id: seeded, status: ACTIVE, precedence: 1, guard: {}, scores: default}
processing:
  ratings: [A, B, C, D]
  channels: [DIRECT, INDIRECT_A, INDIRECT_B]
"""


NULL_DEFAULTS = "{qualified: false, rating: null, channel: null}"


def rules_of(processing: str = "", defaults: str = NULL_DEFAULTS) -> Rules:
    """BASE plus `defaults` plus the engines' YAML (indented under `processing:`)."""
    body = f"defaults: {defaults}\n" + textwrap.dedent(processing)
    return load_rules_text(BASE + textwrap.indent(body, "  "))


def lead(**kw: Any) -> Lead:
    attrs = kw.pop("attributes", {})
    base: dict[str, Any] = dict(
        lead_id="L1", party_id="P1", status="NEW", created_at="2026-03-01T09:00:00+00:00",
        created_ts=0.0, country="US",
    )
    base.update(kw)
    return Lead(**base, attributes=attrs)


def qset(sid: str, prec: int, rules: str, guard: str = "{}", status: str = "ACTIVE",
         dates: str = "") -> str:
    """One rule set as YAML (a list item); `rules` is a flow list of rules."""
    return (f"  - {{id: {sid}, status: {status}, precedence: {prec}, guard: {guard}{dates},\n"
            f"     rules: {rules}}}\n")


def engine(name: str, *sets: str) -> str:
    return f"{name}:\n" + "".join(sets)


Q_TRUE = "[{id: r-yes, when: {}, then: true}]"
Q_FALSE = "[{id: r-no, when: {}, then: false}]"
Q_NEVER = "[{id: never, when: {k: nothing}, then: true}]"
Q_FIRST_FALSE = "[{id: r1, when: {k: v}, then: false}, {id: r2, when: {}, then: true}]"
Q_FIRST_FAILS = "[{id: r1, when: {k: other}, then: false}, {id: r2, when: {}, then: true}]"
HOT_RULE = "[{id: hot, when: [{attribute: interaction_score, op: gte, value: 30}], then: true}]"


def audit(out: Lead, eng: str) -> dict[str, Any]:
    entries = [p for p in out.processing if p["engine"] == eng]
    assert len(entries) == 1, out.processing
    return entries[0]


# ---------------------------------------------------------------- qualification precedence/ties

@pytest.mark.parametrize(
    ("sets", "expected", "set_id", "rule_id"),
    [
        pytest.param([], False, None, None, id="no-sets-default"),
        pytest.param([qset("s1", 1, Q_TRUE)], True, "s1", "r-yes", id="single"),
        pytest.param([qset("s1", 1, Q_NEVER)], False, None, None, id="no-match-default"),
        pytest.param([qset("hi", 10, Q_NEVER), qset("lo", 1, Q_TRUE)], True, "lo", "r-yes",
                     id="fall-through-to-lower"),
        pytest.param([qset("hi", 10, Q_FALSE), qset("lo", 1, Q_TRUE)], False, "hi", "r-no",
                     id="higher-precedence-decides-even-if-worse"),
        pytest.param([qset("b", 5, Q_FALSE), qset("a", 5, Q_TRUE)], True, "a", "r-yes",
                     id="tie-qualified-beats-not"),
        pytest.param([qset("a", 5, Q_FALSE), qset("b", 5, Q_TRUE)], True, "b", "r-yes",
                     id="tie-qualified-beats-not-order-independent"),
        pytest.param([qset("zz", 5, Q_TRUE), qset("aa", 5, Q_TRUE)], True, "aa", "r-yes",
                     id="agreeing-sets-smallest-id-recorded"),
        pytest.param([qset("hi", 10, Q_NEVER), qset("mid", 5, Q_FALSE), qset("lo", 1, Q_TRUE)],
                     False, "mid", "r-no", id="stops-at-first-precedence-with-a-match"),
        pytest.param([qset("s1", 1, Q_FIRST_FALSE)],
                     False, "s1", "r1", id="first-rule-in-listed-order"),
        pytest.param([qset("s1", 1, Q_FIRST_FAILS)],
                     True, "s1", "r2", id="later-rule-when-first-fails"),
        pytest.param([qset("s1", -3, Q_TRUE)], True, "s1", "r-yes", id="negative-precedence"),
    ],
)
def test_qualification_selection(sets: list[str], expected: bool, set_id: str | None,
                                 rule_id: str | None) -> None:
    r = rules_of(engine("qualification", *sets) if sets else "")
    out = run_engines(lead(attributes={"k": "v"}), r, AT)
    assert out.qualified is expected
    a = audit(out, "qualification")
    assert (a["rule_set_id"], a["rule_id"], a["result"]) == (set_id, rule_id, expected)


# ---------------------------------------------------------------- rating / channel ties

def rset(sid: str, prec: int, value: str, when: str = "{}") -> str:
    return qset(sid, prec, f"[{{id: {sid}-r, when: {when}, then: {value}}}]")


@pytest.mark.parametrize(
    ("eng", "field", "sets", "expected", "set_id"),
    [
        ("rating", "rating", [rset("x", 1, "B"), rset("y", 1, "A"), rset("z", 1, "D")], "A", "y"),
        ("rating", "rating", [rset("x", 2, "C"), rset("y", 1, "A")], "C", "x"),
        ("rating", "rating", [rset("x", 2, "A", "{k: nope}"), rset("y", 1, "D")], "D", "y"),
        ("rating", "rating", [rset("m", 1, "B"), rset("k", 1, "B")], "B", "k"),
        ("channel_selection", "channel",
         [rset("x", 1, "INDIRECT_B"), rset("y", 1, "DIRECT"), rset("z", 1, "INDIRECT_A")],
         "DIRECT", "y"),
        ("channel_selection", "channel", [rset("x", 1, "INDIRECT_B"), rset("y", 1, "INDIRECT_A")],
         "INDIRECT_A", "y"),
        ("channel_selection", "channel", [rset("x", 7, "INDIRECT_B"), rset("y", 1, "DIRECT")],
         "INDIRECT_B", "x"),
    ],
)
def test_best_result_at_one_precedence(eng: str, field: str, sets: list[str], expected: str,
                                       set_id: str) -> None:
    r = rules_of(engine("qualification", qset("q", 1, Q_TRUE)) + engine(eng, *sets))
    out = run_engines(lead(attributes={"k": "v"}), r, AT)
    assert getattr(out, field) == expected
    assert audit(out, eng)["rule_set_id"] == set_id


# ---------------------------------------------------------------- defaults

@pytest.mark.parametrize(
    ("defaults", "expected"),
    [
        ("{qualified: false, rating: null, channel: null}", (False, None, None)),
        ("{qualified: false, rating: D, channel: INDIRECT_B}", (False, None, "INDIRECT_B")),
        ("{qualified: true, rating: D, channel: INDIRECT_B}", (True, "D", "INDIRECT_B")),
        ("{qualified: true, rating: null, channel: null}", (True, None, None)),
        ("{}", (False, None, None)),
    ],
)
def test_defaults(defaults: str, expected: tuple[Any, ...]) -> None:
    out = run_engines(lead(), rules_of("", defaults), AT)
    assert (out.qualified, out.rating, out.channel) == expected
    assert all(p["rule_id"] is None and p["rule_set_id"] is None for p in out.processing)
    engines = ["qualification", "rating", "channel_selection"] if expected[0] else [
        "qualification", "channel_selection"]
    assert [p["engine"] for p in out.processing] == engines


# ---------------------------------------------------------------- eligibility

@pytest.mark.parametrize(
    ("status", "dates", "at", "eligible"),
    [
        ("ACTIVE", "", AT, True),
        ("DRAFT", "", AT, False),
        ("INACTIVE", "", AT, False),
        ("ACTIVE", ", start_date: 2026-03-15, end_date: 2026-03-15", AT, True),  # inclusive
        ("ACTIVE", ", start_date: 2026-03-16", AT, False),
        ("ACTIVE", ", end_date: 2026-03-14", AT, False),
        ("ACTIVE", ", start_date: 2026-01-01, end_date: null", AT, True),
        ("ACTIVE", ", start_date: null, end_date: 2026-12-31", AT, True),
        # the date is the calendar date of `at` in its own offset (UTC it is already 16 March)
        ("ACTIVE", ", end_date: 2026-03-15", "2026-03-15T23:30:00-05:00", True),
        ("ACTIVE", ", start_date: 2026-03-16", "2026-03-15T23:30:00-05:00", False),
        ("DRAFT", ", start_date: 2026-01-01", AT, False),
    ],
)
def test_status_and_dates(status: str, dates: str, at: str, eligible: bool) -> None:
    r = rules_of(engine("qualification", qset("s", 1, Q_TRUE, status=status, dates=dates)))
    out = run_engines(lead(), r, at)
    assert out.qualified is eligible
    assert audit(out, "qualification")["rule_set_id"] == ("s" if eligible else None)
    assert audit(out, "qualification")["at"] == at


def test_ineligible_higher_precedence_does_not_block_lower() -> None:
    r = rules_of(engine("qualification", qset("draft", 9, Q_FALSE, status="DRAFT"),
                        qset("old", 9, Q_FALSE, dates=", end_date: 2020-01-01"),
                        qset("live", 1, Q_TRUE)))
    out = run_engines(lead(), r, AT)
    assert (out.qualified, audit(out, "qualification")["rule_set_id"]) == (True, "live")


@pytest.mark.parametrize(
    ("country", "attrs", "eligible"),
    [
        ("US", {"product_category": "Laptops"}, True),
        ("CA", {"product_category": "Monitors"}, True),  # OR within a list
        ("GB", {"product_category": "Laptops"}, False),  # AND across attributes
        ("US", {"product_category": "Printers"}, False),
        ("US", {"product_category": ["Printers", "Monitors"]}, True),  # list attribute: any
        ("US", {"product_category": ["Printers", "Scanners"]}, False),
        ("US", {"product_category": []}, False),  # empty list is null
        ("US", {}, False),  # missing attribute fails
        (None, {"product_category": "Laptops"}, False),  # null field fails
        (None, {"country": "CA", "product_category": "Laptops"}, True),  # null field: attribute
    ],
)
def test_guard_lists(country: str | None, attrs: dict[str, Any], eligible: bool) -> None:
    guard = "{country: [US, CA], product_category: [Monitors, Laptops]}"
    r = rules_of(engine("qualification", qset("g", 1, Q_TRUE, guard=guard)))
    assert run_engines(lead(country=country, attributes=attrs), r, AT).qualified is eligible


def test_guard_list_form_with_operators() -> None:
    guard = ("[{attribute: source_code, op: begins_with, value: ceo},"
             " {attribute: n, op: between, value: [1, 5]}]")
    r = rules_of(engine("qualification", qset("g", 1, Q_TRUE, guard=guard)))
    assert run_engines(lead(source_code="CEO-SUMMIT", attributes={"n": 3}), r, AT).qualified
    assert not run_engines(lead(source_code="CEO-SUMMIT", attributes={"n": 6}), r, AT).qualified
    assert not run_engines(lead(attributes={"n": 3}), r, AT).qualified  # source_code null


# ---------------------------------------------------------------- which engines run

RATE_A = engine("rating", rset("rate", 1, "A"))
CHAN_INDIRECT_B = engine("channel_selection", rset("chan", 1, "INDIRECT_B"))


@pytest.mark.parametrize(
    ("qual_sets", "start", "expected", "engines_run"),
    [
        ([qset("q", 1, Q_TRUE)], {}, (True, "A", "INDIRECT_B"),
         ["qualification", "rating", "channel_selection"]),
        ([qset("q", 1, Q_FALSE)], {}, (False, None, "INDIRECT_B"),
         ["qualification", "channel_selection"]),  # rating not run; channel runs anyway
        ([qset("q", 1, Q_FALSE)], {"qualified": True}, (True, "A", "INDIRECT_B"),
         ["rating", "channel_selection"]),  # already qualified: not requalified
        ([qset("q", 1, Q_TRUE)], {"qualified": False}, (True, "A", "INDIRECT_B"),
         ["qualification", "rating", "channel_selection"]),  # not qualified: runs again
        ([qset("q", 1, Q_TRUE)], {"rating": "C"}, (True, "C", "INDIRECT_B"),
         ["qualification", "channel_selection"]),  # has a rating: kept
        ([qset("q", 1, Q_TRUE)], {"channel": "DIRECT"}, (True, "A", "DIRECT"),
         ["qualification", "rating"]),  # has a channel: kept
        ([qset("q", 1, Q_FALSE)], {"rating": "B"}, (False, "B", "INDIRECT_B"),
         ["qualification", "channel_selection"]),  # a given rating is not cleared
    ],
)
def test_which_engines_run(qual_sets: list[str], start: dict[str, Any],
                           expected: tuple[Any, ...], engines_run: list[str]) -> None:
    r = rules_of(engine("qualification", *qual_sets) + RATE_A + CHAN_INDIRECT_B)
    out = run_engines(lead(**start), r, AT)
    assert (out.qualified, out.rating, out.channel) == expected
    assert [p["engine"] for p in out.processing] == engines_run


def test_later_engines_see_earlier_results() -> None:
    rating = engine("rating", qset("rate", 1, "[{id: ra, when: {qualified: true}, then: B}]"))
    chan = engine("channel_selection", qset(
        "chan", 1,
        "[{id: c1, when: {rating: A}, then: DIRECT},"
        " {id: c2, when: {rating: B}, then: INDIRECT_A}]",
        guard="{qualified: true}"))
    r = rules_of(engine("qualification", qset("q", 1, Q_TRUE)) + rating + chan)
    out = run_engines(lead(), r, AT)
    assert (out.rating, out.channel) == ("B", "INDIRECT_A")
    assert audit(out, "channel_selection")["rule_id"] == "c2"


def test_audit_entries_and_no_mutation() -> None:
    r = rules_of(engine("qualification", qset("q", 1, Q_TRUE)) + RATE_A)
    before = lead(processing=[{"engine": "old"}])
    out = run_engines(before, r, AT)
    assert before.qualified is None and before.processing == [{"engine": "old"}]
    assert before.rules_version is None
    assert out.rules_version == r.version
    assert out.processing == [
        {"engine": "old"},
        {"engine": "qualification", "trigger": "CREATED", "rule_set_id": "q",
         "rule_id": "r-yes", "result": True, "rules_version": r.version, "at": AT},
        {"engine": "rating", "trigger": "CREATED", "rule_set_id": "rate", "rule_id": "rate-r",
         "result": "A", "rules_version": r.version, "at": AT},
        {"engine": "channel_selection", "trigger": "CREATED", "rule_set_id": None,
         "rule_id": None, "result": None, "rules_version": r.version, "at": AT},
    ]


def test_numeric_literal_of_wrong_type_is_refused_at_load() -> None:
    rule = "[{id: r, when: [{attribute: amount, op: gte, value: '50000'}], then: true}]"
    bad = engine("qualification", qset("q", 1, rule))
    with pytest.raises(RulesError) as exc:
        rules_of(bad)
    assert any("processing.qualification[0].rules[0].when[0].value" in e for e in exc.value.errors)


# ---------------------------------------------------------------- lead events

def ev(kind: LeadEventKind, at: str = AT, **kw: Any) -> LeadEvent:
    return LeadEvent(kind, "L1", "P1", at, None, **kw)


SCORE_QUAL = engine("qualification", qset("hot", 1, HOT_RULE))


@pytest.mark.parametrize("kind", [LeadEventKind.CREATED, LeadEventKind.IMPORTED])
def test_created_and_imported_run_the_engines(kind: LeadEventKind) -> None:
    r = rules_of(engine("qualification", qset("q", 1, Q_TRUE)) + RATE_A)
    given = lead()
    out = apply_lead_event(None, ev(kind, lead=given), r)
    assert (out.qualified, out.rating, out.rules_version) == (True, "A", r.version)
    assert given.qualified is None  # the event's lead is not mutated


def test_registered_lead_is_kept_as_given() -> None:
    r = rules_of(engine("qualification", qset("q", 1, Q_TRUE)))
    given = lead(origin="EXTERNAL", status="CONTACTED")
    out = apply_lead_event(None, ev(LeadEventKind.REGISTERED, lead=given), r)
    assert out.to_json() == given.to_json()
    assert out.qualified is None and out.processing == []


def test_status_event() -> None:
    r = rules_of(engine("qualification", qset("q", 1, Q_TRUE)))
    cur = lead(qualified=False, processing=[{"engine": "x"}])
    out = apply_lead_event(cur, ev(LeadEventKind.STATUS, at="2026-03-20T00:00:00Z",
                                   status="CONTACTED"), r)
    assert (out.status, out.updated_at) == ("CONTACTED", "2026-03-20T00:00:00Z")
    assert out.qualified is False
    assert out.processing == [{"engine": "x"}] and cur.status == "NEW"


@pytest.mark.parametrize("kind", [LeadEventKind.LINKED, LeadEventKind.STATUS])
def test_unknown_lead(kind: LeadEventKind) -> None:
    with pytest.raises(UnknownLead) as exc:
        apply_lead_event(None, ev(kind, interaction_id="i9", score=5, status="NEW"), rules_of())
    assert exc.value.lead_id == "L1"


@pytest.mark.parametrize(
    "event",
    [ev(LeadEventKind.CREATED), ev(LeadEventKind.IMPORTED), ev(LeadEventKind.REGISTERED)],
)
def test_event_without_its_lead_is_refused(event: LeadEvent) -> None:
    with pytest.raises(BadLeadEvent):
        apply_lead_event(None, event, rules_of())


@pytest.mark.parametrize(
    ("processing", "score_before", "add", "reevaluated", "qualified"),
    [
        pytest.param(SCORE_QUAL, 20, 10, True, True, id="rule-refers-to-score-now-true"),
        pytest.param(SCORE_QUAL, 20, 5, True, False, id="rule-refers-to-score-still-false"),
        pytest.param(engine("qualification", qset(
            "g", 1, Q_TRUE, guard="[{attribute: interaction_score, op: gte, value: 30}]")),
            20, 10, True, True, id="guard-refers-to-score"),
        pytest.param(engine("qualification", qset(
            "g", 1, Q_FALSE, guard="[{attribute: interaction_score, op: lt, value: 25}]")),
            20, 10, True, False, id="guard-held-before-link-only"),
        pytest.param(engine("channel_selection", qset(
            "c", 1, "[{id: c, when: [{attribute: interaction_score, op: gt, value: 0}],"
                    " then: DIRECT}]")),
            20, 10, True, False, id="any-engine-counts"),
        pytest.param(engine("qualification", qset("q", 1, Q_TRUE)), 20, 10, False, None,
                     id="no-set-refers-to-score"),
        pytest.param(engine("qualification", qset(
            "hot", 1, HOT_RULE,
            status="DRAFT")), 20, 10, False, None, id="draft-set-ignored"),
        pytest.param(engine("qualification", qset(
            "hot", 1, HOT_RULE,
            guard="{country: GB}")), 20, 10, False, None, id="guard-fails-set-ignored"),
        pytest.param(engine("qualification", qset(
            "hot", 1, HOT_RULE,
            dates=", end_date: 2026-03-14")), 20, 10, False, None, id="out-of-date-set-ignored"),
    ],
)
def test_linked_reevaluation(processing: str, score_before: int, add: int, reevaluated: bool,
                             qualified: bool | None) -> None:
    r = rules_of(processing + RATE_A)
    # a lead processed earlier: not qualified, no channel, some audit already
    cur = lead(interaction_score=score_before, interaction_ids=["i1"], qualified=None,
               rating=None, channel=None, processing=[{"engine": "earlier"}], rules_version="old")
    out = apply_lead_event(cur, ev(LeadEventKind.LINKED, interaction_id="i2", score=add), r)
    assert out.interaction_score == score_before + add
    assert out.interaction_ids == ["i1", "i2"]
    assert out.updated_at == AT
    assert cur.interaction_score == score_before and cur.interaction_ids == ["i1"]
    assert (needs_reevaluation(cur, r, AT) or needs_reevaluation(out, r, AT)) is reevaluated
    if reevaluated:
        assert len(out.processing) > 1 and out.rules_version == r.version
        assert out.qualified is qualified
    else:
        assert out.processing == [{"engine": "earlier"}] and out.rules_version == "old"
        assert out.qualified is None


def test_negative_score_never_reevaluates() -> None:
    """CONTRACT §3 (new): only a score above 0 reevaluates; the old behaviour requalified the
    lead from scratch here."""
    r = rules_of(SCORE_QUAL + RATE_A + CHAN_INDIRECT_B)
    cur = run_engines(lead(interaction_score=40, interaction_ids=["i1"]), r, "2026-03-01T00:00:00Z")
    assert (cur.qualified, cur.rating, cur.channel) == (True, "A", "INDIRECT_B")
    out = apply_lead_event(cur, ev(LeadEventKind.LINKED, interaction_id="i2", score=-15), r)
    assert out.interaction_score == 25
    assert (out.qualified, out.rating, out.channel) == (True, "A", "INDIRECT_B")
    assert out.processing == cur.processing


def test_no_reevaluation_keeps_results() -> None:
    r = rules_of(engine("qualification", qset("q", 1, Q_TRUE)) + RATE_A)
    cur = run_engines(lead(interaction_ids=["i1"], interaction_score=10), r, AT)
    out = apply_lead_event(cur, ev(LeadEventKind.LINKED, interaction_id="i2", score=3), r)
    assert (out.qualified, out.rating, out.interaction_score) == (True, "A", 13)
    assert out.processing == cur.processing


@pytest.mark.parametrize("processing", [SCORE_QUAL, ""])
def test_linked_is_idempotent(processing: str) -> None:
    r = rules_of(processing)
    cur = lead(interaction_ids=["i1"], interaction_score=20)
    once = apply_lead_event(cur, ev(LeadEventKind.LINKED, interaction_id="i2", score=10), r)
    twice = apply_lead_event(once, ev(LeadEventKind.LINKED, interaction_id="i2", score=10), r)
    assert twice.to_json() == once.to_json()
    assert twice.interaction_ids == ["i1", "i2"] and twice.interaction_score == 30
    again = apply_lead_event(cur, ev(LeadEventKind.LINKED, interaction_id="i1", score=10), r)
    assert again.to_json() == cur.to_json()
