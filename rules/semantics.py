"""Cross-reference checks of a rules document, each error named by its path.

Runs on the raw parsed YAML, independently of the pydantic pass, so a config with a
structural error still gets all its other errors reported in one go.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from rules.conditions import check_condition_value

ENGINES = ("qualification", "rating", "channel_selection")


def _items(doc: Any, key: str) -> list[tuple[int, dict[str, Any]]]:
    seq = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(seq, list):
        return []
    return [(i, x) for i, x in enumerate(seq) if isinstance(x, dict)]


def _codes(doc: Any, key: str, field: str = "code") -> set[str]:
    return {x[field] for _, x in _items(doc, key) if isinstance(x.get(field), str)}


def _duplicates(items: list[tuple[int, dict[str, Any]]], path: str, field: str) -> Iterator[str]:
    seen: dict[Any, int] = {}
    for i, x in items:
        v = x.get(field)
        if not isinstance(v, str | int):
            continue
        if v in seen:
            yield f"{path}[{i}].{field}: duplicate {field} {v!r} (first at {path}[{seen[v]}])"
        else:
            seen[v] = i


def _as_date(v: Any) -> date | None:
    if isinstance(v, date):
        return v
    if isinstance(v, str):
        try:
            return date.fromisoformat(v)
        except ValueError:
            return None
    return None


def conditions_errors(spec: Any, path: str) -> Iterator[str]:
    """Errors of a guard or `when`: a mapping {attribute: value-or-list} or a list of tests."""
    if spec is None:
        return
    if isinstance(spec, dict):
        for name, value in spec.items():
            p = f"{path}.{name}"
            if isinstance(value, dict):
                yield f"{p}: a guard value must be a scalar or a list"
            elif isinstance(value, list):
                err = check_condition_value("in", value)
                if err:
                    yield f"{p}: {err}"
            elif value is None:
                yield f"{p}: a guard value must not be null (use is_null in the list form)"
        return
    if not isinstance(spec, list):
        yield f"{path}: must be a mapping or a list of conditions"
        return
    for i, c in enumerate(spec):
        p = f"{path}[{i}]"
        if not isinstance(c, dict):
            yield f"{p}: must be a mapping with attribute, op and value"
            continue
        unknown = set(c) - {"attribute", "op", "value"}
        if unknown:
            yield f"{p}: unknown keys {sorted(unknown)}"
        if not isinstance(c.get("attribute"), str) or not c.get("attribute"):
            yield f"{p}.attribute: required string"
        op = c.get("op")
        if not isinstance(op, str):
            yield f"{p}.op: required string"
            continue
        err = check_condition_value(op, c.get("value"))
        if err:
            yield f"{p}.{'op' if err.startswith('unknown operator') else 'value'}: {err}"


def _rule_set_errors(rs: dict[str, Any], path: str) -> Iterator[str]:
    start, end = _as_date(rs.get("start_date")), _as_date(rs.get("end_date"))
    if start and end and start > end:
        yield f"{path}.start_date: start_date {start} is after end_date {end}"
    yield from conditions_errors(rs.get("guard"), f"{path}.guard")


def semantic_errors(doc: Any) -> list[str]:
    """Every cross-reference error of the document, in document order."""
    if not isinstance(doc, dict):
        return []
    errors: list[str] = []
    types = _codes(doc, "interaction_types")
    enabled = {
        x["code"] for _, x in _items(doc, "interaction_types")
        if isinstance(x.get("code"), str) and x.get("enabled", True) is not False
    }
    statuses = _codes(doc, "lead_statuses")
    errors += _duplicates(_items(doc, "interaction_types"), "interaction_types", "code")
    errors += _duplicates(_items(doc, "lead_statuses"), "lead_statuses", "code")

    profiles = doc.get("profiles")
    if isinstance(profiles, dict):
        dls = profiles.get("default_lead_status", "NEW")
        if isinstance(dls, str) and statuses and dls not in statuses:
            errors.append(f"profiles.default_lead_status: unknown lead status {dls!r}")
        elif isinstance(dls, str) and dls in statuses:
            st = next(x for _, x in _items(doc, "lead_statuses") if x.get("code") == dls)
            if st.get("open") is False:
                errors.append(f"profiles.default_lead_status: status {dls!r} is not open")

    sets = _items(doc, "interaction_rule_sets")
    errors += _duplicates(sets, "interaction_rule_sets", "id")
    for i, rs in sets:
        p = f"interaction_rule_sets[{i}]"
        errors += _rule_set_errors(rs, p)
        scores = rs.get("scores")
        if isinstance(scores, dict):
            for code in scores:
                if code not in types:
                    errors.append(f"{p}.scores.{code}: unknown interaction type")
                elif code not in enabled:
                    errors.append(f"{p}.scores.{code}: interaction type is disabled")

    feeds = doc.get("feeds")
    if isinstance(feeds, dict):
        for feed, mapping in feeds.items():
            if feed not in ("callcenter", "web"):
                errors.append(f"feeds.{feed}: unknown feed (callcenter, web)")
            if isinstance(mapping, dict):
                for value, code in mapping.items():
                    if isinstance(code, str) and code not in types:
                        errors.append(f"feeds.{feed}.{value}: unknown interaction type {code!r}")

    processing = doc.get("processing")
    if isinstance(processing, dict):
        errors += _processing_errors(processing)
    return errors


def _processing_errors(processing: dict[str, Any]) -> Iterator[str]:
    ratings = processing.get("ratings", ["A", "B", "C", "D"])
    channels = processing.get("channels", [])
    ratings = ratings if isinstance(ratings, list) else []
    channels = channels if isinstance(channels, list) else []
    for name, values in (("ratings", ratings), ("channels", channels)):
        dup = {v for v in values if isinstance(v, str) and values.count(v) > 1}
        for v in sorted(dup):
            yield f"processing.{name}: duplicate entry {v!r}"
    defaults = processing.get("defaults")
    if isinstance(defaults, dict):
        r, c = defaults.get("rating"), defaults.get("channel")
        if isinstance(r, str) and r not in ratings:
            yield f"processing.defaults.rating: {r!r} is not in processing.ratings"
        if isinstance(c, str) and c not in channels:
            yield f"processing.defaults.channel: {c!r} is not in processing.channels"
    for engine in ENGINES:
        sets = _items(processing, engine)
        yield from _duplicates(sets, f"processing.{engine}", "id")
        for i, rs in sets:
            p = f"processing.{engine}[{i}]"
            yield from _rule_set_errors(rs, p)
            rules = _items(rs, "rules")
            yield from _duplicates(rules, f"{p}.rules", "id")
            for j, rule in rules:
                rp = f"{p}.rules[{j}]"
                yield from conditions_errors(rule.get("when"), f"{rp}.when")
                then = rule.get("then")
                if engine == "qualification" and not isinstance(then, bool):
                    yield f"{rp}.then: qualification gives true or false"
                elif engine == "rating" and then not in ratings:
                    yield f"{rp}.then: {then!r} is not in processing.ratings"
                elif engine == "channel_selection" and then not in channels:
                    yield f"{rp}.then: {then!r} is not in processing.channels"
