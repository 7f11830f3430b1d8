"""The Lead Linking Report (CONTRACT §8): per rule set and in total, interactions scored, linked
to existing leads, leads created, pending, expired, and the other outcomes."""

from __future__ import annotations

from collections import Counter
from typing import Any

from core import report as rep
from offline.simulate import OutcomeBook
from tests.builders import input_lead, interaction, make_rules, run

RULES = make_rules("""
interaction_types:
  - {code: SURVEY_CALLBACK, default_score: 10}
  - {code: WEB_AD_VISIT, default_score: 1}
  - {code: ITEM_INQUIRY, default_score: 3}
  - {code: WEB_COLLABORATION, default_score: 2, enabled: false}
feeds!: {}
interaction_rule_sets:
  - {id: seeded, status: ACTIVE, precedence: 1, scores: {SURVEY_CALLBACK: 10, WEB_AD_VISIT: 1}}
  - {id: promo, status: ACTIVE, precedence: 5, guard: {source_code: PROMO},
     scores: {WEB_AD_VISIT: 20}}
""")

MIXED: list[Any] = [
    interaction("a1", party="A", type="WEB_AD_VISIT", at=0, source_code="PROMO"),  # promo: lead
    interaction("a2", party="A", at=1),                       # seeded: linked to existing
    interaction("b1", party="B", type="WEB_AD_VISIT", at=0),  # seeded: pending, later expired
    interaction("b2", party="B", type="WEB_AD_VISIT", at=31),  # seeded: pending
    interaction("c1", party="C", at=0),                       # seeded: pending -> new lead
    interaction("c2", party="C", at=2),                       # seeded: creates the lead
    interaction("e1", party="E", at=5),                       # seeded: linked to input lead E1
    interaction("e1", party="E", at=5),                       # duplicate
    interaction("g1", party="GUEST", at=0),                   # guest
    interaction("n1", party="A", type="ITEM_INQUIRY", at=3),  # no rule
    interaction("d1", party="A", type="WEB_COLLABORATION", at=3),  # type disabled
    b"{broken",                                               # rejected
    interaction("x1", party="B", type="NOPE", at=3),          # rejected
]


def _run() -> Any:
    return run(RULES, *MIXED, leads=[input_lead("E1", party="E", created_at=1)])


def test_counts_per_rule_set_and_total() -> None:
    r = _run()
    report = rep.result(r.pipe.report)
    assert report["rule_sets"]["promo"] == {
        "scored": 1, "linked_existing": 0, "linked_new_lead": 1, "leads_created": 1,
        "pending": 0, "expired": 0,
    }
    assert report["rule_sets"]["seeded"] == {
        "scored": 6, "linked_existing": 2, "linked_new_lead": 2, "leads_created": 1,
        "pending": 1, "expired": 1,
    }
    t = report["total"]
    assert t["interactions"] == len(MIXED)
    assert (t["scored"], t["linked_existing"], t["leads_created"], t["pending"], t["expired"]) == \
        (7, 2, 2, 1, 1)
    assert (t["guest"], t["duplicate"], t["no_rule"], t["type_disabled"], t["rejected"]) == \
        (1, 1, 1, 1, 2)


def test_report_totals_match_final_outcomes() -> None:
    r = run(RULES, leads=[input_lead("E1", party="E", created_at=1)])
    book = OutcomeBook()
    for n, rec in enumerate(MIXED, start=1):
        em = r.pipe.interaction(rec)
        book.record(n, em.outcomes)
    rows = list(book.rows())
    assert [row["line"] for row in rows] == list(range(1, len(MIXED) + 1))
    finals = Counter(row["outcome"] for row in rows)
    t = r.pipe.report["total"]
    assert t["interactions"] == len(rows)
    assert t["linked_existing"] + t["linked_new_lead"] == finals["LINKED"]
    for code in ("pending", "expired", "guest", "duplicate", "no_rule", "type_disabled",
                 "rejected"):
        assert t[code] == finals[code.upper()], code
    assert t["leads_created"] == len(r.interaction_leads())
    assert sum(row["score"] is not None for row in rows) == t["scored"]


def test_rule_sets_listed_in_id_order() -> None:
    assert list(rep.result(_run().pipe.report)["rule_sets"]) == ["promo", "seeded"]


def test_merge_of_two_partial_reports_equals_one() -> None:
    whole = _run().pipe.report
    first = run(RULES, *MIXED[:6])
    second = run(RULES, *MIXED[6:], leads=[input_lead("E1", party="E", created_at=1)])
    merged = rep.merge(first.pipe.report, second.pipe.report)
    assert merged["total"] == whole["total"]
    assert merged["rule_sets"] == rep.result(whole)["rule_sets"]
