"""Lead updates (CONTRACT §5 `lead-updates`): move a lead along the pipeline, close it, or
register a lead leadstream does not know (origin EXTERNAL), as `simulate --leads` does."""

from __future__ import annotations

from typing import Any

import pytest

from tests.builders import input_lead, interaction, make_rules, run, ts

RULES = make_rules()
AT = 40



def _update(lead_id: str, status: str, at: float, party: str = "P1") -> dict[str, Any]:
    return {"lead_id": lead_id, "party_id": party, "status": status, "updated_at": ts(at)}


def test_update_closes_lead_then_no_link() -> None:
    r = run(RULES, leads=[input_lead("L1", created_at=AT - 1)])
    r.update(_update("L1", "CONVERTED", AT - 0.5))
    assert r.leads["L1"].status == "CONVERTED"
    r.feed(interaction("i1", at=AT))
    assert r.outcomes[-1].outcome == "PENDING"
    assert r.leads["L1"].interaction_ids == []


def test_update_moves_lead_along_pipeline_and_changes_choice() -> None:
    r = run(RULES, interaction("i1", at=AT),
            leads=[input_lead("L-a", created_at=AT - 2), input_lead("L-b", created_at=AT - 5)])
    assert r.outcomes[-1].lead_id == "L-a"       # same status: newest
    r.update(_update("L-b", "CONTACTED", AT + 0.5))
    assert r.leads["L-b"].status == "CONTACTED"
    r.feed(interaction("i2", at=AT + 1))
    assert r.outcomes[-1].lead_id == "L-b"       # now further along the pipeline


def test_update_reopens_lead() -> None:
    r = run(RULES, leads=[input_lead("L1", status="DEAD", created_at=AT - 1)])
    r.feed(interaction("i1", at=AT))
    assert r.outcomes[-1].outcome == "PENDING"
    r.update(_update("L1", "NEW", AT + 0.1))
    r.feed(interaction("i2", at=AT + 0.2))
    assert (r.outcomes[-1].outcome, r.outcomes[-1].lead_id) == ("LINKED", "L1")


def test_update_closes_interaction_created_lead() -> None:
    r = run(RULES, interaction("i1", at=0), interaction("i2", at=1))
    [lead_id] = r.leads
    r.update(_update(lead_id, "DEAD", 2))
    r.feed(interaction("i3", at=3))
    assert r.outcomes[-1].outcome == "PENDING"
    assert r.leads[lead_id].interaction_ids == ["i1", "i2"]


def test_input_lead_registered_as_external() -> None:
    r = run(RULES, leads=[input_lead("L1", created_at=AT - 1)])
    lead = r.leads["L1"]
    assert (lead.origin, lead.status, lead.party_id, lead.created_at) == \
        ("EXTERNAL", "NEW", "P1", ts(AT - 1))


def test_input_lead_optional_fields_kept() -> None:
    r = run(RULES, leads=[input_lead("L1", created_at=AT - 1, contact_id="C1", country="US",
                                     source_code="S1", attributes={"k": "v"})])
    lead = r.leads["L1"]
    assert (lead.contact_id, lead.country, lead.source_code, lead.attributes) == \
        ("C1", "US", "S1", {"k": "v"})


def test_update_of_unknown_lead_with_created_at_registers_it() -> None:
    r = run(RULES)
    r.update({"lead_id": "LX", "party_id": "P1", "status": "CONTACTED",
              "created_at": ts(AT - 1), "updated_at": ts(AT - 1)})
    assert (r.leads["LX"].origin, r.leads["LX"].status) == ("EXTERNAL", "CONTACTED")
    r.feed(interaction("i1", at=AT))
    assert (r.outcomes[-1].outcome, r.outcomes[-1].lead_id) == ("LINKED", "LX")


@pytest.mark.parametrize("record", [
    {"lead_id": "LX", "party_id": "P1", "status": "NEW", "updated_at": ts(1)},  # no created_at
    {"lead_id": "L1", "party_id": "P1", "status": "WON", "updated_at": ts(1)},  # unknown status
    {"party_id": "P1", "status": "NEW", "created_at": ts(0)},                   # no lead_id
    {"lead_id": "LX", "party_id": "P1", "status": "NEW", "created_at": "yesterday"},
], ids=["unknown lead without created_at", "unknown status", "no lead_id", "bad created_at"])
def test_bad_update_is_an_error_and_changes_nothing(record: dict[str, Any]) -> None:
    r = run(RULES, leads=[input_lead("L1", created_at=0)])
    before = {k: v.to_json() for k, v in r.leads.items()}
    em = r.pipe.lead_update(record)
    assert em.error
    assert {k: v.to_json() for k, v in r.leads.items()} == before


def test_status_update_keeps_score_and_ids() -> None:
    r = run(RULES, interaction("i1", at=0), interaction("i2", at=1))
    [lead_id] = r.leads
    r.update(_update(lead_id, "QUALIFIED", 2))
    lead = r.leads[lead_id]
    assert (lead.status, lead.interaction_score, lead.interaction_ids) == \
        ("QUALIFIED", 20, ["i1", "i2"])
    r.feed(interaction("i3", at=3))
    assert r.leads[lead_id].interaction_score == 30
