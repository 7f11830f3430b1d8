"""The lead's life after creation (CONTRACT §3 reevaluation on link, §4
`process_external_leads`, §10 edits, ownership of ids, deletion, history)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.processing import apply_lead_event, run_engines
from models.records import Lead, LeadEvent, LeadEventKind
from tests.builders import input_lead, interaction, make_rules, run, ts

PROCESSING = """
processing!:
  ratings: [A, B, C, D]
  channels: [DIRECT, INDIRECT_A, INDIRECT_B]
  defaults: {qualified: false, rating: null, channel: null}
  qualification:
    - id: q
      status: ACTIVE
      rules:
        - {id: q-score, when: [{attribute: interaction_score, op: gte, value: 30}], then: true}
        - {id: q-budget, when: {budget_status: APPROVED}, then: true}
  rating:
    - id: r
      status: ACTIVE
      rules:
        - {id: r-budget, when: {budget_status: APPROVED}, then: A}
        - {id: r-score, when: [{attribute: interaction_score, op: gte, value: 40}], then: B}
        - {id: r-any, when: {}, then: C}
  channel_selection:
    - id: c
      status: ACTIVE
      rules:
        - {id: c-direct, when: [{attribute: interaction_score, op: gte, value: 40}], then: DIRECT}
        - {id: c-us, when: {country: US}, then: INDIRECT_A}
        - {id: c-any, when: {}, then: INDIRECT_B}
"""
RULES = make_rules(PROCESSING)
NO_SCORE_RULES = make_rules(PROCESSING.replace("interaction_score", "purchase_amount"))


def runs(lead: Lead, trigger: str) -> list[tuple[str, Any]]:
    return [(p["engine"], p["result"]) for p in lead.processing if p.get("trigger") == trigger]


def created(rules: Any = RULES, **kw: Any) -> tuple[Any, str]:
    """P1 gets a lead from two 10-point callbacks (score 20): not qualified, INDIRECT_B."""
    r = run(rules, interaction("i1", at=0, **kw), interaction("i2", at=0.1, **kw))
    [lead_id] = r.leads
    return r, lead_id


def upd(lead_id: str, at: float, party: str = "P1", status: str | None = "NEW",
        **fields: Any) -> dict[str, Any]:
    doc = {"lead_id": lead_id, "party_id": party, "updated_at": ts(at), **fields}
    if status is not None:
        doc["status"] = status
    return doc


# ---------------------------------------------------------------- §3 reevaluation on link

def test_creation_audit_has_trigger_created() -> None:
    r, lid = created()
    lead = r.leads[lid]
    assert (lead.qualified, lead.rating, lead.channel) == (False, None, "INDIRECT_B")
    assert runs(lead, "CREATED") == [("qualification", False), ("channel_selection", "INDIRECT_B")]
    assert all(p["trigger"] == "CREATED" for p in lead.processing)


def test_link_requalifies_then_rates_and_rechannels() -> None:
    r, lid = created()
    r.feed(interaction("i3", at=1))  # 30: qualifies, rated C
    lead = r.leads[lid]
    assert (lead.interaction_score, lead.qualified, lead.rating) == (30, True, "C")
    assert runs(lead, "REEVALUATION") == [
        ("qualification", True), ("rating", "C"), ("channel_selection", "INDIRECT_B")]
    assert all(p["at"] == ts(1) for p in lead.processing if p["trigger"] == "REEVALUATION")
    r.feed(interaction("i4", at=2))  # 40: rated B (better), routed DIRECT
    lead = r.leads[lid]
    assert (lead.rating, lead.channel) == ("B", "DIRECT")
    assert runs(lead, "REEVALUATION")[3:] == [("rating", "B"), ("channel_selection", "DIRECT")]


def test_link_never_downgrades_rating() -> None:
    rules = make_rules(PROCESSING.replace(
        "{id: r-score, when: [{attribute: interaction_score, op: gte, value: 40}], then: B}",
        "{id: r-score, when: [{attribute: interaction_score, op: lt, value: 35}], then: A}"))
    r, lid = created(rules)
    r.feed(interaction("i3", at=1))  # 30 -> qualified, A
    assert (r.leads[lid].qualified, r.leads[lid].rating) == (True, "A")
    r.feed(interaction("i4", at=2))  # 40 -> the rating engine says C: A is kept
    lead = r.leads[lid]
    assert (lead.interaction_score, lead.rating) == (40, "A")
    assert runs(lead, "REEVALUATION")[-2] == ("rating", "C")  # audited as run


def test_worked_lead_keeps_its_channel() -> None:
    r, lid = created()
    r.update(upd(lid, 0.5, status="CONTACTED"))
    r.feed(interaction("i3", at=1), interaction("i4", at=2))  # 40: DIRECT if still NEW
    lead = r.leads[lid]
    assert (lead.qualified, lead.rating, lead.channel) == (True, "B", "INDIRECT_B")
    assert "channel_selection" not in [e for e, _ in runs(lead, "REEVALUATION")]


@pytest.mark.parametrize("score", [0, -5])
def test_score_not_above_zero_changes_only_the_score(score: int) -> None:
    rules = make_rules(PROCESSING + f"""
interaction_rule_sets:
  - {{id: seeded, status: ACTIVE, precedence: 1, guard: {{}}, scores: default}}
  - {{id: neg, status: ACTIVE, precedence: 9, guard: {{source_code: [NEG]}},
     scores: {{SURVEY_CALLBACK: {score}}}}}
""")
    r, lid = created(rules)
    before = r.leads[lid]
    r.feed(interaction("i3", at=1, source_code="NEG"))
    lead = r.leads[lid]
    assert lead.interaction_score == 20 + score
    assert lead.processing == before.processing
    assert (lead.qualified, lead.rating, lead.channel) == (False, None, "INDIRECT_B")


def test_no_rule_on_interaction_score_no_reevaluation() -> None:
    r, lid = created(NO_SCORE_RULES)
    before = r.leads[lid]
    r.feed(interaction("i3", at=1), interaction("i4", at=2))
    lead = r.leads[lid]
    assert lead.interaction_score == 40
    assert lead.processing == before.processing


# ---------------------------------------------------------------- §10 edits

def test_edit_upgrades_then_downgrades_from_scratch() -> None:
    r, lid = created()
    r.update(upd(lid, 1, attributes={"budget_status": "APPROVED", "note": "x"}))
    lead = r.leads[lid]
    assert (lead.qualified, lead.rating, lead.channel) == (True, "A", "INDIRECT_B")
    assert lead.attributes == {"budget_status": "APPROVED", "note": "x"}
    assert runs(lead, "EDIT") == [("qualification", True), ("rating", "A"),
                                  ("channel_selection", "INDIRECT_B")]
    r.update(upd(lid, 2, attributes={"budget_status": None}))  # null removes the key
    lead = r.leads[lid]
    assert lead.attributes == {"note": "x"}
    assert (lead.qualified, lead.rating) == (False, None)  # down: the grade follows the data
    assert runs(lead, "EDIT")[3:] == [("qualification", False),
                                      ("channel_selection", "INDIRECT_B")]


def test_edit_of_worked_lead_regrades_but_keeps_channel() -> None:
    r, lid = created()
    r.update(upd(lid, 1, status="CONTACTED", country="US"))
    lead = r.leads[lid]
    assert (lead.status, lead.country, lead.channel) == ("CONTACTED", "US", "INDIRECT_B")
    assert runs(lead, "EDIT") == [("qualification", False)]


def test_edit_in_default_status_rechannels() -> None:
    r, lid = created()
    r.update(upd(lid, 1, country="US"))
    assert r.leads[lid].channel == "INDIRECT_A"
    assert runs(r.leads[lid], "EDIT")[-1] == ("channel_selection", "INDIRECT_A")


@pytest.mark.parametrize("fields", [
    {"status": "CONTACTED"},                       # status alone
    {"attributes": {}},                            # empty patch
    {"attributes": {"gone": None}},                # removes nothing
    {"contact_id": None},                          # already null
], ids=["status", "empty-patch", "remove-missing", "same-value"])
def test_no_visible_change_runs_no_engine(fields: dict[str, Any]) -> None:
    r, lid = created()
    before = r.leads[lid]
    r.update(upd(lid, 1, **fields))
    lead = r.leads[lid]
    assert lead.processing == before.processing
    assert lead.updated_at == ts(1)


def test_edit_of_closed_lead_changes_data_only() -> None:
    r, lid = created()
    r.update(upd(lid, 1, status="DEAD", attributes={"budget_status": "APPROVED"}))
    lead = r.leads[lid]
    assert (lead.status, lead.attributes, lead.qualified) == (
        "DEAD", {"budget_status": "APPROVED"}, False)
    assert runs(lead, "EDIT") == []


def test_stale_edit_is_ignored() -> None:
    r, lid = created()
    r.update(upd(lid, 2, status="CONTACTED"))
    r.update(upd(lid, 1, country="US"))
    assert r.leads[lid].country is None and r.leads[lid].status == "CONTACTED"


def test_contact_edit_moves_b2b_matching() -> None:
    rules = make_rules(PROCESSING, match_b2b_lead_contact=True)
    r, lid = created(rules, contact_id="C1")
    r.update(upd(lid, 1, contact_id="C2"))
    r.feed(interaction("i3", at=2, contact_id="C1"))
    assert r.last("i3").outcome == "PENDING"
    r.feed(interaction("i4", at=3, contact_id="C2"))
    assert (r.last("i4").outcome, r.last("i4").lead_id) == ("LINKED", lid)


def test_snapshot_order_and_updated_at() -> None:
    r, lid = created()
    em = r.pipe.lead_update(upd(lid, 1, source_code="web-form"))
    assert [lead.lead_id for lead in em.leads] == [lid]
    assert em.leads[0].updated_at == ts(1)


# ---------------------------------------------------------------- §10 ownership, deletion

@pytest.mark.parametrize("extra", [{}, {"created_at": ts(0)}, {"deleted": True}],
                         ids=["edit", "register", "delete"])
def test_update_of_other_partys_lead_changes_nothing(extra: dict[str, Any]) -> None:
    r, lid = created()
    before = {k: v.to_json() for k, v in r.leads.items()}
    em = r.pipe.lead_update(upd(lid, 1, party="P2", status="DEAD", **extra))
    assert em.error == "lead belongs to another party"
    assert {k: v.to_json() for k, v in r.leads.items()} == before
    assert "P2" not in r.pipe.parties
    r.feed(interaction("i3", at=2))
    assert r.last("i3").lead_id == lid


def test_external_lead_id_is_owned_too() -> None:
    r = run(RULES, leads=[input_lead("X1", created_at=0)])
    em = r.pipe.lead_update({**input_lead("X1", party="P2", created_at=0)})
    assert em.error == "lead belongs to another party"
    assert r.leads["X1"].party_id == "P1"


def test_deletion_tombstone_new_window_links_stay() -> None:
    r, lid = created()
    links_before = list(r.links)
    em = r.pipe.lead_update(upd(lid, 1, deleted=True))
    assert em.error is None and em.deleted == [lid] and em.leads == []
    assert lid not in r.leads
    assert r.pipe.parties["P1"].leads == ()
    r.feed(interaction("i3", at=2))
    assert r.last("i3").outcome == "PENDING"  # a new window
    r.feed(interaction("i4", at=2.1))
    assert r.last("i4").outcome == "LINKED" and r.last("i4").lead_id != lid
    assert r.links[:2] == links_before
    again = r.pipe.lead_update(upd(lid, 3, created_at=ts(0)))
    assert again.error is not None and "deleted" in again.error
    assert lid not in r.leads
    other = r.pipe.lead_update(upd(lid, 3, party="P2", created_at=ts(0)))
    assert other.error == "lead belongs to another party"


def test_interactions_of_deleted_lead_stay_duplicates() -> None:
    r, lid = created()
    r.pipe.lead_update(upd(lid, 1, deleted=True))
    r.feed(interaction("i1", at=2))
    assert r.last("i1").outcome == "DUPLICATE"


# ---------------------------------------------------------------- §4 process_external_leads

@pytest.mark.parametrize("process", [True, False])
def test_external_leads_processed_only_when_asked(process: bool) -> None:
    rules = make_rules(PROCESSING.replace(
        "defaults: {qualified: false, rating: null, channel: null}",
        f"defaults: {{qualified: false, rating: null, channel: null}}\n"
        f"  process_external_leads: {str(process).lower()}"))
    r = run(rules, leads=[input_lead("X1", created_at=0, interaction_score=45,
                                     updated_at=ts(0.5))])
    lead = r.leads["X1"]
    if process:
        assert (lead.qualified, lead.rating, lead.channel) == (True, "B", "DIRECT")
        assert {p["trigger"] for p in lead.processing} == {"CREATED"}
        assert {p["at"] for p in lead.processing} == {ts(0)}
    else:
        assert (lead.qualified, lead.rating, lead.channel, lead.processing) == (
            None, None, None, [])


def test_external_lead_given_results_are_kept_when_processed() -> None:
    rules = make_rules(PROCESSING + "\nprocessing:\n  process_external_leads: true\n")
    r = run(rules, leads=[input_lead("X1", created_at=0, qualified=True, rating="D",
                                     channel="INDIRECT_A")])
    lead = r.leads["X1"]
    assert (lead.qualified, lead.rating, lead.channel, lead.processing) == (
        True, "D", "INDIRECT_A", [])


# ---------------------------------------------------------------- property

SCORES = st.lists(st.tuples(st.integers(-10, 25), st.booleans()), min_size=1, max_size=12)
PROP_RULES = make_rules("""
processing!:
  ratings: [A, B, C, D]
  channels: [DIRECT, INDIRECT_A, INDIRECT_B]
  defaults: {qualified: false, rating: D, channel: INDIRECT_B}
  qualification:
    - id: q
      status: ACTIVE
      rules:
        - {id: q1, when: [{attribute: interaction_score, op: between, value: [25, 60]}],
           then: true}
  rating:
    - id: r
      status: ACTIVE
      rules:
        - {id: ra, when: [{attribute: interaction_score, op: between, value: [30, 35]}], then: A}
        - {id: rb, when: [{attribute: interaction_score, op: gte, value: 50}], then: B}
        - {id: rc, when: [{attribute: interaction_score, op: lt, value: 30}], then: C}
  channel_selection:
    - id: c
      status: ACTIVE
      guard: [{attribute: interaction_score, op: gte, value: 0}]
      rules:
        - {id: c1, when: [{attribute: interaction_score, op: lt, value: 40}], then: DIRECT}
        - {id: c2, when: {}, then: INDIRECT_A}
""")
RANK = {"A": 0, "B": 1, "C": 2, "D": 3, None: 4}


@settings(max_examples=150, deadline=None)
@given(start=st.integers(0, 40), steps=SCORES)
def test_link_never_lowers_rating_nor_moves_worked_channel(
        start: int, steps: list[tuple[int, bool]]) -> None:
    lead: Lead | None = run_engines(
        Lead("L1", "P1", "NEW", ts(0), 0.0, interaction_score=start), PROP_RULES, ts(0))
    for n, (score, work) in enumerate(steps):
        assert lead is not None
        if work:  # someone works the lead now and then
            lead = apply_lead_event(lead, LeadEvent(
                LeadEventKind.STATUS, "L1", "P1", ts(n), None, status="CONTACTED"), PROP_RULES)
            assert lead is not None
        old = lead
        lead = apply_lead_event(old, LeadEvent(
            LeadEventKind.LINKED, "L1", "P1", ts(n, 1), None, interaction_id=f"i{n}",
            score=score), PROP_RULES)
        assert lead is not None
        assert lead.interaction_score == old.interaction_score + score
        if old.qualified:
            assert lead.qualified and RANK[lead.rating] <= RANK[old.rating]
        if old.status != "NEW":
            assert lead.channel == old.channel
        if score <= 0:
            assert (lead.qualified, lead.rating, lead.channel, lead.processing) == (
                old.qualified, old.rating, old.channel, old.processing)


def test_reevaluated_channel_replaced_by_a_different_result_even_none() -> None:
    rules = make_rules("""
processing!:
  ratings: [A, B]
  channels: [DIRECT, INDIRECT_A]
  defaults: {qualified: false, rating: null, channel: null}
  channel_selection:
    - id: c
      status: ACTIVE
      rules:
        - {id: low, when: [{attribute: interaction_score, op: lt, value: 25}], then: DIRECT}
""")
    r, lid = created(rules)
    assert r.leads[lid].channel == "DIRECT"
    r.feed(interaction("i3", at=1))  # 30: no rule holds, the default (none) replaces DIRECT
    lead = r.leads[lid]
    assert lead.channel is None
    assert runs(lead, "REEVALUATION") == [("qualification", False), ("channel_selection", None)]
