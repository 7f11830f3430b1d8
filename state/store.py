"""`PartyStore`: the one place that loads and stores party state (state/party.py explains the
encoding and why the protocol is safe when a worker dies between the write phases).

Per party: a header in the `headers` table (key: the party id) and parts in the `parts` table.
Two modes:
- batched (the worker; `Pipeline` between `begin_batch` and `end_batch`): the batch's writes
  stay in the tables' overlays; a header the batch wrote is loaded as not stored for good (it
  carries the batch base); the first load of a party in a new repair epoch undoes what a lost
  batch left of its parts (`lost_part_repairs`, early deletions); at the end of the batch the
  tables are drained in `write_phases` order: (1) part puts and early deletions, (2) headers,
  (3) the other part deletions;
- immediate (`simulate`): every `store` is stored at once (`apply`: no reader runs between
  its writes), and the decoded states are kept (a cache of the stored bytes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from state.party import PartyState, lost_part_repairs, party_prefix
from state.types import Drainable, KeyValue

D = TypeVar("D", bound=Drainable)


def write_phases(headers: D, parts: D) -> list[tuple[D, bool, bool]]:
    """The order a batch's writes are stored in (module docstring): parts first (what the new
    headers use), then the headers (the commit point), then what only old headers used."""
    return [(parts, True, False), (headers, True, True), (parts, False, True)]


class PartyStore:
    """Load and store `PartyState`s over two `KeyValue` tables."""

    def __init__(self, headers: KeyValue, parts: KeyValue, *,
                 epoch: Callable[[], int] = lambda: 0, batched: bool = True,
                 on_repair: Callable[[list[bytes]], None] | None = None) -> None:
        self.headers = headers
        self.parts = parts
        #: the running repair epoch (drawn at every start and partition assignment)
        self.epoch = epoch
        self.batched = batched
        #: told the part keys a repair rewrote (metrics, logs, tests)
        self.on_repair = on_repair
        self._live: dict[str, PartyState] = {}  # immediate mode: the committed states

    def load(self, party_id: str) -> PartyState:
        """The party's state (a new one if unknown), as the running batch sees it."""
        if not self.batched:
            st = self._live.get(party_id)
            if st is None:
                st = PartyState.from_bytes(self.headers.get(party_id.encode()), self.parts.get)
            return st
        key = party_id.encode()
        raw = self.headers.get(key)
        # a header this batch wrote is not stored for good: it carries the batch base
        in_batch = self.headers.written(key)
        st = PartyState.from_bytes(raw, self.parts.get, in_batch=in_batch,
                                   dropped=self.parts.dropped)
        epoch = self.epoch()
        if not in_batch and st.epoch != epoch:
            self._repair(party_id, raw)
            # the epoch it was checked in goes into the header it writes (the epoch may change
            # before then: an assignment), so a party is never marked unchecked
            st = st.with_epoch(epoch)
        return st

    def _repair(self, party_id: str, raw: bytes | None) -> None:
        """First load of the party in this epoch: undo what a lost batch left of its parts;
        the writes go with the batch's other part writes (no stored header uses what they
        replace)."""
        repairs = lost_part_repairs(raw, self.parts.scan(party_prefix(party_id)))
        for key, value in repairs.items():
            self.parts.put(key, value, early=True)
        if repairs and self.on_repair is not None:
            self.on_repair(list(repairs))

    def store(self, party_id: str, state: PartyState) -> None:
        """Write a state: its parts, then its header (batched: at the end of the batch)."""
        if self.batched:
            for key, value in state.part_writes().items():
                self.parts.put(key, value)
            self.headers.put(party_id.encode(), state.committed(in_batch=True).to_bytes())
            return
        # stored at once, no reader runs between the writes: parts, then the header
        self.parts.apply(state.part_writes())
        done = state.committed()
        self.headers.apply({party_id.encode(): done.to_bytes()})
        self._live[party_id] = done

    def end_batch(self, *, killed: bool = False) -> None:
        """Store the batch's writes in `write_phases` order, all at once (the in-memory
        pipeline, tests; the worker sends each phase with its changelog records instead).
        `killed`: the worker dies after the first phase; the rest is lost."""
        for i, (table, puts, deletes) in enumerate(write_phases(self.headers, self.parts)):
            if killed and i:
                self.headers.discard()
                self.parts.discard()
                return
            table.drain(puts, deletes)

    def forget(self) -> None:
        """Drop the decoded states: the next loads decode the stored bytes (a restart)."""
        self._live.clear()
