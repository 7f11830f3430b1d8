"""Feed adapters (CONTRACT §5): call-centre and web feed records -> canonical interactions.

Pure functions, no Faust: the feeds agents and any offline tool (`simulate`) can use them.
The `feeds` section of the rules config maps each feed's `outcome` / `event` value to an
interaction type; a value it does not map is refused (dead letter + REJECTED outcome).

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
(the contract's feeds carry none).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from core.validation import InvalidRecord, read_id
from models.timefmt import BadTimestamp, parse_epoch_or_iso, parse_ts
from rules.compiled import Rules

__all__ = [
    "CALLCENTER", "FEEDS", "WEB", "FeedError", "callcenter_to_interaction", "feed_to_interaction",
    "web_to_interaction",
]

CALLCENTER = "callcenter"
WEB = "web"

Doc = Mapping[str, Any]


class FeedError(InvalidRecord):
    """A feed record that cannot become an interaction. `code` is the dead-letter reason code
    (`not_json`, `unmapped_feed_value`, `invalid_feed_record`)."""

    def __init__(self, reason: str, code: str, interaction_id: str | None = None,
                 party_id: str | None = None) -> None:
        super().__init__(reason, interaction_id, party_id)
        self.code = code


def _decode(raw: bytes | str | Doc) -> dict[str, Any]:
    if isinstance(raw, Mapping):
        return dict(raw)
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise FeedError(f"not valid JSON: {str(exc.args[0])[:80]}", "not_json") from None
    if not isinstance(doc, dict):
        raise FeedError(f"not a JSON object: got {type(doc).__name__}", "not_json")
    return doc


def _text(doc: Doc, name: str, errors: list[str], required: bool) -> str | None:
    return read_id(doc, name, errors, required)


def _build(doc: Doc, *, feed: str, id_field: str, id_prefix: str, value_field: str,
           mapping: Mapping[str, str], time_field: str,
           parse_time: Callable[[object, str], tuple[str, float, Any]],
           optional: Mapping[str, str]) -> dict[str, Any]:
    errors: list[str] = []
    ident = _text(doc, id_field, errors, required=True)
    iid = None if ident is None else f"{id_prefix}{ident}"
    party = _text(doc, "party_id", errors, required=True)
    value = doc.get(value_field)
    itype: str | None = None
    unmapped = False
    if value is None or value == "":
        errors.append(f"{value_field}: required")
    elif not isinstance(value, str):
        errors.append(f"{value_field}: must be a string")
    elif value not in mapping:
        unmapped = True
        errors.append(f"{value_field}: {value[:60]!r} is not mapped by feeds.{feed}")
    else:
        itype = mapping[value]
    occurred: str | None = None
    if doc.get(time_field) is None or doc.get(time_field) == "":
        errors.append(f"{time_field}: required")
    else:
        try:
            occurred = parse_time(doc[time_field], time_field)[0]
        except BadTimestamp as exc:
            errors.append(str(exc))
    out: dict[str, Any] = {"interaction_id": iid, "party_id": party, "type": itype,
                           "occurred_at": occurred}
    for src, dst in optional.items():
        v = doc.get(src)
        if v is not None and v != "":
            out[dst] = v
    attributes = doc.get("attributes")
    if attributes is not None:
        if isinstance(attributes, dict):
            out["attributes"] = attributes
        else:
            errors.append("attributes: must be an object")
    if errors:
        code = "unmapped_feed_value" if unmapped and len(errors) == 1 else "invalid_feed_record"
        raise FeedError(f"{feed} feed: " + "; ".join(errors), code, iid, party)
    return out


def callcenter_to_interaction(raw: bytes | str | Doc, mapping: Mapping[str, str]) -> dict[str, Any]:
    """A call-centre record as a canonical interaction (a dict); FeedError otherwise."""
    return _build(
        _decode(raw), feed=CALLCENTER, id_field="call_id", id_prefix="cc-",
        value_field="outcome", mapping=mapping, time_field="started_at", parse_time=parse_ts,
        optional={"contact_id": "contact_id", "country": "country",
                  "campaign_code": "source_code"},
    )


def web_to_interaction(raw: bytes | str | Doc, mapping: Mapping[str, str]) -> dict[str, Any]:
    """A web record as a canonical interaction (a dict); FeedError otherwise."""
    return _build(
        _decode(raw), feed=WEB, id_field="event_id", id_prefix="web-", value_field="event",
        mapping=mapping, time_field="ts", parse_time=parse_epoch_or_iso,
        optional={"geo_country": "country", "utm_campaign": "source_code"},
    )


FEEDS: dict[str, Callable[[bytes | str | Doc, Mapping[str, str]], dict[str, Any]]] = {
    CALLCENTER: callcenter_to_interaction,
    WEB: web_to_interaction,
}


def feed_to_interaction(feed: str, raw: bytes | str | Doc, rules: Rules) -> dict[str, Any]:
    """Map one record of `feed` with the `feeds` section of `rules`, then check the result
    as the matching engine will (CONTRACT §2.1), so a record that would be REJECTED there is
    refused here, against the feed record. Raises FeedError."""
    mapping = rules.config.feeds.get(feed, {})
    doc = FEEDS[feed](raw, mapping)
    from core.validation import build_interaction

    try:
        build_interaction(dict(doc), rules)
    except InvalidRecord as err:
        raise FeedError(f"{feed} feed: {err.reason}", "invalid_feed_record",
                        doc.get("interaction_id"), doc.get("party_id")) from None
    return doc
