"""One id rule and one JSON-object decoder (models/wire.py): partition routing (streaming's
`party_of`, the imports agent's OSR) and the core's validation read ids the same way."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.imports import InvalidImport, decode_import
from core.validation import InvalidRecord, decode_json, read_id
from models.wire import MAX_ID_LEN, IdProblem, NotJsonObject, id_or_none, id_text, json_object
from streaming.codecs import loads_object, party_of

IDS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                st.text(max_size=300), st.lists(st.integers(), max_size=2),
                st.just(""), st.just("  x  "), st.just("x" * (MAX_ID_LEN + 1)))


@pytest.mark.parametrize(("value", "want"), [
    ("P1", "P1"), (42, "42"), ("", IdProblem.MISSING), (None, IdProblem.MISSING),
    (True, IdProblem.NOT_TEXT), (1.5, IdProblem.NOT_TEXT), ([1], IdProblem.NOT_TEXT),
    ("x" * MAX_ID_LEN, "x" * MAX_ID_LEN), ("x" * (MAX_ID_LEN + 1), IdProblem.TOO_LONG),
    (10 ** 300, IdProblem.TOO_LONG), (" a ", " a "),
])
def test_id_text(value: Any, want: Any) -> None:
    assert id_text(value) == want


def test_strip_and_no_limit() -> None:
    assert id_text(" a ", strip=True) == "a"
    assert id_text("   ", strip=True) is IdProblem.MISSING
    assert id_text("x" * 1000, None) == "x" * 1000


@given(IDS)
def test_routing_and_validation_agree_on_every_party_id(value: Any) -> None:
    """The worker routes by `party_of` before the core validates with `read_id`: they give the
    same id or both none, so no state is ever keyed by an id the core would refuse."""
    errors: list[str] = []
    assert party_of({"party_id": value}) == read_id({"party_id": value}, "party_id", errors)
    assert id_or_none({"party_id": value}, "party_id") == party_of({"party_id": value})


@pytest.mark.parametrize(("raw", "what"), [
    (b"{nope", "not valid JSON"), (b"[" * 2000 + b"]" * 2000, "nested too deep"),
    (b"[1]", "not an object"), (b'"s"', "not an object"),
])
def test_json_object_says_why(raw: bytes, what: str) -> None:
    with pytest.raises(NotJsonObject) as info:
        json_object(raw)
    assert info.value.what == what
    assert loads_object(raw) is None
    with pytest.raises(InvalidRecord):
        decode_json(raw)
    with pytest.raises(InvalidImport):
        decode_import(raw)


def test_json_object_reads_objects_and_copies_mappings() -> None:
    m = {"a": 1}
    assert json_object(b'{"a": 1}') == m == loads_object(b'{"a": 1}')
    copy = json_object(m)
    assert copy == m and copy is not m
