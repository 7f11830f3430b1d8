"""Feed adapters (CONTRACT §5): every mapped value of the shipped config, unmapped values,
malformed records (pure functions); then the agent's handler, called record by record (no
broker): a mapped record goes on to `interactions` with its origin, an unmapped one gets a
REJECTED outcome and a dead letter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.feeds import FeedsHandler
from agents.runtime import ORIGIN, ORIGIN_OFFSET
from core.validation import parse_interaction
from rules.loader import load_rules_file
from streaming.feeds import (
    CALLCENTER,
    WEB,
    FeedError,
    callcenter_to_interaction,
    feed_to_interaction,
    web_to_interaction,
)
from tests.agents.doubles import NAMES, dead_letter_code, message, runtime

ROOT = Path(__file__).resolve().parents[2]
RULES = load_rules_file(ROOT / "config" / "rules.yaml")
CC_MAP = RULES.config.feeds["callcenter"]
WEB_MAP = RULES.config.feeds["web"]


def cc(**over: object) -> dict[str, object]:
    rec: dict[str, object] = {"call_id": "700001", "party_id": "ORG-1", "contact_id": "CON-1",
                              "outcome": "CALLBACK_REQUESTED",
                              "started_at": "2026-03-03T17:57:20+01:00", "country": "gb",
                              "campaign_code": "TRADESHOW-LDN"}
    rec.update(over)
    return {k: v for k, v in rec.items() if v is not None}


def web(**over: object) -> dict[str, object]:
    rec: dict[str, object] = {"event_id": "e1", "party_id": "PER-1", "event": "ad_click",
                              "ts": 1772790130, "geo_country": "US", "utm_campaign": "SPRING"}
    rec.update(over)
    return {k: v for k, v in rec.items() if v is not None}


def test_shipped_config_maps_both_feeds() -> None:
    assert CC_MAP == {"CALLBACK_REQUESTED": "SURVEY_CALLBACK", "PRODUCT_INQUIRY": "ITEM_INQUIRY"}
    assert set(WEB_MAP) == {"ad_click", "offer_view", "email_click", "collab_session",
                            "event_signup", "survey_done"}


@pytest.mark.parametrize("outcome", sorted(CC_MAP))
def test_every_callcenter_outcome(outcome: str) -> None:
    doc = feed_to_interaction(CALLCENTER, json.dumps(cc(outcome=outcome)).encode(), RULES)
    assert doc == {
        "interaction_id": "cc-700001", "party_id": "ORG-1", "type": CC_MAP[outcome],
        "occurred_at": "2026-03-03T17:57:20+01:00", "contact_id": "CON-1", "country": "GB",
        "source_code": "TRADESHOW-LDN",
    }
    it = parse_interaction(doc, RULES)  # the matching engine accepts it
    assert (it.type, it.country) == (CC_MAP[outcome], "GB")


@pytest.mark.parametrize("event", sorted(WEB_MAP))
def test_every_web_event(event: str) -> None:
    doc = feed_to_interaction(WEB, web(event=event), RULES)
    assert doc == {
        "interaction_id": "web-e1", "party_id": "PER-1", "type": WEB_MAP[event],
        "occurred_at": "2026-03-06T09:42:10+00:00", "country": "US", "source_code": "SPRING",
    }
    assert parse_interaction(doc, RULES).type == WEB_MAP[event]


@pytest.mark.parametrize("ts, expected", [
    (1772790130, "2026-03-06T09:42:10+00:00"),
    ("1772790130", "2026-03-06T09:42:10+00:00"),
    (1772790130.5, "2026-03-06T09:42:10.500000+00:00"),
    ("2026-03-06T10:42:10+01:00", "2026-03-06T10:42:10+01:00"),  # ISO kept as written
])
def test_web_ts_epoch_or_iso(ts: object, expected: str) -> None:
    assert web_to_interaction(web(ts=ts), WEB_MAP)["occurred_at"] == expected


def test_optional_fields_left_out_when_absent() -> None:
    doc = callcenter_to_interaction(cc(contact_id=None, country=None, campaign_code=None), CC_MAP)
    assert set(doc) == {"interaction_id", "party_id", "type", "occurred_at"}
    doc = web_to_interaction(web(geo_country=None, utm_campaign=None), WEB_MAP)
    assert set(doc) == {"interaction_id", "party_id", "type", "occurred_at"}


def test_attributes_pass_through() -> None:
    doc = web_to_interaction(web(attributes={"product_category": "Laptops"}), WEB_MAP)
    assert doc["attributes"] == {"product_category": "Laptops"}


@pytest.mark.parametrize("feed, record, iid", [
    (CALLCENTER, cc(outcome="WRONG_NUMBER"), "cc-700001"),
    (WEB, web(event="page_view"), "web-e1"),
])
def test_unmapped_value_is_refused_with_its_id(feed: str, record: dict[str, object],
                                               iid: str) -> None:
    with pytest.raises(FeedError) as err:
        feed_to_interaction(feed, record, RULES)
    assert err.value.code == "unmapped_feed_value"
    assert err.value.interaction_id == iid
    assert err.value.party_id == record["party_id"]
    assert "not mapped by feeds." + feed in err.value.reason


def test_value_mapped_in_another_feed_is_still_unmapped() -> None:
    with pytest.raises(FeedError) as err:
        feed_to_interaction(WEB, web(event="CALLBACK_REQUESTED"), RULES)
    assert err.value.code == "unmapped_feed_value"


def test_empty_feeds_section_maps_nothing() -> None:
    with pytest.raises(FeedError):
        callcenter_to_interaction(cc(), {})


@pytest.mark.parametrize("raw, code", [
    (b"{not json", "invalid_json"),
    (b"[1, 2]", "invalid_json"),
    (b'"text"', "invalid_json"),
])
def test_undecodable(raw: bytes, code: str) -> None:
    with pytest.raises(FeedError) as err:
        feed_to_interaction(WEB, raw, RULES)
    assert err.value.code == code and err.value.interaction_id is None


@pytest.mark.parametrize("feed, record, fragment, iid", [
    (CALLCENTER, cc(call_id=None), "call_id: required", None),
    (CALLCENTER, cc(party_id=None), "party_id: required", "cc-700001"),
    (CALLCENTER, cc(started_at="yesterday"), "started_at", "cc-700001"),
    (CALLCENTER, cc(started_at="2026-03-03T17:57:20"), "no UTC offset", "cc-700001"),
    (CALLCENTER, cc(outcome=7), "outcome: must be a string", "cc-700001"),
    (CALLCENTER, cc(call_id=["x"]), "call_id: must be a string", None),
    (WEB, web(ts=None), "ts: required", "web-e1"),
    (WEB, web(ts="soon"), "ts", "web-e1"),
    (WEB, web(geo_country="USA"), "country", "web-e1"),
    (WEB, web(attributes=[1]), "attributes: must be an object", "web-e1"),
])
def test_invalid_records(feed: str, record: dict[str, object], fragment: str,
                         iid: str | None) -> None:
    with pytest.raises(FeedError) as err:
        feed_to_interaction(feed, record, RULES)
    assert err.value.code in ("invalid_record", "invalid_timestamp")  # codes of this round
    assert fragment in err.value.reason
    assert err.value.interaction_id == iid


def test_integer_ids_become_text() -> None:
    doc = callcenter_to_interaction(cc(call_id=42, party_id=7), CC_MAP)
    assert (doc["interaction_id"], doc["party_id"]) == ("cc-42", "7")


def test_bundled_samples_map_as_documented() -> None:
    """data/samples: 55 + 168 mapped, 3 + 5 refused; mapped ones equal interactions.jsonl
    without the CRM attributes."""
    samples = ROOT / "data" / "samples"
    canonical = {}
    for line in (samples / "interactions.jsonl").read_text().splitlines():
        d = json.loads(line)
        d.pop("attributes", None)
        canonical[d["interaction_id"]] = d
    for feed, name, ok_n, bad_n in ((CALLCENTER, "feed.callcenter.jsonl", 55, 3),
                                    (WEB, "feed.web.jsonl", 168, 5)):
        ok, bad = 0, 0
        for line in (samples / name).read_bytes().splitlines():
            try:
                doc = feed_to_interaction(feed, line, RULES)
            except FeedError:
                bad += 1
                continue
            ok += 1
            assert canonical[doc["interaction_id"]] == doc
        assert (ok, bad) == (ok_n, bad_n)


# --------------------------------------------------------------------------- the agent

async def test_agent_forwards_a_mapped_record_to_its_party() -> None:
    rt, sent = runtime(RULES)
    handler = FeedsHandler(rt)
    await handler.handle(message(NAMES.feed_callcenter, cc(), "x", 12), 0.0)
    [forward] = sent.sent
    assert (forward.topic, forward.key) == (NAMES.interactions, b"ORG-1")
    assert forward.json() == feed_to_interaction(CALLCENTER, cc(), RULES)
    assert (forward.header(ORIGIN), forward.header(ORIGIN_OFFSET)) == ("fc0", "12")


async def test_agent_rejects_and_dead_letters_an_unmapped_record() -> None:
    rt, sent = runtime(RULES)
    handler = FeedsHandler(rt)
    await handler.handle(message(NAMES.feed_web, web(event="page_view"), None, 3), 0.0)
    outcome, letter = sent.sent
    assert (outcome.topic, outcome.json()["outcome"], outcome.json()["interaction_id"]) == (
        NAMES.interaction_outcomes, "REJECTED", "web-e1")
    assert (letter.topic, dead_letter_code(letter), letter.header("dl-agent")) == (
        NAMES.dead_letters, "unmapped_feed_value", "feeds")
    assert sent.to(NAMES.interactions) == []
