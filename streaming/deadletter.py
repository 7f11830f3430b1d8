"""Dead letters (CONTRACT §5): the original key and bytes, with headers naming the source
topic, partition, offset, the reason and the time, so an operator can fix and replay them.

Headers (all UTF-8 text): ``dl-topic``, ``dl-partition``, ``dl-offset``, ``dl-reason`` (the
full reason, e.g. ``type: unknown interaction type 'X'``), ``dl-reason-code`` (one of
`REASON_CODES`, also the label of ``leadstream_dead_letters_total``), ``dl-time`` (ISO-8601
UTC wall clock), ``dl-agent``. The original record's headers follow them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from core.validation import RECORD_CODES
from ops import metrics

__all__ = ["REASON_CODES", "dead_letter_headers"]

#: Low-cardinality reason codes (metric label values): those of the input records, decided by
#: the pure core (core/validation.py, docs/validation.md; `simulate` writes the same ones to
#: dead_letters.jsonl), then the job's internal ones.
REASON_CODES = (
    *RECORD_CODES,
    "invalid_import",       # a party import the matching agent cannot read (internal topic)
    "invalid_lead_event",   # an internal lead event processing cannot apply
    "invalid_assignment_request",  # an internal territory request (CONTRACT §11)
    "error",                # an unexpected exception while handling the record
)

MAX_REASON = 1000


def dead_letter_headers(
    *, topic: str, partition: int, offset: int, reason: str, code: str, agent: str,
    original: Iterable[tuple[str, Any]] | None = None, now: datetime | None = None,
) -> list[tuple[str, bytes]]:
    if code not in REASON_CODES:
        code = "error"
    when = (now or datetime.now(UTC)).isoformat(timespec="milliseconds")
    out = [
        ("dl-topic", topic.encode()),
        ("dl-partition", str(partition).encode()),
        ("dl-offset", str(offset).encode()),
        ("dl-reason", reason[:MAX_REASON].encode("utf-8", errors="replace")),
        ("dl-reason-code", code.encode()),
        ("dl-time", when.encode()),
        ("dl-agent", agent.encode()),
    ]
    for k, v in original or ():
        if not str(k).startswith("dl-"):
            out.append((str(k), v if isinstance(v, bytes) else str(v).encode()))
    metrics.DEAD_LETTERS.labels(reason=code).inc()
    return out


def headers_list(headers: Any) -> list[tuple[str, Any]]:
    """Faust message headers (list of pairs, mapping or None) as a list of pairs."""
    if not headers:
        return []
    if hasattr(headers, "items"):
        return list(headers.items())
    return list(headers)
