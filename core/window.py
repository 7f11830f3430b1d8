"""Step 7 of matching: the party's event-time window as a pure aggregator.

`initialize / agg / result` in the style of quix-streams aggregators: the caller keeps the
value (a tuple of PendingEntry) and only calls these; nothing here knows about storage.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.records import Score
from models.state import PendingEntry

Window = tuple[PendingEntry, ...]


@dataclass(frozen=True, slots=True)
class WindowStep:
    window: Window                      # the window after this step
    expired: tuple[PendingEntry, ...]   # pending entries that left as EXPIRED
    entry_expired: bool                 # the new entry was too old to join
    fired: tuple[PendingEntry, ...]     # non-empty: the sum reached IST; these form a lead


def initialize() -> Window:
    return ()


def result(window: Window) -> Score:
    """The window's score sum."""
    return sum((e.score for e in window), 0)


def agg(window: Window, entry: PendingEntry, lookback_s: float, threshold: Score) -> WindowStep:
    """Expire by event time relative to the newest entry, then add, then fire at the IST."""
    newest = max([entry.ts, *(e.ts for e in window)])
    cutoff = newest - lookback_s
    kept = tuple(e for e in window if e.ts >= cutoff)
    expired = tuple(e for e in window if e.ts < cutoff)
    if entry.ts < cutoff:
        return WindowStep(kept, expired, True, ())
    joined = (*kept, entry)
    if result(joined) >= threshold:
        return WindowStep(initialize(), expired, False, joined)
    return WindowStep(joined, expired, False, ())
