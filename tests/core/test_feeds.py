"""Feed records (CONTRACT §5) refused with a specific reason code, never an exception."""

from __future__ import annotations

from typing import Any

import pytest

from core.feeds import FeedError, feed_to_interaction
from tests.builders import make_rules

RULES = make_rules()
NOW = 1772445600.0 + 3600  # 2026-03-02T11:00:00Z
SECRET = "jane.doe@example.com"
WEB = {"event_id": "w1", "party_id": "P1", "event": "ad_click", "ts": 1772445600}
CC = {"call_id": "c1", "party_id": "P1", "outcome": "CALLBACK_REQUESTED",
      "started_at": "2026-03-02T10:00:00Z"}


def refuse(feed: str, doc: Any) -> FeedError:
    with pytest.raises(FeedError) as exc:
        feed_to_interaction(feed, doc, RULES, now=NOW)
    return exc.value


@pytest.mark.parametrize(("ts", "code"), [
    ("²", "invalid_timestamp"), ("1²", "invalid_timestamp"), ("9999-12-31", "invalid_timestamp"),
    (1e300, "invalid_timestamp"), (-1e300, "invalid_timestamp"), (253402300799,
                                                                   "future_timestamp"),
    ("9999-12-31T00:00:00Z", "future_timestamp"), (True, "invalid_timestamp"),
    ([1], "invalid_timestamp"), ("", "invalid_record"),
])
def test_odd_web_timestamps(ts: Any, code: str) -> None:
    err = refuse("web", {**WEB, "ts": ts})
    assert err.code == code and "ts" in err.reason


def test_epoch_string_and_iso_accepted() -> None:
    assert feed_to_interaction("web", {**WEB, "ts": "1772445600"}, RULES, now=NOW)[
        "occurred_at"].startswith("2026-03-02T10:00:00")
    feed_to_interaction("web", {**WEB, "ts": "2026-03-02T10:00:00+00:00"}, RULES, now=NOW)


@pytest.mark.parametrize(("feed", "field"), [("web", "event_id"), ("callcenter", "call_id"),
                                             ("web", "party_id")])
def test_long_ids_refused(feed: str, field: str) -> None:
    doc = WEB if feed == "web" else CC
    err = refuse(feed, {**doc, field: "x" * 64 * 1024})
    assert err.code == "id_too_long" and field in err.reason


def test_unmapped_value_code_and_no_value_in_message() -> None:
    err = refuse("callcenter", {**CC, "outcome": SECRET})
    assert err.code == "unmapped_feed_value" and SECRET not in err.reason
    assert err.interaction_id == "cc-c1"


def test_feed_values_are_case_blind() -> None:
    doc = feed_to_interaction("callcenter", {**CC, "outcome": "callback_requested",
                                             "country": "us", "campaign_code": "ceo-summit"},
                              RULES, now=NOW)
    assert doc["type"] == "SURVEY_CALLBACK"
    doc = feed_to_interaction("web", {**WEB, "event": "AD_CLICK"}, RULES, now=NOW)
    assert doc["type"] == "WEB_AD_VISIT"


def test_bad_optional_field_named_as_the_feed_names_it() -> None:
    err = refuse("web", {**WEB, "utm_campaign": {"a": SECRET}})
    assert "utm_campaign" in err.reason and err.code == "invalid_record"
    assert SECRET not in err.reason


def test_not_json() -> None:
    assert refuse("web", b"{").code == "invalid_json"
    assert refuse("callcenter", b"[1]").code == "invalid_json"


def test_deep_attributes() -> None:
    deep: Any = 1
    for _ in range(300):
        deep = {"k": deep}
    assert refuse("web", {**WEB, "attributes": deep}).code == "too_deep"


def test_streaming_module_still_exports_the_mapping() -> None:
    from streaming import feeds

    assert feeds.feed_to_interaction is feed_to_interaction
