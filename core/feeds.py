"""Feed adapters (CONTRACT §5): call-centre and web feed records -> canonical interactions.

Pure functions, no Faust: the feeds agent and `simulate --events` use them, so both refuse the
same records for the same reasons. The `feeds` section of the rules config maps each feed's
`outcome` / `event` value to an interaction type (exact match first, then case-blind); a value
it does not map is refused (dead letter `unmapped_feed_value` + REJECTED outcome).

| call-centre | interaction | web | interaction |
|---|---|---|---|
| `call_id` | `interaction_id` = `cc-<call_id>` | `event_id` | `interaction_id` = `web-<event_id>` |
| `party_id` | `party_id` | `party_id` | `party_id` |
| `outcome` | `type` (through `feeds.callcenter`) | `event` | `type` (through `feeds.web`) |
| `started_at` | `occurred_at` (as written) | `ts` | `occurred_at` (epoch -> ISO UTC) |
| `contact_id` | `contact_id` | | |
| `country` | `country` | `geo_country` | `country` |
| `campaign_code` | `source_code` | `utm_campaign` | `source_code` |

An ISO `ts` is kept as written. An `attributes` object on a feed record is passed through
(the contract's feeds carry none). The mapped record is then checked as the matching engine
checks an interaction (core.validation), with messages naming the feed's own fields.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from core.validation import (
    INVALID_RECORD,
    INVALID_TIMESTAMP,
    MAX_ID_LEN,
    UNMAPPED_FEED_VALUE,
    InvalidRecord,
    Problems,
    build_interaction,
    decode_json,
    json_type,
    read_id,
)
from models.timefmt import BadTimestamp, parse_epoch_or_iso, parse_ts
from rules.compiled import Rules

__all__ = [
    "CALLCENTER", "FEEDS", "WEB", "FeedError", "callcenter_to_interaction", "feed_to_interaction",
    "web_to_interaction",
]

CALLCENTER = "callcenter"
WEB = "web"

Doc = Mapping[str, Any]
Raw = bytes | str | Doc


class FeedError(InvalidRecord):
    """A feed record that cannot become an interaction; `code` is the reason code."""

    def __init__(self, reason: str, code: str, interaction_id: str | None = None,
                 party_id: str | None = None) -> None:
        super().__init__(reason, interaction_id, party_id, code)


def _decode(raw: Raw, feed: str) -> dict[str, Any]:
    try:
        return decode_json(raw)
    except InvalidRecord as err:
        raise FeedError(f"{feed} feed: {err.reason}", err.code) from None


def _lookup(mapping: Mapping[str, str], value: str) -> str | None:
    hit = mapping.get(value)
    if hit is not None:
        return hit
    folded = value.casefold()
    for k in sorted(mapping):  # sorted: the same answer whatever the config's key order
        if k.casefold() == folded:
            return mapping[k]
    return None


def _build(doc: Doc, *, feed: str, id_field: str, id_prefix: str, value_field: str,
           mapping: Mapping[str, str], time_field: str,
           parse_time: Callable[[object, str], tuple[str, float, Any]],
           optional: Mapping[str, str]) -> tuple[dict[str, Any], Problems]:
    errors = Problems()
    ident = read_id(doc, id_field, errors, required=True, max_len=MAX_ID_LEN - len(id_prefix))
    iid = None if ident is None else f"{id_prefix}{ident}"
    party = read_id(doc, "party_id", errors, required=True)
    value = doc.get(value_field)
    itype: str | None = None
    if value is None or value == "":
        errors.add(INVALID_RECORD, f"{value_field}: required")
    elif not isinstance(value, str):
        errors.add(INVALID_RECORD, f"{value_field}: must be a string, not {json_type(value)}")
    else:
        itype = _lookup(mapping, value)
        if itype is None:
            errors.add(UNMAPPED_FEED_VALUE, f"{value_field}: not mapped by feeds.{feed}")
    occurred: str | None = None
    raw_time = doc.get(time_field)
    if raw_time is None or raw_time == "":
        errors.add(INVALID_RECORD, f"{time_field}: required")
    else:
        try:
            occurred = parse_time(raw_time, time_field)[0]
        except BadTimestamp as exc:
            errors.add(INVALID_TIMESTAMP, str(exc))
    out: dict[str, Any] = {"interaction_id": iid, "party_id": party, "type": itype,
                           "occurred_at": occurred}
    for src, dst in optional.items():
        v = doc.get(src)
        if v is not None and v != "":
            out[dst] = v
    if doc.get("attributes") is not None:
        out["attributes"] = doc["attributes"]
    return out, errors


def callcenter_to_interaction(raw: Raw, mapping: Mapping[str, str]) -> dict[str, Any]:
    """A call-centre record as a canonical interaction (a dict); FeedError otherwise."""
    return _checked(_decode(raw, CALLCENTER), CALLCENTER, mapping, None, None)


def web_to_interaction(raw: Raw, mapping: Mapping[str, str]) -> dict[str, Any]:
    """A web record as a canonical interaction (a dict); FeedError otherwise."""
    return _checked(_decode(raw, WEB), WEB, mapping, None, None)


_SPEC: dict[str, dict[str, Any]] = {
    CALLCENTER: dict(id_field="call_id", id_prefix="cc-", value_field="outcome",
                     time_field="started_at", parse_time=parse_ts,
                     optional={"contact_id": "contact_id", "country": "country",
                               "campaign_code": "source_code"}),
    WEB: dict(id_field="event_id", id_prefix="web-", value_field="event", time_field="ts",
              parse_time=parse_epoch_or_iso,
              optional={"geo_country": "country", "utm_campaign": "source_code"}),
}


def _checked(doc: Doc, feed: str, mapping: Mapping[str, str], rules: Rules | None,
             now: float | None) -> dict[str, Any]:
    spec = _SPEC[feed]
    out, errors = _build(doc, feed=feed, mapping=mapping, **spec)
    iid, party = out["interaction_id"], out["party_id"]
    if errors:
        raise FeedError(f"{feed} feed: " + "; ".join(errors), errors.code, iid, party)
    if rules is not None:
        names = {dst: src for src, dst in spec["optional"].items()}
        names["occurred_at"] = spec["time_field"]
        try:
            it = build_interaction(out, rules, now, names)
        except InvalidRecord as err:
            raise FeedError(f"{feed} feed: {err.reason}", err.code, iid, party) from None
        return it.to_json()
    return out


FEEDS: dict[str, Callable[[Raw, Mapping[str, str]], dict[str, Any]]] = {
    CALLCENTER: callcenter_to_interaction,
    WEB: web_to_interaction,
}


def feed_to_interaction(feed: str, raw: Raw, rules: Rules,
                        now: float | None = None) -> dict[str, Any]:
    """Map one record of `feed` with the `feeds` section of `rules`, then check the result
    as the matching engine will (CONTRACT §2.1), so a record that would be REJECTED there is
    refused here, against the feed record. Returns the canonical interaction (codes
    upper-cased). Raises FeedError."""
    mapping = rules.config.feeds.get(feed, {})
    try:
        return _checked(_decode(raw, feed), feed, mapping, rules, now)
    except FeedError:
        raise
    except Exception as exc:  # defensive: a record must never crash the caller
        raise FeedError(f"{feed} feed: (record): cannot be read ({type(exc).__name__})",
                        INVALID_RECORD) from None
