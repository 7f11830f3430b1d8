"""The key-value interface a `PartyStore` stores party state through.

One table (the party headers, or the party parts) as the running batch sees it: reads see the
batch's own writes first; writes stay with the batch until `drain`, which stores them in
phases (`puts`: values and early deletions; `deletes`: the other deletions) so the store can
order parts, headers and late deletions (state/store.py). Back ends: `state.memory.MemoryTable`
(dicts: `simulate`, tests) and `tables.party_kv.PartitionTable` (the worker's RocksDB tables,
one partition)."""

from __future__ import annotations

from typing import Any, Protocol


class Drainable(Protocol):
    """What the write phases drain: a whole table (all partitions, for the worker)."""

    def drain(self, puts: bool = True, deletes: bool = True) -> list[Any]:
        """Store the pending writes of the phase; returns what the caller must send (the
        worker's changelog records; nothing for memory)."""


class KeyValue(Drainable, Protocol):
    """One table of raw keys and values, with the running batch's writes on top."""

    def get(self, key: bytes) -> bytes | None:
        """The key's value as the batch sees it (None: absent)."""

    def written(self, key: bytes) -> bool:
        """Whether the batch wrote (or deleted) the key."""

    def dropped(self, key: bytes) -> bytes | None:
        """The value stored before the batch of a key the batch deletes; None for any other."""

    def scan(self, prefix: bytes) -> list[tuple[bytes, bytes]]:
        """Stored (key, value)s under `prefix` in key order, without the keys the batch wrote."""

    def put(self, key: bytes, value: bytes | None, *, early: bool = False) -> None:
        """Set (None: delete) at the next drain. `early`: a deletion stored with the puts."""

    def apply(self, writes: dict[bytes, bytes | None]) -> None:
        """Store `writes` (None: delete) now, with no batch running (immediate mode)."""

    def discard(self) -> None:
        """Forget the batch's pending writes (a worker killed before storing them)."""

