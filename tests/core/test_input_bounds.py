"""CONTRACT §2 step 1, §4 (case-blind codes), §9 (reason codes): interactions are refused
with a specific reason code and a message that names the field, never its value."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from core.validation import InvalidRecord, parse_interaction
from tests.builders import T0, interaction, make_rules

RULES = make_rules()
SECRET = "jane.doe@example.com"
NOW = T0.timestamp() + 86400  # "now" of these tests: a day after the test origin
VALID = interaction("i1", "P1", "SURVEY_CALLBACK", "2024-03-01T10:00:00Z")


def nested(depth: int) -> Any:
    """An object nested `depth` levels (`{}` alone is one level)."""
    doc: Any = {"leaf": 1}
    for _ in range(depth - 1):
        doc = {"k": doc}
    return doc


def refuse(raw: Any, now: float | None = NOW) -> InvalidRecord:
    with pytest.raises(InvalidRecord) as exc:
        parse_interaction(raw, RULES, now=now)
    return exc.value


@pytest.mark.parametrize("field", ["interaction_id", "party_id", "contact_id"])
@pytest.mark.parametrize("size", [257, 64 * 1024])
def test_long_ids_are_refused(field: str, size: int) -> None:
    err = refuse({**VALID, field: "x" * size})
    assert err.code == "id_too_long"
    assert field in err.reason and "xxxx" not in err.reason


def test_id_of_256_characters_is_accepted() -> None:
    it = parse_interaction({**VALID, "party_id": "p" * 256}, RULES, now=NOW)
    assert it.party_id == "p" * 256


def test_attributes_nested_16_levels_accepted_17_refused() -> None:
    parse_interaction({**VALID, "attributes": nested(16)}, RULES, now=NOW)
    err = refuse({**VALID, "attributes": nested(17)})
    assert err.code == "too_deep" and "attributes" in err.reason


@pytest.mark.parametrize("depth", [250, 300, 1000])
def test_very_deep_attributes_are_a_clean_refusal(depth: int) -> None:
    raw = b'{"interaction_id":"i1","party_id":"P1","type":"SURVEY_CALLBACK",' \
          b'"occurred_at":"2024-03-01T10:00:00Z","attributes":' + b'{"a":' * depth + b"1" \
          + b"}" * depth + b"}"
    err = refuse(raw)
    assert err.code in ("too_deep", "invalid_json")


def test_nesting_beyond_the_json_parser_is_invalid_json() -> None:
    err = refuse(b"[" * 5000 + b"]" * 5000)
    assert err.code == "invalid_json"


@pytest.mark.parametrize(("field", "value"), [
    ("interaction_id", 1.5),
    ("interaction_id", ["a"]),
    ("party_id", {"a": SECRET}),
    ("party_id", True),
    ("contact_id", [SECRET]),
    ("type", 42),
    ("country", 840),
    ("source_code", {"x": 1}),
    ("source_code", 17),
    ("attributes", [1, 2]),
    ("attributes", SECRET),
    ("occurred_at", 1709287200),
])
def test_wrong_json_type_is_refused_naming_the_field(field: str, value: Any) -> None:
    err = refuse({**VALID, field: value})
    assert field in err.reason
    assert SECRET not in err.reason
    assert err.code in ("invalid_record", "invalid_timestamp")


def test_messages_never_carry_values() -> None:
    for doc in ({**VALID, "type": SECRET}, {**VALID, "country": SECRET},
                {**VALID, "occurred_at": SECRET}, {**VALID, "party_id": SECRET * 20}):
        assert SECRET not in refuse(doc).reason


def test_unknown_type_has_its_own_code() -> None:
    err = refuse({**VALID, "type": "TELEPATHY"})
    assert err.code == "unknown_type" and "type" in err.reason
    assert err.interaction_id == "i1"


def test_not_json_is_invalid_json() -> None:
    assert refuse(b"{nope").code == "invalid_json"
    assert refuse(b"[1]").code == "invalid_json"
    assert refuse(b"\xff\xfe").code == "invalid_json"


@pytest.mark.parametrize("stamp", ["9999-12-31T00:00:00Z", "9999-12-31T23:59:59-05:00",
                                   "2024-03-03T00:00:01Z"])
def test_far_future_is_refused(stamp: str) -> None:
    err = refuse({**VALID, "occurred_at": stamp})
    assert err.code == "future_timestamp" and "occurred_at" in err.reason


def test_future_within_the_skew_is_accepted() -> None:
    at = datetime.fromtimestamp(NOW + 23 * 3600, UTC).isoformat()
    parse_interaction({**VALID, "occurred_at": at}, RULES, now=NOW)


def test_skew_is_a_setting() -> None:
    rules = make_rules(max_future_skew_hours=1)
    at = datetime.fromtimestamp(NOW + 2 * 3600, UTC).isoformat()
    with pytest.raises(InvalidRecord) as exc:
        parse_interaction({**VALID, "occurred_at": at}, rules, now=NOW)
    assert exc.value.code == "future_timestamp"


@pytest.mark.parametrize("stamp", ["9999-12-31", "0000-01-01T00:00:00Z", "²", "",
                                   "2024-13-01T00:00:00Z", "+275760-09-13T00:00:00Z"])
def test_odd_timestamps_are_clean_refusals(stamp: str) -> None:
    err = refuse({**VALID, "occurred_at": stamp})
    assert err.code in ("invalid_timestamp", "invalid_record") and "occurred_at" in err.reason


def test_codes_are_case_blind() -> None:
    it = parse_interaction({**VALID, "type": "survey_callback", "country": "us",
                            "source_code": "ceo-summit"}, RULES, now=NOW)
    assert (it.type, it.country, it.source_code) == ("SURVEY_CALLBACK", "US", "CEO-SUMMIT")


def test_case_blind_source_code_matches_the_guard() -> None:
    from tests.builders import run

    rec = interaction("i1", "P1", "event_registration", 0, country="us",
                      source_code="ceo-summit")
    rules = make_rules("""
interaction_rule_sets:
  - {id: seeded, status: ACTIVE, precedence: 1, scores: default}
  - id: ceo-summit
    status: ACTIVE
    precedence: 10
    guard: {country: [US], source_code: [CEO-SUMMIT]}
    scores: {EVENT_REGISTRATION: 12}
""")
    r = run(rules, rec)
    assert r.outcomes[0].rule_set_id == "ceo-summit"


def test_large_integer_ids_are_read_as_text() -> None:
    it = parse_interaction(orjson.dumps({**VALID, "party_id": 18446744073709551615}), RULES,
                           now=NOW)
    assert it.party_id == "18446744073709551615"


def test_every_problem_is_named_first_code_wins() -> None:
    err = refuse(json.dumps({"interaction_id": "x" * 300, "party_id": 1.5}))
    for field in ("interaction_id", "party_id", "type", "occurred_at"):
        assert field in err.reason
    assert err.code == "id_too_long"
