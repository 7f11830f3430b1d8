"""Case-blind codes in the config, attribute codes, and the assignment section's checks
(CONTRACT §4, §11)."""

from __future__ import annotations

from typing import Any

import pytest

from core.pipeline import handle_interaction
from rules.loader import RulesError, load_rules_doc
from state.party import PartyState
from tests.builders import interaction, make_doc, make_rules


def _errors(snippet: str) -> list[str]:
    with pytest.raises(RulesError) as exc:
        make_rules(snippet)
    return exc.value.errors


# -- case-blind codes ------------------------------------------------------------------
LOWER = """
lead_statuses!: [{code: new, open: true}, {code: Contacted, open: true}, {code: dead, open: false}]
profiles: {default_lead_status: New}
interaction_types!:
  - {code: survey_callback, default_score: 10}
  - {code: Event_Registration, default_score: 3}
feeds!: {web: {event_signup: event_registration}, callcenter: {CALLBACK: Survey_Callback}}
interaction_rule_sets!:
  - {id: seeded, status: Active, precedence: 1, scores: default}
  - id: ceo-summit
    status: active
    precedence: 10
    guard: {country: [us], source_code: [ceo-summit]}
    scores: {event_registration: 12, Survey_Callback: 15}
processing:
  ratings: [a, b]
  channels: [direct, Partner]
  defaults: {qualified: false, rating: null, channel: partner}
  rating: [{id: r, status: ACTIVE, rules: [{id: r1, then: b}]}]
  channel_selection:
    - id: c
      status: ACTIVE
      guard: [{attribute: rating, op: eq, value: b}, {attribute: status, op: in, value: [new]}]
      rules: [{id: c1, when: {country: us}, then: Direct}]
assignment:
  territories:
    - {id: t, guard: {channel: [direct]}, members: [{resource: REP-ANN}]}
"""


def test_codes_in_the_config_are_upper_cased() -> None:
    rules = make_rules(LOWER)
    cfg = rules.config
    assert [s.code for s in cfg.lead_statuses] == ["NEW", "CONTACTED", "DEAD"]
    assert cfg.profiles.default_lead_status == "NEW"
    assert rules.known_types == {"SURVEY_CALLBACK", "EVENT_REGISTRATION"}
    assert cfg.feeds == {"web": {"event_signup": "EVENT_REGISTRATION"},
                         "callcenter": {"CALLBACK": "SURVEY_CALLBACK"}}  # feed values as written
    summit = rules.scoring_sets[1]
    assert summit.id == "ceo-summit"  # ids are not codes
    assert summit.active and rules.scoring_sets[0].active
    assert summit.scores == {"EVENT_REGISTRATION": 12, "SURVEY_CALLBACK": 15}
    assert [(c.attribute, c.value) for c in summit.guard] == \
        [("country", ["US"]), ("source_code", ["CEO-SUMMIT"])]
    assert cfg.processing.ratings == ["A", "B"]
    assert cfg.processing.channels == ["DIRECT", "PARTNER"]
    assert cfg.processing.defaults.channel == "PARTNER"
    assert rules.engines["rating"][0].rules[0].then == "B"
    c = rules.engines["channel_selection"][0]
    assert [(g.attribute, g.value) for g in c.guard] == [("rating", "B"), ("status", ["NEW"])]
    assert c.rules[0].then == "DIRECT" and c.rules[0].when[0].value == "US"
    assert rules.territories[0].guard[0].value == ["DIRECT"]


def test_version_is_the_document_as_written() -> None:
    lower = load_rules_doc(make_doc(LOWER))
    upper = load_rules_doc(make_doc(LOWER.replace("ceo-summit]", "CEO-SUMMIT]")))
    assert lower.version != upper.version  # a different text is a different version
    assert lower.scoring_sets[1].guard == upper.scoring_sets[1].guard  # the same meaning


def test_lower_case_guard_matches_upper_case_record() -> None:
    """`ceo-summit` in a guard matches `CEO-SUMMIT` in an interaction (CONTRACT §4)."""
    rules = make_rules(LOWER)
    rec = interaction("i1", type="EVENT_REGISTRATION", country="US", source_code="CEO-SUMMIT")
    h = handle_interaction(rec, rules, lambda p: PartyState())
    [out] = [o for o in h.outcomes if o.interaction_id == "i1"]
    assert (out.rule_set_id, out.score) == ("ceo-summit", 12)


def test_codes_folding_to_one_are_reported() -> None:
    errors = _errors("""
interaction_rule_sets!:
  - {id: a, status: ACTIVE, scores: {survey_callback: 1, SURVEY_CALLBACK: 2}}
lead_statuses!: [{code: new, open: true}, {code: NEW, open: true}]
""")
    assert any(e.startswith("interaction_rule_sets[0].scores.SURVEY_CALLBACK: the same type")
               for e in errors), errors
    assert any(e.startswith("lead_statuses[1].code: duplicate") for e in errors), errors


# -- attribute codes -------------------------------------------------------------------
CODES = """
processing:
  attribute_codes:
    purchase_timeframe: [WITHIN_1_MONTH, 1_3_MONTHS, 3_6_MONTHS, 6_12_MONTHS, MORE_THAN_1_YEAR]
    budget_status: [APPROVED, PENDING, NOT_APPROVED]
"""


def test_rules_within_attribute_codes_load() -> None:
    rules = make_rules(CODES + """
  qualification:
    - id: q
      status: ACTIVE
      guard: {budget_status: [APPROVED, PENDING]}
      rules:
        - {id: q1, when: {budget_status: APPROVED}, then: true}
        - id: q2
          when:
            - {attribute: purchase_timeframe, op: not_in, value: [MORE_THAN_1_YEAR]}
            - {attribute: budget_status, op: is_not_null}
            - {attribute: budget_status, op: begins_with, value: NOT}
          then: true
""")
    assert rules.attribute_codes["budget_status"] == ("APPROVED", "PENDING", "NOT_APPROVED")


def test_value_outside_attribute_codes_refused_everywhere() -> None:
    errors = _errors(CODES + """
  qualification:
    - id: q
      status: ACTIVE
      guard: {budget_status: [APPROVED, APROVED]}
      rules:
        - {id: q1, when: {budget_status: APPROVD}, then: true}
        - id: q2
          when: [{attribute: purchase_timeframe, op: eq, value: NEXT_WEEK}]
          then: true
interaction_rule_sets:
  - {id: seeded, status: ACTIVE, scores: default,
     guard: [{attribute: budget_status, op: not_in, value: [PENDING, MAYBE]}]}
assignment:
  territories:
    - {id: t, guard: {budget_status: NONE}, members: [{resource: R}]}
""")
    allowed = "(processing.attribute_codes: APPROVED, PENDING, NOT_APPROVED)"
    expected = [
        f"processing.qualification[0].guard.budget_status[1]: 'APROVED' is not an allowed "
        f"value of budget_status {allowed}",
        f"processing.qualification[0].rules[0].when.budget_status: 'APPROVD' is not an "
        f"allowed value of budget_status {allowed}",
        "processing.qualification[0].rules[1].when[0].value: 'NEXT_WEEK' is not an allowed "
        "value of purchase_timeframe (processing.attribute_codes: WITHIN_1_MONTH, "
        "1_3_MONTHS, 3_6_MONTHS, 6_12_MONTHS, MORE_THAN_1_YEAR)",
        f"interaction_rule_sets[0].guard[0].value[1]: 'MAYBE' is not an allowed value of "
        f"budget_status {allowed}",
        f"assignment.territories[0].guard.budget_status: 'NONE' is not an allowed value of "
        f"budget_status {allowed}",
    ]
    missing = [e for e in expected if e not in errors]
    assert not missing, errors
    assert len(errors) == len(expected), errors


def test_empty_attribute_codes_list_refused() -> None:
    assert "processing.attribute_codes.budget_status: must list at least one value" in \
        _errors("processing: {attribute_codes: {budget_status: []}}")


@pytest.mark.parametrize(("value", "error"), [
    ("APPROVED", None),
    (None, None),
    (["APPROVED", "PENDING"], None),
    ("APPROVD", "budget_status must be one of APPROVED, PENDING, NOT_APPROVED"),
    ("approved", "budget_status must be one of APPROVED, PENDING, NOT_APPROVED"),
    (["APPROVED", "NOPE"], "budget_status must be one of APPROVED, PENDING, NOT_APPROVED"),
    (5, "budget_status must be one of APPROVED, PENDING, NOT_APPROVED"),
])
def test_attribute_code_error_for_records(value: Any, error: str | None) -> None:
    rules = make_rules(CODES)
    assert rules.attribute_code_error("budget_status", value) == error
    assert rules.attribute_code_error("product_category", "anything") is None


def test_attribute_code_error_never_repeats_the_value() -> None:
    rules = make_rules(CODES)
    err = rules.attribute_code_error("budget_status", "jane@example.com")
    assert err is not None and "jane" not in err


# -- known codes in guards -------------------------------------------------------------
def test_unknown_codes_in_guards_refused() -> None:
    errors = _errors("""
interaction_rule_sets:
  - {id: seeded, status: ACTIVE, scores: default, guard: {type: [SURVEY_CALBACK]}}
processing:
  qualification:
    - {id: q, status: ACTIVE, guard: {status: [NEWW]}, rules: [{id: q1, then: true}]}
  channel_selection:
    - id: c
      status: ACTIVE
      rules: [{id: c1, when: [{attribute: rating, op: eq, value: E}], then: DIRECT}]
""")
    assert any(e.startswith("interaction_rule_sets[0].guard.type[0]: unknown type "
                            "'SURVEY_CALBACK'") for e in errors), errors
    assert any(e.startswith("processing.qualification[0].guard.status[0]: unknown status "
                            "'NEWW'") for e in errors), errors
    assert any(e.startswith("processing.channel_selection[0].rules[0].when[0].value: "
                            "unknown rating 'E'") for e in errors), errors


# -- assignment ------------------------------------------------------------------------
def test_assignment_checks() -> None:
    errors = _errors("""
assignment:
  territories:
    - id: us
      guard: {country: [US], channel: [DIRECT, PARTNER]}
      members: [{resource: REP-ANN}, {resource: REP-ANN, weight: 2}]
    - id: us
      guard: [{attribute: channel, op: like, value: D}]
      members: [{resource: REP-BOB}]
""")
    for expected in [
        "assignment.territories[0].guard.channel[1]: unknown channel 'PARTNER'",
        "assignment.territories[0].members[1].resource: duplicate resource 'REP-ANN'",
        "assignment.territories[1].id: duplicate id 'us'",
        "assignment.territories[1].guard[0].op: unknown operator 'like'",
    ]:
        assert any(e.startswith(expected) for e in errors), (expected, errors)


def test_territories_compiled_in_precedence_order() -> None:
    rules = make_rules("""
assignment:
  territories:
    - {id: b-low, precedence: 1, members: [{resource: R1}]}
    - {id: z-high, precedence: 10, guard: {country: [us]},
       members: [{resource: R2, weight: 3, capacity: 5}]}
    - {id: a-high, precedence: 10, members: [{resource: R3}, {resource: R4, capacity: null}]}
  fallback: DESK
""")
    assert [t.id for t in rules.territories] == ["a-high", "z-high", "b-low"]
    z = rules.territories[1]
    assert [(m.resource, m.weight, m.capacity) for m in z.members] == [("R2", 3, 5)]
    assert [(c.attribute, c.op, c.value) for c in z.guard] == [("country", "in", ["US"])]
    assert [(m.resource, m.weight, m.capacity) for m in rules.territories[0].members] == \
        [("R3", 1, None), ("R4", 1, None)]
    assert rules.fallback == "DESK"
    assert make_rules().territories == () and make_rules().fallback is None
