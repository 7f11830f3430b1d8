"""Byte codecs of the streaming job. Every topic value is raw bytes; JSON is orjson.

Agents receive bytes and decode them inside their loop (NOTES-stack: a value that fails to
deserialize in Faust's own codec layer can stop the partition).
"""

from __future__ import annotations

from typing import Any

import orjson

from core.validation import MAX_ID_LEN

__all__ = ["decode_key", "dumps", "encode_key", "header", "loads_object", "party_of"]


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


def loads_object(raw: bytes | None) -> dict[str, Any] | None:
    """A JSON object, or None when `raw` is not one (the core then says why)."""
    if not raw:
        return None
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None


def encode_key(key: str | None) -> bytes | None:
    return None if key is None else key.encode()


def decode_key(key: bytes | None) -> str | None:
    if key is None:
        return None
    return key.decode("utf-8", errors="replace")


def party_of(doc: dict[str, Any] | None, field: str = "party_id") -> str | None:
    """The id in `field` as the core reads it (string, or integer as text, at most
    MAX_ID_LEN characters), else None: the core then refuses the record before any state
    is keyed by it."""
    if doc is None:
        return None
    v = doc.get(field)
    if isinstance(v, bool) or not isinstance(v, str | int) or v == "":
        return None
    s = v if isinstance(v, str) else str(v)
    return s if len(s) <= MAX_ID_LEN else None


def header(headers: Any, name: str) -> str | None:
    """A header value as text, from Faust's message headers (list of pairs or mapping)."""
    if not headers:
        return None
    items = headers.items() if hasattr(headers, "items") else headers
    for k, v in items:
        if k == name:
            if v is None:
                return None
            return v.decode("utf-8", errors="replace") if isinstance(v, bytes) else str(v)
    return None
