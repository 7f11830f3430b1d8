"""Link attribution (CONTRACT §5) and the links imports make (§6)."""

from __future__ import annotations

from typing import Any

from core.pipeline import Pipeline
from tests.builders import interaction, make_rules, ts

RULES = make_rules("""
feeds!: {}
interaction_rule_sets:
  - {id: seeded, status: ACTIVE, precedence: 1, scores: default}
""")


def _import(iid: str, osr: str, party: str = "P1", at: float = 0, **extra: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "import_interface_id": iid, "source_system": "WEB", "orig_system_reference": osr,
        "party_id": party, "created_at": ts(at), "batch_id": "B-1", "source_code": "FORM-1",
    }
    rec.update(extra)
    return rec


def test_links_from_the_window_and_to_an_existing_lead_carry_the_interaction() -> None:
    pipe = Pipeline(RULES)
    links = []
    for rec in (
        interaction("a1", party="A", type="WEB_AD_VISIT", at=0, source_code="PROMO-1"),
        interaction("a2", party="A", type="SURVEY_CALLBACK", at=1, source_code="CALLS"),
        interaction("a3", party="A", type="SURVEY_CALLBACK", at=2, source_code="CALLS"),
        interaction("a4", party="A", type="EMAIL_CLICKTHROUGH", at=3),
    ):
        links += pipe.interaction(rec).links
    by_id = {lk.interaction_id: lk.to_json() for lk in links}
    assert set(by_id) == {"a1", "a2", "a3", "a4"}
    a1 = by_id["a1"]  # pending, then linked into the lead a3 created
    assert (a1["party_id"], a1["interaction_type"], a1["source_code"], a1["occurred_at"]) == \
        ("A", "WEB_AD_VISIT", "PROMO-1", ts(0))
    assert a1["created_at"] == ts(2)  # the decision that made the link
    a4 = by_id["a4"]  # linked to the existing lead
    assert (a4["interaction_type"], a4["source_code"], a4["occurred_at"]) == \
        ("EMAIL_CLICKTHROUGH", None, ts(3))
    assert all(lk["import_interface_id"] is None and lk["batch_id"] is None
               for lk in by_id.values())


def test_imported_lead_has_its_batch_and_a_link_to_the_named_interaction() -> None:
    pipe = Pipeline(RULES)
    em = pipe.import_record(_import("II-1", "R1", interaction_id="web-9",
                                    interaction_type="web_offer_visit", occurred_at=ts(-1)))
    assert em.import_results[0]["result"] == "SUCCESS"
    lead = em.leads[0]
    assert lead.batch_id == "B-1" and lead.interaction_ids == ["web-9"]
    (link,) = em.links
    assert link.to_json() | {"interaction_lead_id": None} == {
        "interaction_lead_id": None, "interaction_id": "web-9", "sales_lead_id": lead.lead_id,
        "import_interface_id": "II-1", "batch_id": "B-1", "score": None, "rule_set_id": None,
        "rules_version": None, "created_at": ts(0), "party_id": "P1",
        "interaction_type": "WEB_OFFER_VISIT", "source_code": "FORM-1", "occurred_at": ts(-1),
    }
    # the interaction itself arriving later is already linked: DUPLICATE, no second link
    later = pipe.interaction(interaction("web-9", party="P1", at=0.5))
    assert [o.outcome.value for o in later.outcomes] == ["DUPLICATE"] and not later.links


def test_duplicate_import_links_its_interaction_to_the_existing_lead_once() -> None:
    pipe = Pipeline(RULES)
    first = pipe.import_record(_import("II-1", "R1"))
    lead_id = first.import_results[0]["lead_id"]
    assert not first.links
    dup = pipe.import_record(_import("II-2", "R2", at=1, batch_id="B-2", interaction_id="web-7"))
    assert dup.import_results[0]["result"] == "DUPLICATE"
    assert dup.import_results[0]["lead_id"] == lead_id
    (link,) = dup.links
    assert (link.sales_lead_id, link.import_interface_id, link.batch_id, link.score) == \
        (lead_id, "II-2", "B-2", None)
    assert pipe.leads[lead_id].interaction_ids == ["web-7"]
    assert pipe.leads[lead_id].interaction_score == 0
    again = pipe.import_record(_import("II-3", "R3", at=2, interaction_id="web-7"))
    assert again.import_results[0]["result"] == "DUPLICATE" and not again.links
    assert pipe.leads[lead_id].interaction_ids == ["web-7"]


def test_interaction_already_linked_by_matching_gets_no_import_link() -> None:
    pipe = Pipeline(RULES)
    pipe.import_record(_import("II-1", "R1", source_code=None))
    em = pipe.interaction(interaction("web-1", party="P1", at=1))
    assert [lk.interaction_id for lk in em.links] == ["web-1"]
    lead_id = em.links[0].sales_lead_id
    dup = pipe.import_record(_import("II-2", "R2", at=1.5, source_code=None,
                                     interaction_id="web-1"))
    assert dup.import_results[0] == dup.import_results[0] | {"result": "DUPLICATE",
                                                              "lead_id": lead_id}
    assert not dup.links


def test_interaction_fields_of_an_import_are_checked() -> None:
    pipe = Pipeline(RULES)
    (res,) = pipe.import_record(_import("II-1", "R1", occurred_at="yesterday",
                                        interaction_type="X")).import_results
    assert res["result"] == "ERROR"
    assert any(e.startswith("occurred_at") for e in res["errors"])
    assert any(e.startswith("interaction_type: given without interaction_id")
               for e in res["errors"])


def test_import_links_show_in_the_lead_timeline() -> None:
    from core.timeline import build_timeline

    pipe = Pipeline(RULES, history=True)
    em = pipe.import_record(_import("II-1", "R1", interaction_id="web-9", occurred_at=ts(-1)))
    lead_id = em.leads[0].lead_id
    pipe.import_record(_import("II-2", "R2", at=1, interaction_id="web-10"))
    timeline = build_timeline(pipe.leads[lead_id], pipe.history[lead_id])
    links = [e for e in timeline["timeline"] if e.get("kind") == "link"]
    assert [(e["interaction_id"], e["import_interface_id"]) for e in links] == \
        [("web-9", "II-1"), ("web-10", "II-2")]
