"""Step 5 of matching (CONTRACT §2.5, §4): which rule set scores an interaction, and the score.

The IST is set very high so every scored interaction stays PENDING and its outcome shows
the score and rule set chosen.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from core.scoring import eligible_sets, score_interaction
from core.validation import parse_interaction
from tests.builders import interaction, make_rules, run

SEEDED = "{id: seeded, status: ACTIVE, precedence: 1, scores: default}"


def _outcome(sets: str, profiles: dict[str, Any] | None = None, **it: Any) -> Any:
    rules = make_rules(f"interaction_rule_sets: [{sets}]",
                       **{"interaction_score_threshold": 10_000, **(profiles or {})})
    rec = interaction("i1", **{"type": "SURVEY_CALLBACK", "at": "2024-03-15T12:00:00Z", **it})
    [out] = run(rules, rec).outcomes
    assert out.rules_version == rules.version
    return out


# (name, rule sets, profiles, interaction fields, expected (score, rule set) or None: NO_RULE)
CASES: list[tuple[str, str, dict[str, Any], dict[str, Any], tuple[Any, str] | None]] = [
    ("scores default: default_score", SEEDED, {}, {}, (10, "seeded")),
    ("scores default, another type", SEEDED, {}, {"type": "WEB_COLLABORATION"}, (2, "seeded")),
    ("higher precedence wins with lower score",
     "{id: a, status: ACTIVE, precedence: 1, scores: {SURVEY_CALLBACK: 50}},"
     "{id: b, status: ACTIVE, precedence: 5, scores: {SURVEY_CALLBACK: 2}}", {}, {}, (2, "b")),
    ("precedence is a number, not text (10 > 9)",
     "{id: a, status: ACTIVE, precedence: 9, scores: {SURVEY_CALLBACK: 50}},"
     "{id: b, status: ACTIVE, precedence: 10, scores: {SURVEY_CALLBACK: 2}}", {}, {}, (2, "b")),
    ("negative precedence loses",
     "{id: a, status: ACTIVE, precedence: -1, scores: {SURVEY_CALLBACK: 50}},"
     "{id: b, status: ACTIVE, precedence: 0, scores: {SURVEY_CALLBACK: 2}}", {}, {}, (2, "b")),
    ("equal precedence: highest score for the type",
     "{id: a, status: ACTIVE, precedence: 5, scores: {SURVEY_CALLBACK: 3, WEB_AD_VISIT: 99}},"
     "{id: b, status: ACTIVE, precedence: 5, scores: {SURVEY_CALLBACK: 7, WEB_AD_VISIT: 1}}",
     {}, {}, (7, "b")),
    ("equal precedence: highest score, other type",
     "{id: a, status: ACTIVE, precedence: 5, scores: {SURVEY_CALLBACK: 3, WEB_AD_VISIT: 99}},"
     "{id: b, status: ACTIVE, precedence: 5, scores: {SURVEY_CALLBACK: 7, WEB_AD_VISIT: 1}}",
     {}, {"type": "WEB_AD_VISIT"}, (99, "a")),
    ("equal precedence and score: smallest id",
     "{id: beta, status: ACTIVE, precedence: 5, scores: {SURVEY_CALLBACK: 4}},"
     "{id: alpha, status: ACTIVE, precedence: 5, scores: {SURVEY_CALLBACK: 4}},"
     "{id: gamma, status: ACTIVE, precedence: 5, scores: {SURVEY_CALLBACK: 4}}",
     {}, {}, (4, "alpha")),
    ("negative score", "{id: a, status: ACTIVE, scores: {SURVEY_CALLBACK: -4}}", {}, {},
     (-4, "a")),
    ("negative score of a higher precedence wins",
     SEEDED + ",{id: neg, status: ACTIVE, precedence: 2, scores: {SURVEY_CALLBACK: -4}}",
     {}, {}, (-4, "neg")),
    ("float score", "{id: a, status: ACTIVE, scores: {SURVEY_CALLBACK: 2.5}}", {}, {},
     (2.5, "a")),
    ("floor lifts a low score", "{id: a, status: ACTIVE, scores: {SURVEY_CALLBACK: 2}}",
     {"default_interaction_score": 5}, {}, (5, "a")),
    ("floor lifts a negative score", "{id: a, status: ACTIVE, scores: {SURVEY_CALLBACK: -4}}",
     {"default_interaction_score": 5}, {}, (5, "a")),
    ("floor leaves a higher score", "{id: a, status: ACTIVE, scores: {SURVEY_CALLBACK: 8}}",
     {"default_interaction_score": 5}, {}, (8, "a")),
    ("floor lifts scores default", SEEDED, {"default_interaction_score": 5},
     {"type": "WEB_AD_VISIT"}, (5, "seeded")),
    ("floor does not change the chosen set",
     "{id: a, status: ACTIVE, precedence: 5, scores: {SURVEY_CALLBACK: 1}},"
     "{id: b, status: ACTIVE, precedence: 1, scores: {SURVEY_CALLBACK: 8}}",
     {"default_interaction_score": 5}, {}, (5, "a")),
    ("floor 0 with negative", "{id: a, status: ACTIVE, scores: {SURVEY_CALLBACK: -3}}",
     {"default_interaction_score": 0}, {}, (0, "a")),
    ("set without the type is not eligible",
     SEEDED + ",{id: top, status: ACTIVE, precedence: 9, scores: {WEB_AD_VISIT: 7}}",
     {}, {}, (10, "seeded")),
    ("DRAFT set ignored",
     SEEDED + ",{id: top, status: DRAFT, precedence: 9, scores: {SURVEY_CALLBACK: 7}}",
     {}, {}, (10, "seeded")),
    ("INACTIVE set ignored",
     SEEDED + ",{id: top, status: INACTIVE, precedence: 9, scores: {SURVEY_CALLBACK: 7}}",
     {}, {}, (10, "seeded")),
    ("higher set out of date: fallback",
     SEEDED + ",{id: top, status: ACTIVE, precedence: 9, end_date: 2024-03-14, "
     "scores: {SURVEY_CALLBACK: 7}}", {}, {}, (10, "seeded")),
    ("higher set not started: fallback",
     SEEDED + ",{id: top, status: ACTIVE, precedence: 9, start_date: 2024-03-16, "
     "scores: {SURVEY_CALLBACK: 7}}", {}, {}, (10, "seeded")),
    ("higher set in date", SEEDED + ",{id: top, status: ACTIVE, precedence: 9, "
     "start_date: 2024-03-01, end_date: 2024-03-31, scores: {SURVEY_CALLBACK: 7}}",
     {}, {}, (7, "top")),
]


@pytest.mark.parametrize(("sets", "profiles", "it", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_rule_set_selection(sets: str, profiles: dict[str, Any], it: dict[str, Any],
                            expected: tuple[Any, str] | None) -> None:
    out = _outcome(sets, profiles, **it)
    if expected is None:
        assert out.outcome == "NO_RULE"
    else:
        assert out.outcome == "PENDING"
        assert (out.score, out.rule_set_id) == expected


DATED = "{id: dated, status: ACTIVE, start_date: 2024-03-01, end_date: 2024-03-31, scores: default}"


@pytest.mark.parametrize(("at", "in_date"), [
    ("2024-02-29T23:59:59Z", False),
    ("2024-03-01T00:00:00Z", True),   # start_date inclusive
    ("2024-03-31T00:00:00Z", True),   # end_date inclusive
    ("2024-03-31T23:59:59Z", True),   # the whole end day
    ("2024-04-01T00:00:00Z", False),
    # The calendar date of occurred_at in its own offset (DESIGN: decisions where silent)
    ("2024-03-31T23:30:00-05:00", True),
    ("2024-04-01T01:00:00+05:30", False),
])
def test_date_range_inclusive(at: str, in_date: bool) -> None:
    out = _outcome(DATED, at=at)
    assert out.outcome == ("PENDING" if in_date else "NO_RULE")


@pytest.mark.parametrize(("sets", "at"), [
    ("{id: open_start, status: ACTIVE, start_date: null, end_date: 2024-03-31, scores: default}",
     "2001-01-01T00:00:00Z"),
    ("{id: open_end, status: ACTIVE, start_date: 2024-03-01, end_date: null, scores: default}",
     "2099-12-31T00:00:00Z"),
])
def test_null_dates_are_open(sets: str, at: str) -> None:
    assert _outcome(sets, at=at).outcome == "PENDING"


CEO = (SEEDED + ",{id: ceo-summit, status: ACTIVE, precedence: 10, "
       "guard: {country: [US, CA], source_code: [CEO-SUMMIT]}, "
       "scores: {EVENT_REGISTRATION: 12, SURVEY_CALLBACK: 15}}")


@pytest.mark.parametrize(("it", "expected"), [
    ({"country": "US", "source_code": "CEO-SUMMIT"}, (15, "ceo-summit")),
    ({"country": "CA", "source_code": "CEO-SUMMIT"}, (15, "ceo-summit")),  # list: any of
    ({"country": "US", "source_code": "CEO-SUMMIT", "type": "EVENT_REGISTRATION"},
     (12, "ceo-summit")),
    ({"country": "US"}, (10, "seeded")),                                  # mapping: all of
    ({"source_code": "CEO-SUMMIT"}, (10, "seeded")),
    ({"country": "GB", "source_code": "CEO-SUMMIT"}, (10, "seeded")),
    ({"country": "US", "source_code": "OTHER"}, (10, "seeded")),
    ({"country": "US", "source_code": "CEO-SUMMIT", "type": "WEB_AD_VISIT"}, (1, "seeded")),
])
def test_mapping_guard(it: dict[str, Any], expected: tuple[Any, str]) -> None:
    out = _outcome(CEO, **it)
    assert (out.score, out.rule_set_id) == expected


@pytest.mark.parametrize(("guard", "it", "matches"), [
    ("{product_category: Monitors}", {"attributes": {"product_category": "Monitors"}}, True),
    ("{product_category: [Monitors, Laptops]}", {"attributes": {"product_category": "Laptops"}},
     True),
    ("{product_category: Monitors}",
     {"attributes": {"product_category": ["Laptops", "Monitors"]}}, True),
    ("{product_category: Monitors}", {"attributes": {"product_category": "Phones"}}, False),
    ("{product_category: Monitors}", {"attributes": {}}, False),     # missing attribute
    ("{product_category: Monitors}", {}, False),
    ("[{attribute: product_category, op: in, value: [Monitors]}]",
     {"attributes": {"product_category": "Monitors"}}, True),
    ("[{attribute: product_category, op: ne, value: Monitors}]", {}, False),  # null: fails
    ("[{attribute: product_category, op: is_null}]", {}, True),
    ("[{attribute: budget, op: gte, value: 1000}]", {"attributes": {"budget": 5000}}, True),
    ("[{attribute: budget, op: gte, value: 1000}]", {"attributes": {"budget": 500}}, False),
    ("[{attribute: budget, op: gte, value: 1000}, {attribute: country, op: eq, value: US}]",
     {"country": "US", "attributes": {"budget": 5000}}, True),
    ("[{attribute: budget, op: gte, value: 1000}, {attribute: country, op: eq, value: US}]",
     {"country": "GB", "attributes": {"budget": 5000}}, False),    # list form: ANDed
    ("[{attribute: source_code, op: begins_with, value: ceo}]", {"source_code": "CEO-SUMMIT"},
     True),
    ("{type: [SURVEY_CALLBACK]}", {}, True),
    ("{type: [WEB_AD_VISIT]}", {}, False),
    ("{party_id: P1}", {}, True),
    ("{contact_id: C7}", {"contact_id": "C7"}, True),
    ("{contact_id: C7}", {}, False),
    ("{}", {}, True),                                               # empty guard: everything
])
def test_guard_forms(guard: str, it: dict[str, Any], matches: bool) -> None:
    sets = SEEDED + f",{{id: g, status: ACTIVE, precedence: 5, guard: {guard}, " \
                    "scores: {SURVEY_CALLBACK: 7}}"
    out = _outcome(sets, **it)
    assert out.rule_set_id == ("g" if matches else "seeded")


def _reference(it: Any, rules: Any) -> tuple[Any, str] | None:
    """The selection as CONTRACT §2.5 states it, over every eligible set."""
    candidates = eligible_sets(it, rules)
    if not candidates:
        return None
    best = min(candidates, key=lambda s: (-s.precedence, -s.scores[it.type], s.id))
    score = best.scores[it.type]
    floor = rules.config.profiles.default_interaction_score
    return (max(score, floor) if floor is not None else score), best.id


MIXED = (
    "{id: b, status: ACTIVE, precedence: 5, scores: {SURVEY_CALLBACK: 4, WEB_AD_VISIT: 9}},"
    "{id: a, status: ACTIVE, precedence: 5, scores: {SURVEY_CALLBACK: 4}},"
    "{id: dated, status: ACTIVE, precedence: 9, start_date: 2024-03-10, end_date: 2024-03-20,"
    " scores: {SURVEY_CALLBACK: 1, WEB_AD_VISIT: 1}},"
    "{id: us, status: ACTIVE, precedence: 7, guard: {country: [US]}, scores: default},"
    "{id: draft, status: DRAFT, precedence: 99, scores: default},"
    "{id: low, status: ACTIVE, precedence: 1, scores: {EVENT_REGISTRATION: -2}},"
    "{id: big, status: ACTIVE, precedence: 7, guard: [{attribute: budget, op: gte, value: 10}],"
    " scores: {SURVEY_CALLBACK: 2.5, EVENT_REGISTRATION: 30}}"
)


@pytest.mark.parametrize("floor", [None, 3])
def test_scoring_order_agrees_with_eligible_sets(floor: int | None) -> None:
    """`score_interaction` stops at the first eligible set of `rules.scoring_order`: the same
    choice as the best of all eligible sets, on every combination tried here."""
    rules = make_rules(f"interaction_rule_sets: [{MIXED}]", default_interaction_score=floor)
    checked = 0
    for type_ in ("SURVEY_CALLBACK", "WEB_AD_VISIT", "EVENT_REGISTRATION", "ITEM_INQUIRY"):
        for at in ("2024-03-01T12:00:00Z", "2024-03-15T12:00:00Z", "2024-03-20T23:00:00-05:00"):
            for country in (None, "US", "GB"):
                for budget in (None, 5, 50):
                    attrs = {} if budget is None else {"budget": budget}
                    it = parse_interaction(orjson.dumps(interaction(
                        "i1", type=type_, at=at, country=country, attributes=attrs)), rules)
                    got = score_interaction(it, rules)
                    assert (None if got is None else (got.score, got.rule_set_id)) == \
                        _reference(it, rules), (type_, at, country, budget)
                    checked += 1
    assert checked == 108
