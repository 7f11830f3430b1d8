"""`GET /leads/{lead_id}`'s pure parts (ops/lead_view.py): the stored table value to the
timeline view, and the HTML page (escaped, attribute values only for the admin)."""

from __future__ import annotations

from ops.lead_view import lead_timeline, render_timeline_html
from tests.builders import input_lead, interaction, make_rules, run, ts
from tests.core.test_lifecycle import PROCESSING

RULES = make_rules(PROCESSING)


def stored_of(r: object, lead_id: str) -> dict[str, object]:
    pipe = r.pipe  # type: ignore[attr-defined]
    return {"lead": pipe.leads[lead_id].to_json(), "offset": 3,
            "history": pipe.history[lead_id]}


def test_view_of_stored_value_equals_pipeline_timeline() -> None:
    r = run(RULES, interaction("i1", at=0), interaction("i2", at=0.1),
            interaction("i3", at=1))
    [lid] = r.leads
    doc = lead_timeline(stored_of(r, lid), include_attributes=False)
    assert doc == {"found": True, **r.pipe.timeline(lid)}  # type: ignore[dict-item]


def test_missing_and_deleted() -> None:
    assert lead_timeline(None, False) == {"found": False, "deleted": False}
    assert lead_timeline({"deleted": True, "offset": 4}, True) == {"found": False,
                                                                    "deleted": True}


def test_html_escapes_and_hides_values() -> None:
    r = run(RULES, leads=[input_lead("X<1>", created_at=0, source_code="<script>",
                                     attributes={"email": "a@b.c"})])
    r.update({"lead_id": "X<1>", "party_id": "P1", "status": "NEW", "updated_at": ts(1),
              "attributes": {"budget_status": "APPROVED"}})
    page = render_timeline_html(lead_timeline(stored_of(r, "X<1>"), False))
    assert "<script>" not in page.lower() and "&lt;script&gt;" in page.lower()
    assert "X&lt;1&gt;" in page and "a@b.c" not in page and "APPROVED" not in page
    assert "attributes changed: budget_status" in page
    assert "qualification (EDIT): True by rule q/q-budget" in page
    full = render_timeline_html(lead_timeline(stored_of(r, "X<1>"), True))
    assert "budget_status: None -&gt; &#x27;APPROVED&#x27;" in full
