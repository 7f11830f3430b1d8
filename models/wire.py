"""The two rules every input topic shares, written once so the streaming job's partition
routing (which reads party ids before the core does) and the core's validation can never
disagree: what an id field holds (`id_text`) and how a record's bytes become a JSON object
(`json_object`). Callers word the errors their own outputs carry."""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any

import orjson

#: the longest id (party, interaction, lead, contact, OSR...) the engine accepts
MAX_ID_LEN = 256


class IdProblem(Enum):
    """Why a field holds no usable id."""

    MISSING = "missing"    # null or ""
    NOT_TEXT = "not_text"  # not a string nor an integer (booleans are not integers here)
    TOO_LONG = "too_long"  # longer than the limit (or an integer too long to write out)


def id_text(v: Any, max_len: int | None = MAX_ID_LEN, *, strip: bool = False
            ) -> str | IdProblem:
    """An id field's value as text: a non-empty string (`strip`: without surrounding blanks),
    or an integer written in decimal; at most `max_len` characters (None: no limit)."""
    if type(v) is str and not strip and v and (max_len is None or len(v) <= max_len):
        return v  # the common case, decided by the checks below as well
    if strip and isinstance(v, str):
        v = v.strip()
    if v is None or v == "":
        return IdProblem.MISSING
    if isinstance(v, bool) or not isinstance(v, str | int):
        return IdProblem.NOT_TEXT
    s = v if isinstance(v, str) else _int_text(v)
    if s is None or (max_len is not None and len(s) > max_len):
        return IdProblem.TOO_LONG
    return s


def _int_text(v: int) -> str | None:
    try:
        return str(v)
    except ValueError:  # more digits than Python converts (a mapping built in code)
        return None


def id_or_none(doc: Mapping[str, Any] | None, field: str, max_len: int | None = MAX_ID_LEN,
               *, strip: bool = False) -> str | None:
    """`id_text` of `doc[field]`, None when there is no usable id (or no document)."""
    if doc is None:
        return None
    s = id_text(doc.get(field), max_len, strip=strip)
    return None if isinstance(s, IdProblem) else s


class NotJsonObject(ValueError):
    """Bytes that are no JSON object: `what` says why ("not valid JSON", "nested too deep",
    or "not an object": then `value` is the JSON value it is)."""

    def __init__(self, what: str, value: Any = None) -> None:
        super().__init__(what)
        self.what, self.value = what, value


def json_object(raw: bytes | str | Mapping[str, Any]) -> dict[str, Any]:
    """A JSON object from bytes/str (orjson), or a copy of the mapping; NotJsonObject else."""
    if isinstance(raw, Mapping):
        return dict(raw)
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        what = "nested too deep" if "depth" in str(exc.args[0]) else "not valid JSON"
        raise NotJsonObject(what) from None
    if not isinstance(doc, dict):
        raise NotJsonObject("not an object", doc)
    return doc
