"""Steps 2-5 of matching in order (CONTRACT §2): DUPLICATE, GUEST, TYPE_DISABLED, NO_RULE;
and rule changes (`rules_version` of what scored)."""

from __future__ import annotations

from typing import Any

import pytest

from core.matching import match_interaction
from core.validation import parse_interaction
from state.party import PartyState
from tests.builders import interaction, make_rules, run

RULES = make_rules()

DISABLED = make_rules("""
interaction_types:
  - {code: SURVEY_CALLBACK, name: Survey Callback, default_score: 10, enabled: true}
  - {code: WEB_AD_VISIT, name: Web Advertisement Visits, default_score: 1, enabled: false}
  - {code: ITEM_INQUIRY, name: Inquired about an item, default_score: 3, enabled: true}
feeds!: {}
interaction_rule_sets!:
  - {id: seeded, status: ACTIVE, precedence: 1, scores: {SURVEY_CALLBACK: 10}}
""")


def _codes(r: Any) -> list[str]:
    return [o.outcome.value for o in r.outcomes]


# --------------------------------------------------------------------------- DUPLICATE

def test_duplicate_while_pending_changes_nothing() -> None:
    """Counted twice, the two 10s would reach the IST of 20."""
    r = run(RULES, interaction("i1", at=0), interaction("i1", at=0))
    assert _codes(r) == ["PENDING", "DUPLICATE"]
    assert not r.leads and not r.links
    assert [e.interaction_id for e in r.pipe.parties["P1"].window] == ["i1"]


def test_duplicate_with_other_content_is_still_duplicate() -> None:
    r = run(RULES, interaction("i1", at=0),
            interaction("i1", type="SURVEY_CALLBACK", at=1, country="US"))
    assert _codes(r) == ["PENDING", "DUPLICATE"]


def test_duplicate_after_linked_into_new_lead() -> None:
    r = run(RULES, interaction("i1", at=0), interaction("i2", at=1), interaction("i1", at=0),
            interaction("i2", at=2))
    assert [o.outcome.value for o in r.outcomes[-2:]] == ["DUPLICATE", "DUPLICATE"]
    [lead] = r.leads.values()
    assert lead.interaction_score == 20
    assert lead.interaction_ids == ["i1", "i2"]
    assert len(r.links) == 2


def test_duplicate_after_linked_to_existing_lead() -> None:
    r = run(RULES, interaction("i1", at=0), interaction("i2", at=1), interaction("i3", at=2),
            interaction("i3", at=2))
    assert _codes(r)[-2:] == ["LINKED", "DUPLICATE"]
    [lead] = r.leads.values()
    assert lead.interaction_score == 30
    assert lead.interaction_ids == ["i1", "i2", "i3"]
    assert len(r.links) == 3


@pytest.mark.parametrize(("rules", "first", "code"), [
    (RULES, interaction("g1", party="GUEST"), "GUEST"),
    (DISABLED, interaction("d1", type="WEB_AD_VISIT"), "TYPE_DISABLED"),
    (DISABLED, interaction("n1", type="ITEM_INQUIRY"), "NO_RULE"),
], ids=["guest", "type disabled", "no rule"])
def test_duplicate_of_other_outcomes(rules: Any, first: dict[str, Any], code: str) -> None:
    r = run(rules, first, first)
    assert _codes(r) == [code, "DUPLICATE"]


def test_duplicate_of_expired() -> None:
    r = run(RULES, interaction("i1", at=10), interaction("old", at=-25),
            interaction("old", at=-25))
    assert _codes(r) == ["PENDING", "EXPIRED", "DUPLICATE"]


def test_duplicate_comes_before_guest() -> None:
    g = interaction("g1", party="GUEST")
    assert _codes(run(RULES, g, g)) == ["GUEST", "DUPLICATE"]


def test_rejected_comes_before_duplicate() -> None:
    r = run(RULES, interaction("i1", at=0), interaction("i1", type="NOT_A_TYPE", at=0))
    assert _codes(r) == ["PENDING", "REJECTED"]


def test_duplicate_outcome_has_no_score() -> None:
    r = run(RULES, interaction("i1", at=0), interaction("i1", at=0))
    dup = r.outcomes[-1]
    assert (dup.interaction_id, dup.score, dup.lead_id) == ("i1", None, None)


def test_redelivered_old_interaction_is_duplicate() -> None:
    """CONTRACT §2.2: an interaction_id seen before is DUPLICATE and changes nothing."""
    r = run(RULES, interaction("i1", at=0), interaction("i2", at=0),   # lead at day 0
            interaction("i3", type="WEB_AD_VISIT", at=40),              # clock moves on
            interaction("i1", at=0))                                   # re-delivered
    assert r.outcomes[-1].outcome == "DUPLICATE"
    assert len(r.links) == 2


def test_redelivered_old_interaction_survives_saved_state() -> None:
    """The same after the party state went through bytes (a restart)."""
    r = run(RULES, interaction("i1", at=0), interaction("i2", at=0),
            interaction("i3", type="WEB_AD_VISIT", at=40))
    r.pipe.reload()  # every party is loaded again from its stored header and parts
    r.feed(interaction("i1", at=0))
    assert r.outcomes[-1].outcome == "DUPLICATE"


# Re-deliveries of interactions that were NOT linked, after the party's clock moved more than
# the lookback past them. (name, records before, the re-delivered one)
REDELIVERED: list[tuple[str, list[dict[str, Any]], dict[str, Any]]] = [
    ("expired, window still holds a newer one",
     [interaction("i1", at=0), interaction("i2", type="WEB_AD_VISIT", at=40)],
     interaction("i1", at=0)),
    ("expired, then a lead created after it",
     [interaction("i1", at=0), interaction("i2", type="WEB_AD_VISIT", at=40),
      interaction("i3", at=40), interaction("i4", at=40)],
     interaction("i1", at=0)),
    ("guest", [interaction("g1", party="GUEST", at=0), interaction("g2", party="GUEST", at=40)],
     interaction("g1", party="GUEST", at=0)),
]


@pytest.mark.parametrize(("before", "again"), [c[1:] for c in REDELIVERED],
                         ids=[c[0] for c in REDELIVERED])
def test_redelivered_unlinked_old_interaction_changes_nothing(
        before: list[dict[str, Any]], again: dict[str, Any]) -> None:
    """CONTRACT §2.2 within bounded memory: seen ids are kept for the lookback only (issue 2),
    so an unlinked id re-sent beyond that horizon is not recognised as DUPLICATE; it must
    still change nothing: never linked, never pending, no lead or window changed (README)."""
    r = run(RULES, *before)
    leads = {k: v.to_json() for k, v in r.leads.items()}
    windows = {p: s.window for p, s in r.pipe.parties.items()}
    n_links = len(r.links)
    r.feed(again)
    assert r.outcomes[-1].outcome in ("DUPLICATE", "EXPIRED", "GUEST")
    assert r.outcomes[-1].lead_id is None
    assert len(r.links) == n_links
    assert {k: v.to_json() for k, v in r.leads.items()} == leads
    assert {p: s.window for p, s in r.pipe.parties.items()} == windows


def test_interaction_beyond_horizon_is_expired_with_reason() -> None:
    """A first-time interaction older than lookback behind the party's newest one cannot
    be told from a forgotten duplicate: EXPIRED at once with a reason, even if a lead would
    take it."""
    r = run(RULES, interaction("i1", at=50), interaction("i2", at=50),       # lead at day 50
            interaction("i3", type="WEB_AD_VISIT", at=85))                 # newest: day 85
    n_links = len(r.links)
    r.feed(interaction("i0", at=40))                                       # 45 days behind
    last = r.outcomes[-1]
    assert (last.interaction_id, last.outcome) == ("i0", "EXPIRED")
    assert last.reason and "lookback" in last.reason
    assert len(r.links) == n_links


# --------------------------------------------------------------------------- GUEST

def test_guest_never_scored_never_matched() -> None:
    r = run(RULES, interaction("g1", party="GUEST", at=0), interaction("g2", party="GUEST", at=0),
            interaction("g3", party="GUEST", at=0))
    assert _codes(r) == ["GUEST"] * 3
    assert all(o.score is None and o.lead_id is None for o in r.outcomes)
    assert not r.leads and not r.links


def test_guest_before_type_and_rule() -> None:
    rules = make_rules("""
profiles: {guest_party_ids: [G1, G2]}
interaction_types:
  - {code: SURVEY_CALLBACK, default_score: 10, enabled: false}
  - {code: ITEM_INQUIRY, default_score: 3}
feeds!: {}
interaction_rule_sets!: []
""")
    r = run(rules, interaction("a", party="G1", type="SURVEY_CALLBACK"),
            interaction("b", party="G2", type="ITEM_INQUIRY"),
            interaction("c", party="GUEST", type="SURVEY_CALLBACK"),
            interaction("d", party="P1", type="ITEM_INQUIRY"))
    assert _codes(r) == ["GUEST", "GUEST", "TYPE_DISABLED", "NO_RULE"]


def test_guest_does_not_touch_existing_leads() -> None:
    r = run(RULES, interaction("g1", party="GUEST", at=1),
            leads=[{"lead_id": "L1", "party_id": "GUEST", "status": "NEW",
                    "created_at": "2024-03-01T00:00:00Z"}])
    assert _codes(r) == ["GUEST"]
    assert r.leads["L1"].interaction_score == 0 and r.leads["L1"].interaction_ids == []


# --------------------------------------------------------------------------- TYPE_DISABLED

def test_type_disabled_before_no_rule() -> None:
    r = run(DISABLED, interaction("d1", type="WEB_AD_VISIT"))
    assert _codes(r) == ["TYPE_DISABLED"]
    assert r.outcomes[0].score is None


def test_type_disabled_even_with_scores_default() -> None:
    rules = make_rules("""
interaction_types:
  - {code: SURVEY_CALLBACK, default_score: 10, enabled: false}
  - {code: WEB_AD_VISIT, default_score: 1}
feeds!: {}
""")
    assert _codes(run(rules, interaction("x"))) == ["TYPE_DISABLED"]


# --------------------------------------------------------------------------- NO_RULE

NO_RULE_CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("type no rule set lists",
     "[{id: a, status: ACTIVE, scores: {WEB_AD_VISIT: 1}}]", {}),
    ("no rule sets", "[]", {}),
    ("every set DRAFT", "[{id: a, status: DRAFT, scores: default}]", {}),
    ("every set INACTIVE",
     "[{id: a, status: INACTIVE, scores: default}, {id: b, status: DRAFT, scores: default}]", {}),
    ("end_date passed",
     "[{id: a, status: ACTIVE, end_date: 2024-03-14, scores: default}]", {}),
    ("end_date passed by one day (late evening in its own offset)",
     "[{id: a, status: ACTIVE, end_date: 2024-03-14, scores: default}]",
     {"at": "2024-03-15T00:30:00+01:00"}),
    ("start_date in the future",
     "[{id: a, status: ACTIVE, start_date: 2024-03-16, scores: default}]", {}),
    ("guard not matching",
     "[{id: a, status: ACTIVE, guard: {country: [US]}, scores: default}]", {"country": "GB"}),
    ("guard on a missing attribute",
     "[{id: a, status: ACTIVE, guard: {product_category: Monitors}, scores: default}]", {}),
]


@pytest.mark.parametrize(("sets", "it"), [c[1:] for c in NO_RULE_CASES],
                         ids=[c[0] for c in NO_RULE_CASES])
def test_no_rule(sets: str, it: dict[str, Any]) -> None:
    rules = make_rules(f"interaction_rule_sets: {sets}")
    rec = interaction("i1", **{"at": "2024-03-15T12:00:00Z", **it})
    r = run(rules, rec)
    [out] = r.outcomes
    assert out.outcome == "NO_RULE"
    assert out.score is None and out.lead_id is None
    assert not r.pipe.parties["P1"].window


def test_no_rule_does_not_link_to_open_lead() -> None:
    rules = make_rules("interaction_rule_sets: []")
    r = run(rules, interaction("i1", at=1),
            leads=[{"lead_id": "L1", "party_id": "P1", "status": "NEW",
                    "created_at": "2024-03-01T00:00:00Z"}])
    assert _codes(r) == ["NO_RULE"]
    assert r.leads["L1"].interaction_ids == []


# --------------------------------------------------------------------------- state, rules

def test_match_interaction_does_not_mutate_given_state() -> None:
    state = PartyState()
    it = parse_interaction(interaction("i1", at=0), RULES)
    d1 = match_interaction(state, it, RULES)
    assert state == PartyState()
    d2 = match_interaction(state, it, RULES)
    assert d1.outcomes == d2.outcomes
    assert match_interaction(d1.state, it, RULES).outcomes[0].outcome == "DUPLICATE"


def test_rule_change_applies_to_later_interactions_only() -> None:
    """Each link and outcome records the rules_version that scored it; old scores stay."""
    v1 = RULES
    v2 = make_rules(
        "interaction_rule_sets: [{id: v2set, status: ACTIVE, scores: {SURVEY_CALLBACK: 12}}]")
    assert v1.version != v2.version
    r = run(v1, interaction("i1", at=0))
    r.pipe.rules = v2
    r.feed(interaction("i2", at=1))
    [lead] = r.leads.values()
    assert lead.interaction_score == 22
    by_id = {lk.interaction_id: lk for lk in r.links}
    assert (by_id["i1"].score, by_id["i1"].rule_set_id, by_id["i1"].rules_version) == \
        (10, "seeded", v1.version)
    assert (by_id["i2"].score, by_id["i2"].rule_set_id, by_id["i2"].rules_version) == \
        (12, "v2set", v2.version)
    final = {o.interaction_id: o for o in r.outcomes}
    assert final["i1"].rules_version == v1.version
    assert final["i2"].rules_version == v2.version
