"""The worker's back end of the party state store: one partition of a `TableBatch` (RocksDB
plus the batch's writes) as a `state.types.KeyValue`, so the matching agent loads and stores
party state through the same `state.store.PartyStore` as `simulate`."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from state.store import PartyStore
from tables.batch import TableBatch


class PartitionTable:
    """`KeyValue` over one partition of a `TableBatch`; `drain` drains the whole batch."""

    __slots__ = ("batch", "partition")

    def __init__(self, batch: TableBatch, partition: int) -> None:
        self.batch = batch
        self.partition = partition

    def get(self, key: bytes) -> bytes | None:
        return self.batch.get(self.partition, key)

    def written(self, key: bytes) -> bool:
        return self.batch.written(self.partition, key)

    def dropped(self, key: bytes) -> bytes | None:
        return self.batch.dropped(self.partition, key)

    def scan(self, prefix: bytes) -> list[tuple[bytes, bytes]]:
        return self.batch.scan(self.partition, prefix)

    def put(self, key: bytes, value: bytes | None, *, early: bool = False) -> None:
        self.batch.put(self.partition, key, value, early=early)

    def drain(self, puts: bool = True, deletes: bool = True) -> list[Any]:
        return self.batch.drain(puts, deletes)

    def apply(self, writes: dict[bytes, bytes | None]) -> None:
        for key, value in writes.items():
            self.batch.put(self.partition, key, value)
        self.batch.drain()  # nothing else pending in immediate mode (not the agent's way)

    def discard(self) -> None:
        self.batch.discard()


class PartyStores:
    """One `PartyStore` per partition over the worker's `parties` and `party-parts` batches."""

    def __init__(self, headers: TableBatch, parts: TableBatch, *, epoch: Callable[[], int],
                 on_repair: Callable[[int, list[bytes]], None] | None = None) -> None:
        self.headers, self.parts = headers, parts
        self.epoch, self.on_repair = epoch, on_repair
        self._stores: dict[int, PartyStore] = {}

    def __getitem__(self, partition: int) -> PartyStore:
        store = self._stores.get(partition)
        if store is None:
            told = self.on_repair
            store = self._stores[partition] = PartyStore(
                PartitionTable(self.headers, partition), PartitionTable(self.parts, partition),
                epoch=self.epoch,
                on_repair=None if told is None else functools.partial(told, partition))
        return store
