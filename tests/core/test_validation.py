"""Step 1 of matching (CONTRACT §2.1, §5): a bad record is REJECTED with a reason."""

from __future__ import annotations

import json
from typing import Any

import pytest

from core.validation import InvalidRecord, parse_interaction
from tests.builders import interaction, make_rules, run

RULES = make_rules()

VALID = interaction("i1", "P1", "SURVEY_CALLBACK", "2024-03-01T10:00:00Z")


def _without(field: str) -> dict[str, Any]:
    return {k: v for k, v in VALID.items() if k != field}


# (name, raw record, a word the reason must contain)
REJECTS: list[tuple[str, Any, str]] = [
    ("not JSON", b'{"interaction_id": "i1", ', "JSON"),
    ("not JSON text", "hello", "JSON"),
    ("a JSON list", b'[1, 2, 3]', "object"),
    ("a JSON string", b'"i1"', "object"),
    ("a JSON number", b"42", "object"),
    ("missing interaction_id", _without("interaction_id"), "interaction_id"),
    ("missing party_id", _without("party_id"), "party_id"),
    ("missing type", _without("type"), "type"),
    ("missing occurred_at", _without("occurred_at"), "occurred_at"),
    ("empty party_id", {**VALID, "party_id": ""}, "party_id"),
    ("timestamp without offset", {**VALID, "occurred_at": "2024-03-01T10:00:00"}, "occurred_at"),
    ("date only", {**VALID, "occurred_at": "2024-03-01"}, "occurred_at"),
    ("garbage timestamp", {**VALID, "occurred_at": "yesterday afternoon"}, "occurred_at"),
    ("impossible timestamp", {**VALID, "occurred_at": "2024-02-30T10:00:00Z"}, "occurred_at"),
    ("numeric timestamp", {**VALID, "occurred_at": 1709287200}, "occurred_at"),
    ("unknown type code", {**VALID, "type": "TELEPATHY"}, "type"),
    ("attributes not an object", {**VALID, "attributes": [1, 2]}, "attributes"),
]


@pytest.mark.parametrize(("raw", "word"), [c[1:] for c in REJECTS], ids=[c[0] for c in REJECTS])
def test_parse_rejects_with_reason(raw: Any, word: str) -> None:
    with pytest.raises(InvalidRecord) as exc:
        parse_interaction(raw if isinstance(raw, bytes | str) else json.dumps(raw), RULES)
    assert word.lower() in exc.value.reason.lower()


@pytest.mark.parametrize(("raw", "word"), [c[1:] for c in REJECTS], ids=[c[0] for c in REJECTS])
def test_pipeline_outcome_rejected_and_nothing_else(raw: Any, word: str) -> None:
    r = run(RULES, raw)
    [out] = r.outcomes
    assert out.outcome == "REJECTED"
    assert out.reason and word.lower() in out.reason.lower()
    assert not r.links and not r.leads and not r.pipe.parties


def test_every_missing_field_is_named() -> None:
    with pytest.raises(InvalidRecord) as exc:
        parse_interaction(b'{"country": "US"}', RULES)
    for field in ("interaction_id", "party_id", "type", "occurred_at"):
        assert field in exc.value.reason


def test_rejected_then_processing_goes_on() -> None:
    r = run(RULES, b"not json", interaction("i2", at=0))
    assert [o.outcome for o in r.outcomes] == ["REJECTED", "PENDING"]


def test_rejected_keeps_known_ids() -> None:
    r = run(RULES, {**VALID, "type": "TELEPATHY"})
    [out] = r.outcomes
    assert (out.outcome, out.interaction_id) == ("REJECTED", "i1")


def test_rejected_id_is_not_seen() -> None:
    """A rejected record changes nothing: the same id later is processed normally."""
    r = run(RULES, {**VALID, "type": "TELEPATHY"}, VALID)
    assert [o.outcome for o in r.outcomes] == ["REJECTED", "PENDING"]


@pytest.mark.parametrize("stamp", [
    "2024-03-01T10:00:00Z",
    "2024-03-01T10:00:00+00:00",
    "2024-03-01T15:30:00+05:30",
    "2024-03-01T05:00:00-05:00",
    "2024-03-01T10:00:00.123456Z",
])
def test_valid_offsets_accepted(stamp: str) -> None:
    it = parse_interaction(json.dumps({**VALID, "occurred_at": stamp}), RULES)
    assert it.occurred_at == stamp
    r = run(RULES, {**VALID, "occurred_at": stamp})
    assert r.outcomes[0].outcome == "PENDING"


def test_offsets_give_the_same_instant() -> None:
    a = parse_interaction({**VALID, "occurred_at": "2024-03-01T10:00:00Z"}, RULES)
    b = parse_interaction({**VALID, "occurred_at": "2024-03-01T15:30:00+05:30"}, RULES)
    assert a.ts == b.ts


def test_optional_fields_kept() -> None:
    it = parse_interaction({**VALID, "contact_id": "C1", "country": "US", "source_code": "S",
                            "attributes": {"product_category": ["Monitors"]}}, RULES)
    assert (it.contact_id, it.country, it.source_code) == ("C1", "US", "S")
    assert it.attributes == {"product_category": ["Monitors"]}


def test_disabled_type_is_valid_not_rejected() -> None:
    """A known but disabled type passes validation; matching gives TYPE_DISABLED (§2.4)."""
    rules = make_rules("""
interaction_types:
  - {code: SURVEY_CALLBACK, name: Survey Callback, default_score: 10, enabled: false}
  - {code: WEB_AD_VISIT, default_score: 1}
feeds!: {}
""")
    parse_interaction(VALID, rules)
    assert run(rules, VALID).outcomes[0].outcome == "TYPE_DISABLED"
