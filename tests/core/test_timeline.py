"""The lead's timeline (CONTRACT §10 history): links with running score, engine runs and
edits in order; attribute values only for the admin."""

from __future__ import annotations

from core.timeline import build_timeline
from models.records import Lead
from tests.builders import input_lead, interaction, make_rules, run, ts
from tests.core.test_lifecycle import PROCESSING

RULES = make_rules(PROCESSING + """
interaction_rule_sets:
  - {id: seeded, status: ACTIVE, precedence: 1, guard: {}, scores: default}
  - {id: neg, status: ACTIVE, precedence: 9, guard: {source_code: [NEG]},
     scores: {SURVEY_CALLBACK: -4}}
""")


def test_timeline_in_order_with_running_score() -> None:
    r = run(RULES, interaction("i1", at=0), interaction("i2", at=0.1))
    [lid] = r.leads
    r.feed(interaction("i3", at=1, source_code="NEG"), interaction("i4", at=2))
    r.update({"lead_id": lid, "party_id": "P1", "status": "CONTACTED", "updated_at": ts(3),
              "attributes": {"budget_status": "APPROVED"}})
    doc = r.pipe.timeline(lid, include_attributes=True)
    assert doc is not None and doc["lead"]["lead_id"] == lid
    kinds = [(e["kind"], e.get("interaction_id") or e.get("engine")) for e in doc["timeline"]]
    assert kinds == [
        ("created", None), ("link", "i1"), ("link", "i2"),
        ("engine", "qualification"), ("engine", "channel_selection"),
        ("link", "i3"),                                  # -4: no reevaluation
        ("link", "i4"),                                  # 26: reevaluated, still not qualified
        ("engine", "qualification"), ("engine", "channel_selection"),
        ("edit", None), ("engine", "qualification"), ("engine", "rating"),
    ]
    links = [e for e in doc["timeline"] if e["kind"] == "link"]
    assert [(e["score"], e["running_score"]) for e in links] == [
        (10, 10), (10, 20), (-4, 16), (10, 26)]
    assert [e["interaction_id"] for e in links] == ["i1", "i2", "i3", "i4"]
    assert [(e["occurred_at"], e["interaction_type"]) for e in links[2:]] == [
        (ts(1), "SURVEY_CALLBACK"), (ts(2), "SURVEY_CALLBACK")]
    assert links[2]["source_code"] == "NEG"
    edit = doc["timeline"][9]
    assert edit["changes"] == {"status": ["NEW", "CONTACTED"],
                               "attributes": {"budget_status": [None, "APPROVED"]}}
    assert doc["timeline"][-1]["trigger"] == "EDIT"
    assert doc["lead"]["attributes"] == {"budget_status": "APPROVED"}


def test_attribute_values_hidden_without_admin() -> None:
    r = run(RULES, leads=[input_lead("X1", created_at=0, attributes={"email": "a@b.c"})])
    r.update({"lead_id": "X1", "party_id": "P1", "status": "NEW", "updated_at": ts(1),
              "attributes": {"email": "x@y.z"}})
    doc = r.pipe.timeline("X1")
    assert doc is not None
    assert "attributes" not in doc["lead"] and doc["lead"]["attribute_names"] == ["email"]
    assert "a@b.c" not in str(doc) and "x@y.z" not in str(doc)
    [edit] = [e for e in doc["timeline"] if e["kind"] == "edit"]
    assert edit["changes"] == {"attributes": ["email"]}


def test_external_lead_starts_at_its_given_score() -> None:
    r = run(RULES, leads=[input_lead("X1", created_at=0, interaction_score=7)])
    r.feed(interaction("i1", at=1))
    doc = r.pipe.timeline("X1")
    assert doc is not None
    assert doc["timeline"][0] == {"kind": "created", "at": ts(0), "origin": "EXTERNAL",
                                  "interaction_score": 7}
    assert doc["timeline"][1]["running_score"] == 17


def test_deleted_lead_has_no_timeline() -> None:
    r = run(RULES, interaction("i1", at=0), interaction("i2", at=0.1))
    [lid] = r.leads
    r.pipe.lead_update({"lead_id": lid, "party_id": "P1", "status": "NEW",
                        "updated_at": ts(1), "deleted": True})
    assert r.pipe.timeline(lid) is None
    assert lid not in r.pipe.history


def test_build_timeline_puts_later_audit_entries_last() -> None:
    r = run(RULES, interaction("i1", at=0), interaction("i2", at=0.1))
    [lid] = r.leads
    lead = r.leads[lid].copy()
    lead.processing.append({"engine": "assignment", "trigger": "CREATED", "result": "REP"})
    doc = build_timeline(lead, r.pipe.history[lid])
    assert doc["timeline"][-1] == {"kind": "engine", "engine": "assignment",
                                   "trigger": "CREATED", "result": "REP"}


def test_history_is_bounded_and_says_how_much_it_dropped() -> None:
    from core.timeline import append_history

    h: list[dict[str, object]] = [{"kind": "created", "n": 0}]
    for i in range(10):
        append_history(h, [{"kind": "link", "n": i, "interaction_id": f"i{i}"}], limit=5)
        assert len(h) <= 5
    assert h[0] == {"kind": "created", "n": 0}
    assert h[1]["kind"] == "dropped" and h[1]["count"] == 7
    assert [e["interaction_id"] for e in h[2:]] == ["i7", "i8", "i9"]
    lead = Lead("L1", "P1", "NEW", ts(0), 0.0)
    doc = build_timeline(lead, h)
    assert doc["timeline"][1] == {"kind": "dropped", "count": 7}
