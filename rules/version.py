"""`rules_version`: the first 12 hex digits of SHA-256 of the config's canonical JSON form."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Any

import orjson


def _default(o: Any) -> str:
    if isinstance(o, datetime | date):
        return o.isoformat()
    raise TypeError(f"cannot encode {type(o).__name__}")


def canonical_json(doc: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8, dates as ISO strings."""
    options = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
    return orjson.dumps(doc, option=options, default=_default)


def rules_version(doc: Any) -> str:
    return hashlib.sha256(canonical_json(doc)).hexdigest()[:12]
