"""Cross-reference checks of a rules document, each error named by its path.

Runs on the raw parsed YAML, independently of the pydantic pass, so a config with a
structural error still gets all its other errors reported in one go.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from rules.conditions import OPERATORS, check_condition_value

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


@dataclass(frozen=True)
class Vocabulary:
    """What condition values are checked against: the codes the config defines for code
    attributes (`channel` -> processing.channels), and `processing.attribute_codes`."""

    known: dict[str, tuple[frozenset[str], str]] = field(default_factory=dict)
    attribute_codes: dict[str, list[str]] = field(default_factory=dict)

    def value_error(self, attribute: str, value: Any) -> str | None:
        """Why `value` cannot be compared with `attribute`, or None."""
        codes = self.attribute_codes.get(attribute)
        if codes is not None and value not in codes:
            return (f"{value!r} is not an allowed value of {attribute} "
                    f"(processing.attribute_codes: {', '.join(map(str, codes))})")
        known = self.known.get(attribute)
        hashable = isinstance(value, str | int | float | bool)
        if known is not None and known[0] and hashable and value not in known[0]:
            return (f"unknown {attribute} {value!r} "
                    f"({known[1]}: {', '.join(sorted(known[0]))})")
        return None


_COMPARING_OPS = frozenset({"eq", "ne", "in", "not_in"})
_NO_VOCABULARY = Vocabulary()


def _value_errors(attribute: Any, value: Any, path: str, vocab: Vocabulary) -> Iterator[str]:
    if not isinstance(attribute, str):
        return
    if isinstance(value, list):
        for j, v in enumerate(value):
            err = vocab.value_error(attribute, v)
            if err:
                yield f"{path}[{j}]: {err}"
    elif value is not None:
        err = vocab.value_error(attribute, value)
        if err:
            yield f"{path}: {err}"


def conditions_errors(spec: Any, path: str,
                      vocab: Vocabulary = _NO_VOCABULARY) -> Iterator[str]:
    """Errors of a guard or `when`: a mapping {attribute: value-or-list} or a list of tests."""
    if spec is None:
        return
    if isinstance(spec, dict):
        for name, value in spec.items():
            p = f"{path}.{name}"
            if isinstance(value, dict):
                yield f"{p}: a guard value must be a scalar or a list"
                continue
            if isinstance(value, list):
                err = check_condition_value("in", value)
                if err:
                    yield f"{p}: {err}"
                    continue
            elif value is None:
                yield f"{p}: a guard value must not be null (use is_null in the list form)"
                continue
            yield from _value_errors(name, value, p, vocab)
        return
    if not isinstance(spec, list):
        yield f"{path}: must be a mapping or a list of conditions"
        return
    for i, c in enumerate(spec):
        p = f"{path}[{i}]"
        if not isinstance(c, dict):
            yield f"{p}: must be a mapping with attribute, op and value"
            continue
        for key in c:
            if key not in ("attribute", "op", "value"):
                yield f"{p}.{key}: unknown key"
        attribute = c.get("attribute")
        if "attribute" not in c:
            yield f"{p}.attribute: is required"
        elif not isinstance(attribute, str) or not attribute:
            yield f"{p}.attribute: must be a non-empty name"
        op = c.get("op")
        if "op" not in c:
            yield f"{p}.op: is required"
            continue
        if not isinstance(op, str):
            yield f"{p}.op: must be one of {', '.join(sorted(OPERATORS))}"
            continue
        err = check_condition_value(op, c.get("value"))
        if err:
            yield f"{p}.{'op' if err.startswith('unknown operator') else 'value'}: {err}"
        elif op in _COMPARING_OPS:
            yield from _value_errors(attribute, c.get("value"), f"{p}.value", vocab)


def _rule_set_errors(rs: dict[str, Any], path: str, vocab: Vocabulary) -> Iterator[str]:
    start, end = _as_date(rs.get("start_date")), _as_date(rs.get("end_date"))
    if start and end and start > end:
        yield f"{path}.start_date: start_date {start} is after end_date {end}"
    yield from conditions_errors(rs.get("guard"), f"{path}.guard", vocab)


def _str_set(values: Any) -> frozenset[str]:
    return frozenset(v for v in values if isinstance(v, str)) if isinstance(values, list) \
        else frozenset()


def _attribute_codes(processing: Any) -> dict[str, list[str]]:
    codes = processing.get("attribute_codes") if isinstance(processing, dict) else None
    if not isinstance(codes, dict):
        return {}
    return {k: v for k, v in codes.items() if isinstance(k, str) and isinstance(v, list)}


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

    processing = doc.get("processing")
    processing = processing if isinstance(processing, dict) else {}
    attribute_codes = _attribute_codes(processing)
    interaction_vocab = Vocabulary(
        known={"type": (frozenset(types), "interaction_types")},
        attribute_codes=attribute_codes)
    lead_vocab = Vocabulary(
        known={
            "status": (frozenset(statuses), "lead_statuses"),
            "rating": (_str_set(processing.get("ratings", ["A", "B", "C", "D"])),
                       "processing.ratings"),
            "channel": (_str_set(processing.get("channels", [])), "processing.channels"),
        },
        attribute_codes=attribute_codes)

    sets = _items(doc, "interaction_rule_sets")
    errors += _duplicates(sets, "interaction_rule_sets", "id")
    for i, rs in sets:
        p = f"interaction_rule_sets[{i}]"
        errors += _rule_set_errors(rs, p, interaction_vocab)
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

    errors += _processing_errors(processing, lead_vocab)
    errors += _assignment_errors(doc.get("assignment"), lead_vocab)
    return errors


def _processing_errors(processing: dict[str, Any], vocab: Vocabulary) -> Iterator[str]:
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
    codes = processing.get("attribute_codes")
    if isinstance(codes, dict):
        for name, values in codes.items():
            if isinstance(values, list) and not values:
                yield f"processing.attribute_codes.{name}: must list at least one value"
    for engine in ENGINES:
        sets = _items(processing, engine)
        yield from _duplicates(sets, f"processing.{engine}", "id")
        for i, rs in sets:
            p = f"processing.{engine}[{i}]"
            yield from _rule_set_errors(rs, p, vocab)
            rules = _items(rs, "rules")
            yield from _duplicates(rules, f"{p}.rules", "id")
            for j, rule in rules:
                rp = f"{p}.rules[{j}]"
                yield from conditions_errors(rule.get("when"), f"{rp}.when", vocab)
                then = rule.get("then")
                if engine == "qualification" and not isinstance(then, bool):
                    yield f"{rp}.then: qualification gives true or false"
                elif engine == "rating" and then not in ratings:
                    yield f"{rp}.then: {then!r} is not in processing.ratings"
                elif engine == "channel_selection" and then not in channels:
                    yield f"{rp}.then: {then!r} is not in processing.channels"


def _assignment_errors(assignment: Any, vocab: Vocabulary) -> Iterator[str]:
    """Territories (CONTRACT §11): unique ids, guards as any other, one entry per member."""
    territories = _items(assignment, "territories")
    yield from _duplicates(territories, "assignment.territories", "id")
    for i, t in territories:
        p = f"assignment.territories[{i}]"
        yield from conditions_errors(t.get("guard"), f"{p}.guard", vocab)
        yield from _duplicates(_items(t, "members"), f"{p}.members", "resource")
