"""Conditions of guards and rules (CONTRACT §3, §4), evaluated against a record lookup.

A condition never raises at evaluation time: values of the wrong type simply fail, so a
strange attribute in one record cannot stop a partition. Type errors in the config itself
are refused at load time (see `check_condition_value`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Lookup = Callable[[str], Any]

OPERATORS: frozenset[str] = frozenset(
    {
        "eq", "ne", "in", "not_in", "lt", "lte", "gt", "gte", "between",
        "is_null", "is_not_null", "contains", "not_contains", "begins_with", "ends_with",
    }
)
NUMERIC_OPS = frozenset({"lt", "lte", "gt", "gte"})
LIST_OPS = frozenset({"in", "not_in"})
STRING_OPS = frozenset({"contains", "not_contains", "begins_with", "ends_with"})
NULL_OPS = frozenset({"is_null", "is_not_null"})
# Operators that hold for a list attribute only when no element fails them.
NEGATIVE_OPS = frozenset({"ne", "not_in", "not_contains"})


@dataclass(frozen=True, slots=True)
class Condition:
    """One `{attribute, op, value}` test."""

    attribute: str
    op: str
    value: Any = None


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def check_condition_value(op: str, value: Any) -> str | None:
    """Return why `value` cannot be used with `op`, or None when it can."""
    if op not in OPERATORS:
        return f"unknown operator {op!r}"
    if op in NULL_OPS:
        return None if value is None else f"{op} takes no value"
    if op in LIST_OPS:
        if not isinstance(value, list) or not value:
            return f"{op} needs a non-empty list"
        if any(isinstance(v, dict | list) for v in value):
            return f"{op} needs a list of scalars"
        return None
    if op == "between":
        if not isinstance(value, list) or len(value) != 2:
            return "between needs [low, high]"
        if not all(_is_number(v) for v in value):
            return "between needs two numbers"
        if value[0] > value[1]:
            return "between needs low <= high"
        return None
    if op in NUMERIC_OPS:
        return None if _is_number(value) else f"{op} needs a number"
    if op in STRING_OPS:
        return None if isinstance(value, str) and value != "" else f"{op} needs a non-empty string"
    # eq, ne
    if value is None:
        return f"{op} needs a value (use is_null / is_not_null for null)"
    if isinstance(value, dict | list):
        return f"{op} needs a scalar value (use in / not_in for a list)"
    return None


_NUMERIC = re.compile(r"[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?([eE][+-]?\d+)?|[+-]?\.\d+")


def _as_number(v: Any) -> float | None:
    """Numbers, and strings written as decimal numbers ("50000", "50,000", "1.5e3")."""
    if _is_number(v):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, str):
        text = v.strip()
        if _NUMERIC.fullmatch(text):
            return float(text.replace(",", ""))
    return None


def _equal(actual: Any, expected: Any) -> bool:
    if type(actual) is str and type(expected) is str:  # the common case: text against text
        return actual == expected
    if isinstance(actual, bool) or isinstance(expected, bool):
        return actual is expected if isinstance(actual, bool) else False
    if _is_number(expected) or _is_number(actual):
        a, e = _as_number(actual), _as_number(expected)
        return a is not None and e is not None and a == e
    return bool(actual == expected)


def _in(actual: Any, values: list[Any]) -> bool:
    for v in values:  # noqa: SIM110 - a loop, not any(): no generator per call (hot path)
        if _equal(actual, v):
            return True
    return False


def _numeric(compare: Callable[[float, Any], bool]) -> Callable[[Any, Any], bool]:
    """A numeric test: the actual value read as a number (else it fails), against `value`."""
    def test(actual: Any, value: Any) -> bool:
        a = _as_number(actual)
        return a is not None and compare(a, value)
    return test


def _textual(compare: Callable[[str, str], bool]) -> Callable[[Any, Any], bool]:
    """A string test, case-insensitive; a non-string actual value fails."""
    def test(actual: Any, value: Any) -> bool:
        return isinstance(actual, str) and compare(actual.casefold(), str(value).casefold())
    return test


# op -> its test on one non-null scalar (is_null / is_not_null are decided before).
_SCALAR_TESTS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": _equal,
    "ne": lambda a, v: not _equal(a, v),
    "in": _in,
    "not_in": lambda a, v: not _in(a, v),
    "lt": _numeric(lambda a, v: bool(a < v)),
    "lte": _numeric(lambda a, v: bool(a <= v)),
    "gt": _numeric(lambda a, v: bool(a > v)),
    "gte": _numeric(lambda a, v: bool(a >= v)),
    "between": _numeric(lambda a, v: bool(v[0] <= a <= v[1])),
    "contains": _textual(lambda a, v: v in a),
    "not_contains": _textual(lambda a, v: v not in a),
    "begins_with": _textual(str.startswith),
    "ends_with": _textual(str.endswith),
}


def _scalar_test(op: str, actual: Any, value: Any) -> bool:
    """Evaluate `op` on one non-null scalar."""
    test = _SCALAR_TESTS.get(op)
    return test is not None and test(actual, value)


def _is_null(actual: Any) -> bool:
    return actual is None or (isinstance(actual, list | tuple) and len(actual) == 0)


def evaluate(cond: Condition, lookup: Lookup) -> bool:
    """True when the record seen through `lookup` satisfies `cond`.

    Null (missing, None or empty list) satisfies only `is_null`; every comparison fails.
    A list attribute satisfies a positive operator if any element does, a negative one
    (`ne`, `not_in`, `not_contains`) only if every element does.
    """
    actual = lookup(cond.attribute)
    op = cond.op
    if op == "is_null":
        return _is_null(actual)
    if op == "is_not_null":
        return not _is_null(actual)
    if _is_null(actual):
        return False
    if isinstance(actual, list | tuple):
        elems = [a for a in actual if a is not None]
        if not elems:
            return False
        if op in NEGATIVE_OPS:
            return all(_scalar_test(op, a, cond.value) for a in elems)
        return any(_scalar_test(op, a, cond.value) for a in elems)
    if isinstance(actual, dict):
        return False
    return _scalar_test(op, actual, cond.value)


def evaluate_all(conds: Sequence[Condition], lookup: Lookup) -> bool:
    """AND of all conditions; an empty list holds."""
    for c in conds:  # noqa: SIM110 - a loop, not all(): no generator per call (hot path)
        if not evaluate(c, lookup):
            return False
    return True


def make_lookup(fields: Mapping[str, Any], attributes: Mapping[str, Any] | None) -> Lookup:
    """Look a name up in the record's own fields, then (absent or null there) in its attributes."""
    attrs = attributes or {}

    def lookup(name: str) -> Any:
        v = fields.get(name)
        if v is None:
            return attrs.get(name)
        return v

    return lookup


def refers_to(conds: Sequence[Condition], attribute: str) -> bool:
    """Whether any condition tests `attribute` (used for reevaluation on link)."""
    return any(c.attribute == attribute for c in conds)
