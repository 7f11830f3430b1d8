"""Step 7 of matching: the party's event-time window.

`initialize / agg / result` in the style of quix-streams aggregators over a tuple of
PendingEntry: the reference definition. `agg_stored` makes the same decisions over a party's
stored window (a `Draft` of its PartyState) in bounded work per step; matching uses it.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.records import Score
from state.party import Draft, PendingEntry, expiry_cutoff

Window = tuple[PendingEntry, ...]


@dataclass(slots=True, unsafe_hash=True)  # never mutated; not frozen: a frozen __init__ costs ~4x
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
    cutoff = expiry_cutoff(newest, lookback_s)
    kept = tuple(e for e in window if e.ts >= cutoff)
    expired = tuple(e for e in window if e.ts < cutoff)
    if entry.ts < cutoff:
        return WindowStep(kept, expired, True, ())
    joined = (*kept, entry)
    if result(joined) >= threshold:
        return WindowStep(initialize(), expired, False, joined)
    return WindowStep(joined, expired, False, ())


# --------------------------------------------------------------------------- stored window
# The same step over a party's stored window (state/party.py: a B+-tree of the pending
# entries' (ts, seq) keys, their entries in id records, the exact sum in the header): the
# work per step does not grow with the window, except when it fires (the whole window becomes
# a lead) and for the entries that expire (each expires once).


@dataclass(slots=True, unsafe_hash=True)  # never mutated; not frozen: a frozen __init__ costs ~4x
class StoredStep:
    expired: tuple[PendingEntry, ...]   # pending entries that left as EXPIRED, window order
    entry_expired: bool                 # the new entry was too old to join
    fired: tuple[PendingEntry, ...]     # non-empty: the sum reached IST; these form a lead


def agg_stored(d: Draft, entry: PendingEntry, lookback_s: float,
               threshold: Score) -> StoredStep:
    """`agg` on a Draft: expire, then add, then fire at the IST; the same decisions."""
    newest = entry.ts if d.wnewest is None else max(d.wnewest, entry.ts)
    cutoff = expiry_cutoff(newest, lookback_s)
    expired = tuple(d.window_expire(cutoff))
    if entry.ts < cutoff:
        return StoredStep(expired, True, ())
    joined = d.wsum.add(entry.score)
    if joined.reaches(threshold, d.wcount + 1,
                      lambda: result((*d.window_all(), entry))):
        return StoredStep(expired, False, (*d.window_take_all(), entry))
    d.window_insert(entry)
    return StoredStep(expired, False, ())
