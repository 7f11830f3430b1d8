"""Hypothesis strategies for records on the five input topics: a valid record of each topic
with a field or two broken by odd values (64 KiB ids, "²", far dates, deep nesting, wrong
JSON types), or plain junk. Shared by the `simulate` property test and the worker parity test.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from tests.builders import T0, interaction, ts

_odd = st.sampled_from(["\u00b2", "1\u00b2", "9999-12-31", "9999-12-31T23:59:59-23:59",
                        "0001-01-01T00:00:00+14:00", "x" * 300, "p" * 70_000, "", " ", "-1", -1,
                        2**63, 1e308, True, None, [], {}, ts(1), "NEW", "survey_callback",
                        "ad_click", "CALLBACK_REQUESTED", "US", "us", "A", "DIRECT"])
_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=12),
                     st.floats(allow_nan=False, allow_infinity=False), _odd)
_json = st.recursive(_scalars, lambda kids: st.one_of(
    st.lists(kids, max_size=3), st.dictionaries(st.text(max_size=6), kids, max_size=3)),
    max_leaves=12)
_deep = st.integers(1, 400).map(lambda n: json.loads('{"a":' * n + "1" + "}" * n))
_value = st.one_of(_odd, _json, _deep)
#: topic -> a valid record of it, which examples then break a field or two of
BASES: dict[str, dict[str, Any]] = {
    "interactions": interaction("h1", party="P", at=2, country="US", source_code="S",
                                contact_id="C", attributes={"a": 1}),
    "feed.callcenter": {"call_id": "h2", "party_id": "P", "outcome": "CALLBACK_REQUESTED",
                        "started_at": ts(2), "country": "US", "campaign_code": "S"},
    "feed.web": {"event_id": "h3", "party_id": "P", "event": "ad_click",
                 "ts": T0.timestamp() + 86400, "geo_country": "US", "utm_campaign": "S"},
    "lead-updates": {"lead_id": "L1", "party_id": "P", "status": "CONTACTED",
                     "updated_at": ts(3), "attributes": {"a": None}, "owner": "R",
                     "interaction_score": 3, "interaction_ids": ["i0"], "qualified": True,
                     "rating": "A", "channel": "DIRECT", "country": "US", "deleted": False},
    "lead-imports": {"import_interface_id": "M1", "source_system": "CRM",
                     "orig_system_reference": "O1", "party_id": "P", "created_at": ts(1),
                     "customer": {"name": "Acme", "country": "US"}, "attributes": {"a": 1}},
}
_FIELDS = sorted({k for b in BASES.values() for k in b} | {"created_at", "origin", "lead_id"})


def _broken(topic: str) -> st.SearchStrategy[dict[str, Any]]:
    """The topic's valid record with up to three fields set to odd values, up to two dropped."""
    changes = st.tuples(st.dictionaries(st.sampled_from(_FIELDS), _value, max_size=3),
                        st.sets(st.sampled_from(sorted(BASES[topic])), max_size=2))
    return changes.map(lambda t: {**{k: v for k, v in BASES[topic].items() if k not in t[1]},
                                  **t[0]})


def _record(topic: str) -> st.SearchStrategy[Any]:
    return st.one_of(_broken(topic), _broken(topic), st.text(max_size=20), _json)


_topics = st.sampled_from(sorted(BASES))
#: (topic, value): mostly broken records, some junk text or JSON
events = _topics.flatmap(lambda t: st.tuples(st.just(t), _record(t)))
#: (topic, record): broken records only
broken_events = _topics.flatmap(lambda t: st.tuples(st.just(t), _broken(t)))
