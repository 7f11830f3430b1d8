"""The two back ends of the party state store, for tests run against both: dicts
(`state.memory`) and the worker's `TableBatch` over real RocksDB instances (rocksdict, raw
mode, as Faust's driver opens them) in a temporary directory."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from rocksdict import Options, Rdict

from state.memory import MemoryTable
from state.types import KeyValue
from tables.batch import TableBatch
from tables.party_kv import PartitionTable


class RocksStore:
    """Stands for faust.stores.rocksdb.Store: one real RocksDB per partition, in a temporary
    directory."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="tablebatch-")
        self.dbs: dict[int, Rdict] = {}

    def _db_for_partition(self, partition: int) -> Rdict:
        if partition not in self.dbs:
            self.dbs[partition] = Rdict(str(Path(self._dir.name) / str(partition)),
                                        options=Options(raw_mode=True))
        return self.dbs[partition]


class FakeTopic:
    def __init__(self, name: str) -> None:
        self.name = name

    def get_topic_name(self) -> str:
        return self.name


class FakeTable:
    """What `TableBatch` uses of a Faust table: its changelog topic name and its store."""

    def __init__(self, name: str) -> None:
        self.changelog_topic = FakeTopic(f"{name}-changelog")
        self.data = RocksStore()


def memory_tables() -> tuple[KeyValue, KeyValue]:
    return MemoryTable(), MemoryTable()


def rocksdb_tables(partition: int = 0) -> tuple[KeyValue, KeyValue]:
    return (PartitionTable(TableBatch(FakeTable("parties")), partition),
            PartitionTable(TableBatch(FakeTable("party-parts")), partition))


BACKENDS: dict[str, Callable[[], tuple[KeyValue, KeyValue]]] = {
    "memory": memory_tables,
    "rocksdb": rocksdb_tables,
}
