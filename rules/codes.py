"""Case-blind codes in the config (CONTRACT §4): upper-cased when the config is read.

Country, source code, interaction type, lead status, rating and channel codes are codes
wherever they appear: their own lists (`interaction_types[].code`, `lead_statuses[].code`,
`processing.ratings`/`channels`), defaults, `then` of rating and channel rules, feed
targets, score keys, and the values of guard and `when` tests on those attributes. So
`guard: {source_code: [ceo-summit]}` matches a record's `CEO-SUMMIT`. A rule set's own
status (`active`) is read the same way.

Works on a copy of the raw parsed document, tolerant of wrong types (the validators name
those); `rules_version` keeps hashing the document as written.
"""

from __future__ import annotations

import copy
from typing import Any

CODE_ATTRIBUTES = frozenset({"country", "source_code", "type", "status", "rating", "channel"})
ENGINES = ("qualification", "rating", "channel_selection")


def upper(value: Any) -> Any:
    """A string upper-cased; anything else as it is."""
    return value.upper() if isinstance(value, str) else value


def _upper_all(value: Any) -> Any:
    if isinstance(value, list):
        return [upper(v) for v in value]
    return upper(value)


def normalise_conditions(spec: Any) -> Any:
    """A guard or `when` with the values of tests on code attributes upper-cased."""
    if isinstance(spec, dict):
        return {k: _upper_all(v) if isinstance(k, str) and k in CODE_ATTRIBUTES else v
                for k, v in spec.items()}
    if isinstance(spec, list):
        out = []
        for c in spec:
            attribute = c.get("attribute") if isinstance(c, dict) else None
            if isinstance(attribute, str) and attribute in CODE_ATTRIBUTES and "value" in c:
                c = {**c, "value": _upper_all(c["value"])}
            out.append(c)
        return out
    return spec


def _items(parent: Any, key: str) -> list[dict[str, Any]]:
    seq = parent.get(key) if isinstance(parent, dict) else None
    return [x for x in seq if isinstance(x, dict)] if isinstance(seq, list) else []


def _upper_key(mapping: dict[str, Any], key: str) -> None:
    if key in mapping:
        mapping[key] = upper(mapping[key])


def _rule_set(rs: dict[str, Any], then_is_code: bool) -> None:
    _upper_key(rs, "status")  # DRAFT | ACTIVE | INACTIVE, written any case
    if "guard" in rs:
        rs["guard"] = normalise_conditions(rs["guard"])
    for rule in _items(rs, "rules"):
        if "when" in rule:
            rule["when"] = normalise_conditions(rule["when"])
        if then_is_code:
            _upper_key(rule, "then")


def normalise_codes(doc: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A deep copy of `doc` with every code upper-cased (see the module docstring), and the
    errors of keys that fold to the same code (`scores: {foo: 1, FOO: 2}`)."""
    doc = copy.deepcopy(doc)
    errors: list[str] = []
    profiles = doc.get("profiles")
    if isinstance(profiles, dict):
        _upper_key(profiles, "default_lead_status")
    for key in ("lead_statuses", "interaction_types"):
        for item in _items(doc, key):
            _upper_key(item, "code")
    sets = doc.get("interaction_rule_sets")
    for i, rs in enumerate(sets if isinstance(sets, list) else []):
        if not isinstance(rs, dict):
            continue
        _rule_set(rs, then_is_code=False)
        scores = rs.get("scores")
        if isinstance(scores, dict):
            rs["scores"] = _upper_score_keys(scores, f"interaction_rule_sets[{i}].scores", errors)
    feeds = doc.get("feeds")
    if isinstance(feeds, dict):
        for feed, mapping in feeds.items():
            if isinstance(mapping, dict):
                feeds[feed] = {value: upper(code) for value, code in mapping.items()}
    processing = doc.get("processing")
    if isinstance(processing, dict):
        _processing(processing)
    assignment = doc.get("assignment")
    for territory in _items(assignment, "territories"):
        if "guard" in territory:
            territory["guard"] = normalise_conditions(territory["guard"])
    return doc, errors


def _upper_score_keys(scores: dict[Any, Any], path: str, errors: list[str]) -> dict[Any, Any]:
    """Score keys upper-cased; a second key folding to the same code is an error."""
    out: dict[Any, Any] = {}
    for k, v in scores.items():
        key = upper(k)
        if key in out:
            errors.append(f"{path}.{k}: the same type as another key ({key}); "
                          "codes are case-blind")
            continue
        out[key] = v
    return out


def _processing(processing: dict[str, Any]) -> None:
    for key in ("ratings", "channels"):
        if isinstance(processing.get(key), list):
            processing[key] = [upper(v) for v in processing[key]]
    defaults = processing.get("defaults")
    if isinstance(defaults, dict):
        _upper_key(defaults, "rating")
        _upper_key(defaults, "channel")
    codes = processing.get("attribute_codes")
    if isinstance(codes, dict):
        processing["attribute_codes"] = {
            k: _upper_all(v) if isinstance(k, str) and k in CODE_ATTRIBUTES else v
            for k, v in codes.items()
        }
    for engine in ENGINES:
        for rs in _items(processing, engine):
            _rule_set(rs, then_is_code=engine != "qualification")
