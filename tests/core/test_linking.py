"""Step 6 of matching (CONTRACT §2.6): linking an interaction to an existing open lead."""

from __future__ import annotations

from typing import Any

import pytest

from tests.builders import input_lead, interaction, make_rules, run, ts

RULES = make_rules()
B2B = make_rules(match_b2b_lead_contact=True)

AT = 40  # interactions happen on day 40 after T0 unless said otherwise


def _linked_to(rules: Any, leads: list[dict[str, Any]], **it: Any) -> str | None:
    r = run(rules, interaction("i1", **{"at": AT, **it}), leads=leads)
    [out] = r.outcomes
    if out.outcome == "LINKED":
        return out.lead_id
    assert out.outcome == "PENDING"
    return None


@pytest.mark.parametrize(("status", "linked"), [
    ("NEW", True), ("CONTACTED", True), ("QUALIFIED", True), ("CONVERTED", False), ("DEAD", False),
])
def test_open_statuses_only(status: str, linked: bool) -> None:
    got = _linked_to(RULES, [input_lead("L1", status=status, created_at=AT - 1)])
    assert got == ("L1" if linked else None)


def test_open_flag_comes_from_config() -> None:
    rules = make_rules("""
lead_statuses:
  - {code: NEW, open: true}
  - {code: PARKED, open: false}
  - {code: WON, open: false}
""")
    assert _linked_to(rules, [input_lead("L1", status="PARKED", created_at=AT - 1)]) is None
    assert _linked_to(rules, [input_lead("L1", status="NEW", created_at=AT - 1)]) == "L1"


@pytest.mark.parametrize(("created_at", "linked"), [
    (ts(AT - 30), True),                 # exactly occurred_at - lookback
    (ts(AT - 30, seconds=-1), False),    # one second earlier
    (ts(AT - 30, seconds=1), True),
    (ts(AT), True),                      # same instant
    (ts(AT + 5), True),                  # created after the (late) interaction
], ids=["exactly lookback", "1s too early", "1s inside", "same instant", "later lead"])
def test_lookback_boundary(created_at: str, linked: bool) -> None:
    assert _linked_to(RULES, [input_lead("L1", created_at=created_at)]) == \
        ("L1" if linked else None)


def test_lookback_boundary_with_offsets() -> None:
    """The same instant written in another offset is the same boundary."""
    # ts(AT - 30) is 2024-03-11T00:00:00+00:00
    assert ts(AT - 30).startswith("2024-03-11T00:00:00")
    lead = input_lead("L1", created_at="2024-03-11T05:30:00+05:30")
    assert _linked_to(RULES, [lead]) == "L1"
    lead = input_lead("L1", created_at="2024-03-11T05:29:59+05:30")
    assert _linked_to(RULES, [lead]) is None


def test_lookback_days_from_profile() -> None:
    rules = make_rules(lead_interaction_lookback_days=7)
    assert _linked_to(rules, [input_lead("L1", created_at=AT - 7)]) == "L1"
    assert _linked_to(rules, [input_lead("L1", created_at=ts(AT - 7, seconds=-1))]) is None


# (name, leads, expected lead)
CHOICE: list[tuple[str, list[dict[str, Any]], str]] = [
    ("CONTACTED beats newer NEW",
     [input_lead("L-new", status="NEW", created_at=AT - 1),
      input_lead("L-con", status="CONTACTED", created_at=AT - 20)], "L-con"),
    ("QUALIFIED beats CONTACTED",
     [input_lead("L-con", status="CONTACTED", created_at=AT - 1),
      input_lead("L-qua", status="QUALIFIED", created_at=AT - 20)], "L-qua"),
    ("closed later status is not a candidate",
     [input_lead("L-new", status="NEW", created_at=AT - 10),
      input_lead("L-won", status="CONVERTED", created_at=AT - 1)], "L-new"),
    ("same status: newest created_at",
     [input_lead("L-a", created_at=AT - 10), input_lead("L-b", created_at=AT - 2),
      input_lead("L-c", created_at=AT - 5)], "L-b"),
    ("same status and created_at: smallest lead_id",
     [input_lead("L-c", created_at=AT - 2), input_lead("L-a", created_at=AT - 2),
      input_lead("L-b", created_at=AT - 2)], "L-a"),
    ("out of lookback further along loses",
     [input_lead("L-new", status="NEW", created_at=AT - 1),
      input_lead("L-qua", status="QUALIFIED", created_at=AT - 31)], "L-new"),
    ("other party's lead is not a candidate",
     [input_lead("L-other", party="P2", status="QUALIFIED", created_at=AT - 1),
      input_lead("L-mine", status="NEW", created_at=AT - 20)], "L-mine"),
]


@pytest.mark.parametrize(("leads", "expected"), [c[1:] for c in CHOICE],
                         ids=[c[0] for c in CHOICE])
def test_lead_choice(leads: list[dict[str, Any]], expected: str) -> None:
    assert _linked_to(RULES, leads) == expected


B2B_LEADS = [
    input_lead("L-c1", status="NEW", created_at=AT - 1, contact_id="C1"),
    input_lead("L-c2", status="CONTACTED", created_at=AT - 5, contact_id="C2"),
]


@pytest.mark.parametrize(("b2b", "contact", "expected"), [
    (False, "C1", "L-c2"),   # off: pipeline order decides
    (True, "C1", "L-c1"),    # on: same contact only
    (True, "C2", "L-c2"),
    (True, "C3", None),      # on: no lead of that contact
    (True, None, "L-c2"),    # on, but no contact_id on the interaction: any lead
    (False, None, "L-c2"),
])
def test_b2b_contact_rule(b2b: bool, contact: str | None, expected: str | None) -> None:
    rules = B2B if b2b else RULES
    assert _linked_to(rules, B2B_LEADS, contact_id=contact) == expected


def test_b2b_lead_without_contact_is_not_same_contact() -> None:
    leads = [input_lead("L1", created_at=AT - 1)]
    assert _linked_to(B2B, leads, contact_id="C1") is None
    assert _linked_to(B2B, leads) == "L1"


def test_linking_adds_score_and_id_and_writes_link() -> None:
    r = run(RULES, interaction("i1", at=AT, type="SURVEY_CALLBACK"),
            interaction("i2", at=AT + 1, type="WEB_COLLABORATION"),
            leads=[input_lead("L1", created_at=AT - 1, interaction_score=7,
                              interaction_ids=["x0"])])
    lead = r.leads["L1"]
    assert lead.interaction_score == 7 + 10 + 2
    assert lead.interaction_ids == ["x0", "i1", "i2"]
    assert lead.status == "NEW"
    outs = [(o.interaction_id, o.outcome.value, o.lead_id, o.score, o.rule_set_id)
            for o in r.outcomes]
    assert outs == [("i1", "LINKED", "L1", 10, "seeded"), ("i2", "LINKED", "L1", 2, "seeded")]
    attribution = ("party_id", "interaction_type", "source_code", "occurred_at", "batch_id")
    assert [{k: v for k, v in lk.to_json().items() if k not in attribution}
            | {"interaction_lead_id": None} for lk in r.links] == [
        {"interaction_lead_id": None, "interaction_id": "i1", "sales_lead_id": "L1",
         "import_interface_id": None, "score": 10, "rule_set_id": "seeded",
         "rules_version": RULES.version, "created_at": ts(AT)},
        {"interaction_lead_id": None, "interaction_id": "i2", "sales_lead_id": "L1",
         "import_interface_id": None, "score": 2, "rule_set_id": "seeded",
         "rules_version": RULES.version, "created_at": ts(AT + 1)},
    ]
    assert r.links[0].interaction_lead_id != r.links[1].interaction_lead_id
    assert not r.pipe.parties["P1"].window  # linked interactions never enter the window


def test_negative_score_lowers_the_lead() -> None:
    rules = make_rules(
        "interaction_rule_sets: [{id: s, status: ACTIVE, scores: {WEB_AD_VISIT: -3}}]")
    r = run(rules, interaction("i1", type="WEB_AD_VISIT", at=AT),
            leads=[input_lead("L1", created_at=AT - 1, interaction_score=5)])
    assert r.leads["L1"].interaction_score == 2


def test_lead_created_from_window_is_then_linked() -> None:
    r = run(RULES, interaction("i1", at=0), interaction("i2", at=1), interaction("i3", at=2))
    assert [o.outcome.value for o in r.outcomes] == ["PENDING", "LINKED", "LINKED", "LINKED"]
    [lead] = r.leads.values()
    assert r.outcomes[-1].lead_id == lead.lead_id
    assert lead.interaction_score == 30 and lead.interaction_ids == ["i1", "i2", "i3"]
