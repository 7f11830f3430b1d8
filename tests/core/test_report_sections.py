"""The §12 sections of the Lead Linking Report: rule sets of the config, by source code / type /
day, the funnel of the final leads, import batches."""

from __future__ import annotations

from typing import Any

from core import report as rep
from core.pipeline import Pipeline
from tests.builders import input_lead, interaction, make_rules, ts

RULES = make_rules("""
lead_statuses!:
  - {code: NEW, open: true}
  - {code: WORKING, open: true}
  - {code: WON, open: false, won: true}
  - {code: LOST, open: false}
feeds!: {}
interaction_rule_sets!:
  - {id: seeded, name: Seeded, status: ACTIVE, precedence: 1, scores: default}
  - {id: idle, name: Never Used, status: DRAFT, precedence: 7, scores: default}
processing:
  qualification:
    - id: q
      status: ACTIVE
      precedence: 1
      rules:
        - {id: q1, when: {country: US}, then: true}
  rating:
    - id: r
      status: ACTIVE
      precedence: 1
      rules:
        - {id: r1, when: {}, then: B}
  channel_selection:
    - id: c
      status: ACTIVE
      precedence: 1
      rules:
        - {id: c1, when: {country: US}, then: DIRECT}
""", default_lead_status="NEW")


def _import(iid: str, osr: str, party: str, batch: str | None, at: float = 0,
            **extra: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "import_interface_id": iid, "source_system": "CRM", "orig_system_reference": osr,
        "party_id": party, "created_at": ts(at), "source_code": "FAIR", **extra,
    }
    if batch is not None:
        rec["batch_id"] = batch
    return rec


def _run() -> Pipeline:
    pipe = Pipeline(RULES)
    pipe.lead_update(input_lead("X1", party="X", status="WON", created_at=0))
    for rec in (
        _import("I1", "o1", "M", "B1", country="US"),
        _import("I2", "o2", "M", "B1", at=1, interaction_id="m9"),  # DEDUPE duplicate + link
        _import("I3", "o3", "N", None, country="FR"),
        {"import_interface_id": "I4", "source_system": "CRM", "batch_id": "B1"},  # ERROR
    ):
        pipe.import_record(rec)
    for rec in (
        interaction("a1", party="A", type="WEB_AD_VISIT", at=0, source_code="ADS"),
        interaction("a2", party="A", at=0.5, source_code="CALLS", country="US"),
        interaction("a3", party="A", at="2024-03-01T23:30:00-05:00", source_code="CALLS",
                    country="US"),  # UTC day 2024-03-02: creates the lead
        interaction("a4", party="A", type="EMAIL_CLICKTHROUGH", at=3),  # linked to it
        interaction("b1", party="B", type="WEB_AD_VISIT", at=0),  # pending
        interaction("b1", party="B", type="WEB_AD_VISIT", at=0),  # duplicate
        b"{not json",                                              # rejected
    ):
        pipe.interaction(rec)
    return pipe


def test_every_rule_set_of_the_config_is_listed_even_when_it_scored_nothing() -> None:
    report = _run().report_result()
    assert report["rules_version"] == RULES.version
    assert list(report["rule_sets"]) == ["idle", "seeded"]
    assert report["rule_sets"]["idle"] == {
        "name": "Never Used", "status": "DRAFT", "precedence": 7, **dict.fromkeys(rep.COLUMNS, 0)}
    seeded = report["rule_sets"]["seeded"]
    assert (seeded["name"], seeded["status"], seeded["precedence"]) == ("Seeded", "ACTIVE", 1)
    assert (seeded["scored"], seeded["leads_created"], seeded["linked_existing"]) == (5, 1, 1)


def test_by_source_code_type_and_utc_day() -> None:
    report = _run().report_result()
    row = dict.fromkeys(rep.DIM_COLUMNS, 0)
    assert report["by_source_code"] == {
        "(none)": row | {"interactions": 3, "scored": 2, "linked": 1},  # b1 twice: one DUPLICATE
        "ADS": row | {"interactions": 1, "scored": 1, "linked": 1},
        "CALLS": row | {"interactions": 2, "scored": 2, "linked": 2, "leads_created": 1},
    }
    by_type = report["by_interaction_type"]
    assert by_type["SURVEY_CALLBACK"] == row | {"interactions": 2, "scored": 2, "linked": 2,
                                                 "leads_created": 1}
    assert by_type["WEB_AD_VISIT"] == row | {"interactions": 3, "scored": 2, "linked": 1}
    assert report["by_day"]["2024-03-02"] == row | {"interactions": 1, "scored": 1, "linked": 1,
                                                     "leads_created": 1}
    # every valid interaction once per section; the rejected line in none
    for section in rep.DIMENSIONS:
        assert sum(r["interactions"] for r in report[section].values()) == \
            report["total"]["interactions"] - report["total"]["rejected"]
        assert sum(r["leads_created"] for r in report[section].values()) == \
            report["total"]["leads_created"]


def test_funnel_from_the_final_leads() -> None:
    pipe = _run()
    report = pipe.report_result()
    assert report["leads"] == len(pipe.leads) == 4
    assert report["funnel"] == {
        "leads": {"EXTERNAL": 1, "IMPORT": 2, "INTERACTION": 1},
        "qualified": 2,                       # the US import and the US interaction lead
        "rated": {"B": 2},
        "routed": {"DIRECT": 2},
        "unrouted": 1,                        # the FR import; the WON external lead is closed
        "assigned": {},
        "converted": 1,                       # X1 is in a won status
    }


def test_import_batches() -> None:
    report = _run().report_result()
    assert report["imports"] == {"SUCCESS": 2, "DUPLICATE": 1, "ERROR": 1}
    assert report["import_batches"] == {
        "(none)": {"SUCCESS": 1, "DUPLICATE": 0, "ERROR": 0, "links": 0},
        "B1": {"SUCCESS": 1, "DUPLICATE": 1, "ERROR": 1, "links": 1},
    }


def test_merge_adds_every_count_section_and_result_is_stable() -> None:
    counts = _run().report
    doubled = rep.merge(counts, counts)
    assert doubled["by_day"]["2024-03-02"]["leads_created"] == 2
    assert doubled["import_batches"]["B1"]["links"] == 2
    assert doubled["rule_sets"]["seeded"]["scored"] == 10
    again = rep.result(rep.merge(counts, rep.initialize()), RULES, _run().leads.values())
    assert again == _run().report_result()


def test_funnel_skips_deleted_leads_and_merges() -> None:
    leads = [{"origin": "IMPORT", "status": "NEW", "qualified": True, "rating": "A",
              "channel": None, "owner": "REP-1"}, None]
    one = rep.funnel(leads, ["NEW"], [])
    assert one["leads"] == {"IMPORT": 1} and one["unrouted"] == 1
    assert one["assigned"] == {"REP-1": 1}
    two = rep.merge_funnels(one, one)
    assert two["rated"] == {"A": 2} and two["qualified"] == 2
