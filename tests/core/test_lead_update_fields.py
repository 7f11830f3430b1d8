"""CONTRACT §5: every field of a lead update has the type of the Lead field of the same name;
`origin` cannot be set from outside; a bad update changes nothing and names the field."""

from __future__ import annotations

from typing import Any

import pytest

from core.lead_updates import parse_lead_update
from core.validation import InvalidRecord
from tests.builders import T0, input_lead, interaction, make_rules, run, ts

RULES = make_rules()
SECRET = "jane.doe@example.com"
NOW = T0.timestamp() + 30 * 86400
CODES = make_rules("""
processing:
  attribute_codes:
    purchase_timeframe: [WITHIN_1_MONTH, 1_3_MONTHS]
""")


def upd(**fields: Any) -> dict[str, Any]:
    return {"lead_id": "L1", "party_id": "P1", "status": "NEW", "updated_at": ts(2), **fields}


BAD: list[tuple[str, Any, str]] = [
    ("interaction_score", "abc", "invalid_record"),
    ("interaction_score", True, "invalid_record"),
    ("interaction_score", [1], "invalid_record"),
    ("interaction_score", 18446744073709551615, "invalid_record"),
    ("interaction_score", -1e300, "invalid_record"),
    ("interaction_ids", "abc", "invalid_record"),
    ("interaction_ids", [1, SECRET], "invalid_record"),
    ("interaction_ids", ["x" * 300], "id_too_long"),
    ("qualified", "yes", "invalid_record"),
    ("qualified", 1, "invalid_record"),
    ("origin", "HACKED", "invalid_record"),
    ("origin", "INTERACTION", "invalid_record"),
    ("attributes", [SECRET], "invalid_record"),
    ("attributes", SECRET, "invalid_record"),
    ("country", 5, "invalid_record"),
    ("country", SECRET, "invalid_record"),
    ("source_code", {"a": 1}, "invalid_record"),
    ("contact_id", [1], "invalid_record"),
    ("contact_id", "c" * 257, "id_too_long"),
    ("owner", 5, "invalid_record"),
    ("deleted", "yes", "invalid_record"),
    ("status", 5, "invalid_record"),
    ("status", "BOGUS", "unknown_status"),
    ("created_at", 5, "invalid_timestamp"),
    ("updated_at", SECRET, "invalid_timestamp"),
    ("updated_at", "9999-12-31T00:00:00Z", "future_timestamp"),
    ("rating", "Z", "unknown_rating"),
    ("rating", 1, "invalid_record"),
    ("channel", "NOPE", "unknown_channel"),
    ("lead_id", "l" * 300, "id_too_long"),
    ("party_id", "p" * 64 * 1024, "id_too_long"),
    ("processing", "x", "invalid_record"),
    ("territory_id", ["t"], "invalid_record"),
]


@pytest.mark.parametrize(("field", "value", "code"), BAD,
                         ids=[f"{f}-{i}" for i, (f, _, _) in enumerate(BAD)])
def test_wrong_typed_field_is_refused_naming_it(field: str, value: Any, code: str) -> None:
    with pytest.raises(InvalidRecord) as exc:
        parse_lead_update(upd(**{field: value}), RULES, now=NOW)
    assert exc.value.code == code
    assert field in exc.value.reason
    assert SECRET not in exc.value.reason


@pytest.mark.parametrize(("field", "value", "code"), BAD,
                         ids=[f"{f}-{i}" for i, (f, _, _) in enumerate(BAD)])
def test_bad_update_changes_nothing(field: str, value: Any, code: str) -> None:
    r = run(RULES, interaction("i1", at=3), leads=[input_lead("L1", created_at=1)])
    before = r.leads["L1"].to_json()
    em = r.pipe.lead_update(upd(**{field: value}), now=NOW)
    assert em.error is not None and em.code == code
    assert r.leads["L1"].to_json() == before
    r.feed(interaction("i2", at=4))  # the lead keeps working
    assert r.outcomes[-1].outcome == "LINKED"
    assert r.leads["L1"].interaction_ids == ["i1", "i2"]


def test_edit_fields_are_accepted_and_typed() -> None:
    doc = parse_lead_update(upd(attributes={"a": None, "b": "x"}, country="us",
                                source_code="ceo-summit", contact_id="C1", owner="REP-ANN",
                                deleted=True, status="contacted", rating="a", channel="direct",
                                qualified=None, interaction_score=3.5,
                                interaction_ids=["i1"], origin="external"), RULES)
    assert doc["attributes"] == {"a": None, "b": "x"}
    assert (doc["country"], doc["source_code"], doc["status"]) == ("US", "CEO-SUMMIT",
                                                                   "CONTACTED")
    assert (doc["rating"], doc["channel"]) == ("A", "DIRECT")
    assert doc["deleted"] is True and doc["owner"] == "REP-ANN"
    assert "origin" not in doc


def test_unknown_fields_are_dropped() -> None:
    doc = parse_lead_update(upd(nonsense={"deep": [1]}), RULES)
    assert "nonsense" not in doc


def test_attribute_code_outside_the_list_is_refused_with_allowed_values() -> None:
    with pytest.raises(InvalidRecord) as exc:
        parse_lead_update(upd(attributes={"purchase_timeframe": "SOMEDAY"}), CODES)
    err = exc.value
    assert err.code == "attribute_code"
    assert "purchase_timeframe" in err.reason and "WITHIN_1_MONTH" in err.reason
    assert "1_3_MONTHS" in err.reason
    parse_lead_update(upd(attributes={"purchase_timeframe": "WITHIN_1_MONTH"}), CODES)
    parse_lead_update(upd(attributes={"purchase_timeframe": None}), CODES)


def test_attributes_depth_is_bounded() -> None:
    deep: Any = 1
    for _ in range(17):
        deep = {"k": deep}
    with pytest.raises(InvalidRecord) as exc:
        parse_lead_update(upd(attributes=deep), RULES)
    assert exc.value.code == "too_deep"


def test_registered_lead_keeps_typed_values() -> None:
    r = run(RULES, leads=[input_lead("L1", created_at=1, interaction_score=4,
                                     interaction_ids=["a", "b"], country="de")])
    lead = r.leads["L1"]
    assert (lead.interaction_score, lead.interaction_ids, lead.country) == (4, ["a", "b"], "DE")
    assert lead.origin == "EXTERNAL"
