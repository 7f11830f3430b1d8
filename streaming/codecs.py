"""Byte codecs of the streaming job. Every topic value is raw bytes; JSON is orjson.

Agents receive bytes and decode them inside their loop (NOTES-stack: a value that fails to
deserialize in Faust's own codec layer can stop the partition).
"""

from __future__ import annotations

from typing import Any

import orjson

from models.wire import NotJsonObject, id_or_none, json_object

__all__ = ["decode_key", "dumps", "encode_key", "header", "loads_object", "party_of"]


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


def loads_object(raw: bytes | None) -> dict[str, Any] | None:
    """A JSON object, or None when `raw` is not one (the core then says why)."""
    if not raw:
        return None
    try:
        return json_object(raw)
    except NotJsonObject:
        return None


def encode_key(key: str | None) -> bytes | None:
    return None if key is None else key.encode()


def decode_key(key: bytes | None) -> str | None:
    if key is None:
        return None
    return key.decode("utf-8", errors="replace")


def party_of(doc: dict[str, Any] | None, field: str = "party_id") -> str | None:
    """The id in `field` as the core reads it (`models.wire.id_text`), else None: the core
    then refuses the record before any state is keyed by it."""
    return id_or_none(doc, field)


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
