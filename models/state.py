"""Per-party state: one compact value per party, the unit the streaming job keeps in RocksDB.

The core never mutates a state it was given; it returns a new one (copy on write), so the
caller can decide to persist or drop it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from models.records import JSON, Score


@dataclass(frozen=True, slots=True)
class PendingEntry:
    """An interaction waiting in the party's window."""

    interaction_id: str
    occurred_at: str
    ts: float
    seq: int  # arrival order within the party, breaks occurred_at ties
    score: Score
    rule_set_id: str
    rules_version: str
    contact_id: str | None = None
    country: str | None = None
    source_code: str | None = None
    attributes: JSON = field(default_factory=dict)

    def to_list(self) -> list[Any]:
        return [
            self.interaction_id, self.occurred_at, self.ts, self.seq, self.score,
            self.rule_set_id, self.rules_version, self.contact_id, self.country,
            self.source_code, self.attributes or None,
        ]

    @classmethod
    def from_list(cls, v: list[Any]) -> PendingEntry:
        return cls(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10] or {})


@dataclass(frozen=True, slots=True)
class LeadRef:
    """What matching and import dedupe need to know of a party's lead."""

    lead_id: str
    status: str
    created_at: str
    created_ts: float
    contact_id: str | None = None
    source_code: str | None = None
    country: str | None = None
    attributes: JSON = field(default_factory=dict)
    updated_at: str | None = None
    # Interactions linked to this lead: a re-sent one stays DUPLICATE after its id has left
    # the lookback-bounded `seen` map (it would otherwise be linked twice).
    interaction_ids: tuple[str, ...] = ()

    def value_of(self, name: str) -> Any:
        """A lead field, or (absent or null) an attribute: the same lookup as conditions."""
        own = {"source_code": self.source_code, "country": self.country,
               "contact_id": self.contact_id, "status": self.status}
        v = own.get(name)
        return self.attributes.get(name) if v is None else v

    def to_list(self) -> list[Any]:
        return [
            self.lead_id, self.status, self.created_at, self.created_ts, self.contact_id,
            self.source_code, self.country, self.attributes or None, self.updated_at,
            list(self.interaction_ids),
        ]

    @classmethod
    def from_list(cls, v: list[Any]) -> LeadRef:
        ids = tuple(v[9]) if len(v) > 9 else ()
        return cls(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7] or {}, v[8], ids)


@dataclass(frozen=True, slots=True)
class PartyState:
    """A party's pending window, its leads, the interaction ids it has seen, its clocks."""

    window: tuple[PendingEntry, ...] = ()
    leads: tuple[LeadRef, ...] = ()
    seen: dict[str, float] = field(default_factory=dict)  # interaction_id -> occurred ts
    watermark: float | None = None  # newest occurred_at seen (epoch s)
    seq: int = 0  # arrivals so far
    # Streaming only: last source offset applied per input topic, so a redelivered record
    # (after a crash or rebalance) is recognised and changes nothing. The core ignores it.
    progress: dict[str, int] = field(default_factory=dict)

    def applied(self, source: str, offset: int) -> bool:
        """Whether the record at `offset` of `source` was already applied to this state."""
        last = self.progress.get(source)
        return last is not None and offset <= last

    def with_progress(self, source: str, offset: int) -> PartyState:
        from dataclasses import replace

        return replace(self, progress={**self.progress, source: offset})

    @property
    def is_empty(self) -> bool:
        return not (self.window or self.leads or self.seen)

    def lead(self, lead_id: str) -> LeadRef | None:
        return next((lr for lr in self.leads if lr.lead_id == lead_id), None)

    def to_bytes(self) -> bytes:
        return orjson.dumps({
            "w": [p.to_list() for p in self.window],
            "l": [lr.to_list() for lr in self.leads],
            "s": self.seen,
            "m": self.watermark,
            "q": self.seq,
            "o": self.progress,
        })

    @staticmethod
    def has_pending(raw: bytes | None) -> bool:
        """Whether an encoded state has a non-empty window, without decoding it (metrics scan
        every local party; `to_bytes` always writes the window first)."""
        return bool(raw) and not raw.startswith(b'{"w":[]')  # type: ignore[union-attr]

    @classmethod
    def from_bytes(cls, raw: bytes | None) -> PartyState:
        if not raw:
            return cls()
        d = orjson.loads(raw)
        return cls(
            window=tuple(PendingEntry.from_list(v) for v in d.get("w", ())),
            leads=tuple(LeadRef.from_list(v) for v in d.get("l", ())),
            seen=dict(d.get("s", {})),
            watermark=d.get("m"),
            seq=d.get("q", 0),
            progress=dict(d.get("o", {})),
        )
