"""Every operator of rules.conditions with nulls, missing attributes, lists (CONTRACT §3, §4)."""

from __future__ import annotations

from typing import Any

import pytest

from rules.compiled import compile_conditions
from rules.conditions import (
    OPERATORS,
    Condition,
    check_condition_value,
    evaluate,
    evaluate_all,
    make_lookup,
)

MISSING = object()  # the attribute is not there at all


def _holds(op: str, value: Any, actual: Any) -> bool:
    attrs = {} if actual is MISSING else {"x": actual}
    return evaluate(Condition("x", op, value), make_lookup({}, attrs))


# (op, value, actual, expected)
CASES: list[tuple[str, Any, Any, bool]] = [
    # eq
    ("eq", "US", "US", True),
    ("eq", "US", "us", False),  # eq is exact; only the string operators ignore case
    ("eq", "US", "GB", False),
    ("eq", 50000, 50000, True),
    ("eq", 50000, 50000.0, True),
    ("eq", 50000, "50000", True),  # numeric strings are read as numbers
    ("eq", 50000, "fifty", False),
    ("eq", True, True, True),
    ("eq", True, 1, False),  # booleans are not numbers
    ("eq", 1, True, False),
    ("eq", "US", None, False),
    ("eq", "US", MISSING, False),
    ("eq", "US", [], False),
    ("eq", "Laptops", ["Printers", "Laptops"], True),  # any element
    ("eq", "Laptops", ["Printers", "Scanners"], False),
    ("eq", "US", {"a": 1}, False),
    # ne
    ("ne", "A", "B", True),
    ("ne", "A", "A", False),
    ("ne", "A", None, False),  # null fails every comparison, ne included
    ("ne", "A", MISSING, False),
    ("ne", "A", [], False),
    ("ne", "A", ["B", "C"], True),  # every element
    ("ne", "A", ["B", "A"], False),
    ("ne", 5, "abc", True),
    # in
    ("in", ["US", "CA"], "CA", True),
    ("in", ["US", "CA"], "GB", False),
    ("in", ["US", "CA"], None, False),
    ("in", ["US", "CA"], MISSING, False),
    ("in", ["Monitors", "Laptops"], ["Printers", "Laptops"], True),
    ("in", ["Monitors", "Laptops"], ["Printers", "Scanners"], False),
    ("in", [1, 2], "2", True),
    # not_in
    ("not_in", ["US", "CA"], "GB", True),
    ("not_in", ["US", "CA"], "US", False),
    ("not_in", ["US", "CA"], None, False),
    ("not_in", ["US", "CA"], MISSING, False),
    ("not_in", ["US", "CA"], ["GB", "FR"], True),
    ("not_in", ["US", "CA"], ["GB", "US"], False),
    # lt / lte / gt / gte
    ("lt", 50000, 49999, True),
    ("lt", 50000, 50000, False),
    ("lt", 50000, "49999.5", True),
    ("lt", 50000, "1,000", True),  # thousands separators are dropped
    ("lt", 50000, "cheap", False),
    ("lt", 50000, True, False),
    ("lt", 50000, None, False),
    ("lt", 50000, MISSING, False),
    ("lt", 50000, [60000, 10], True),
    ("lt", 50000, [60000, 70000], False),
    ("lte", 50000, 50000, True),
    ("lte", 50000, 50001, False),
    ("lte", 50000, None, False),
    ("gt", 50000, 50001, True),
    ("gt", 50000, 50000, False),
    ("gt", 50000, MISSING, False),
    ("gt", 50000, ["x", 60000], True),
    ("gte", 50000, 50000, True),
    ("gte", 50000, 49999, False),
    ("gte", 50000, None, False),
    ("gte", 50000, [], False),
    # between (inclusive)
    ("between", [10, 20], 10, True),
    ("between", [10, 20], 20, True),
    ("between", [10, 20], 15.5, True),
    ("between", [10, 20], 21, False),
    ("between", [10, 20], 9, False),
    ("between", [10, 20], "15", True),
    ("between", [10, 20], "x", False),
    ("between", [10, 20], None, False),
    ("between", [10, 20], MISSING, False),
    ("between", [10, 20], [1, 12], True),
    # is_null / is_not_null
    ("is_null", None, None, True),
    ("is_null", None, MISSING, True),
    ("is_null", None, [], True),
    ("is_null", None, "", False),
    ("is_null", None, 0, False),
    ("is_null", None, ["a"], False),
    ("is_not_null", None, None, False),
    ("is_not_null", None, MISSING, False),
    ("is_not_null", None, [], False),
    ("is_not_null", None, 0, True),
    ("is_not_null", None, False, True),
    ("is_not_null", None, ["a"], True),
    # contains / not_contains (case-insensitive)
    ("contains", "summit", "CEO-SUMMIT-2026", True),
    ("contains", "summit", "webinar", False),
    ("contains", "summit", 12, False),
    ("contains", "summit", None, False),
    ("contains", "summit", MISSING, False),
    ("contains", "summit", ["webinar", "Summit"], True),
    ("not_contains", "summit", "webinar", True),
    ("not_contains", "summit", "Summit", False),
    ("not_contains", "summit", None, False),
    ("not_contains", "summit", MISSING, False),
    ("not_contains", "summit", ["webinar", "expo"], True),
    ("not_contains", "summit", ["webinar", "SUMMIT"], False),
    # begins_with / ends_with (case-insensitive)
    ("begins_with", "ceo", "CEO-SUMMIT", True),
    ("begins_with", "ceo", "THE-CEO", False),
    ("begins_with", "ceo", None, False),
    ("begins_with", "ceo", MISSING, False),
    ("begins_with", "ceo", ["x", "ceo-1"], True),
    ("ends_with", "summit", "CEO-SUMMIT", True),
    ("ends_with", "summit", "SUMMIT-CEO", False),
    ("ends_with", "summit", None, False),
    ("ends_with", "summit", MISSING, False),
    ("ends_with", "summit", ["x-summit", "y"], True),
]


def _case_id(c: tuple[str, Any, Any, bool]) -> str:
    actual = "MISSING" if c[2] is MISSING else repr(c[2])
    return f"{c[0]}:{c[1]!r}:{actual}"


@pytest.mark.parametrize(
    ("op", "value", "actual", "expected"), CASES, ids=[_case_id(c) for c in CASES]
)
def test_operator(op: str, value: Any, actual: Any, expected: bool) -> None:
    assert _holds(op, value, actual) is expected


def test_every_operator_is_covered_with_null_and_missing() -> None:
    ops = {c[0] for c in CASES}
    assert ops == OPERATORS
    for op in OPERATORS:
        kinds = {("null" if c[2] is None else "missing") for c in CASES
                 if c[0] == op and (c[2] is None or c[2] is MISSING)}
        assert kinds, f"{op}: no case with a null or missing attribute"


@pytest.mark.parametrize(
    ("fields", "attrs", "name", "expected"),
    [
        ({"country": "US"}, {"country": "GB"}, "country", "US"),  # own field first
        ({"country": None}, {"country": "GB"}, "country", "GB"),  # null field: attribute
        ({}, {"purchase_amount": 5}, "purchase_amount", 5),
        ({}, None, "purchase_amount", None),
        ({"qualified": False}, {"qualified": True}, "qualified", False),  # False is not null
    ],
)
def test_lookup_fields_then_attributes(
    fields: dict[str, Any], attrs: dict[str, Any] | None, name: str, expected: Any
) -> None:
    assert make_lookup(fields, attrs)(name) == expected


@pytest.mark.parametrize(
    ("spec", "attrs", "expected"),
    [
        ({}, {}, True),  # empty guard: everything
        (None, {}, True),
        ({"country": ["US", "CA"]}, {"country": "CA"}, True),  # OR within a list
        ({"country": ["US", "CA"]}, {"country": "GB"}, False),
        ({"country": "US", "product": ["A", "B"]}, {"country": "US", "product": "B"}, True),
        ({"country": "US", "product": ["A", "B"]}, {"country": "GB", "product": "B"}, False),  # AND
        ({"country": "US", "product": ["A", "B"]}, {"country": "US"}, False),  # missing: fails
        ({"product": ["A", "B"]}, {"product": ["Z", "A"]}, True),  # list attribute: any
        ([{"attribute": "n", "op": "gt", "value": 1}, {"attribute": "n", "op": "lt", "value": 3}],
         {"n": 2}, True),
        ([{"attribute": "n", "op": "gt", "value": 1}, {"attribute": "n", "op": "lt", "value": 3}],
         {"n": 3}, False),
        ([{"attribute": "n", "op": "is_null"}], {}, True),
    ],
)
def test_compiled_guards(spec: Any, attrs: dict[str, Any], expected: bool) -> None:
    assert evaluate_all(compile_conditions(spec), make_lookup({}, attrs)) is expected


@pytest.mark.parametrize(
    ("op", "value", "ok"),
    [
        ("eq", "US", True), ("eq", None, False), ("eq", [1], False), ("ne", 3, True),
        ("in", ["a"], True), ("in", [], False), ("in", "a", False), ("in", [[1]], False),
        ("not_in", ["a"], True),
        ("lt", 5, True), ("lt", "5", False), ("lte", True, False), ("gt", 1.5, True),
        ("gte", None, False),
        ("between", [1, 2], True), ("between", [2, 1], False), ("between", [1], False),
        ("between", ["a", "b"], False),
        ("is_null", None, True), ("is_null", 1, False), ("is_not_null", None, True),
        ("contains", "x", True), ("contains", "", False), ("contains", 3, False),
        ("not_contains", "x", True), ("begins_with", "x", True), ("ends_with", 1, False),
        ("like", "x", False),
    ],
)
def test_config_values_checked_at_load(op: str, value: Any, ok: bool) -> None:
    assert (check_condition_value(op, value) is None) is ok
