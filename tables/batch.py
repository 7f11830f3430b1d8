"""Write-back access to Faust tables for one batch of records.

Faust's per-key table API (`table[k]`, `table[k] = v`) finds the partition through the
current event, reads RocksDB twice for `get` (`in`, then `[]`), runs sensors and sends one
changelog record per assignment. The agents handle records in batches (`Stream.take_events`),
so they read and write through a `TableBatch` instead:

- reads go to the batch's own writes first, then to the RocksDB instance of the record's
  partition (one `get`);
- writes stay in memory until `flush()`, so a key written by several records of one batch
  (a busy party) costs one RocksDB put and one changelog record per batch; `written` says
  whether the batch wrote a key, `dropped` gives the value before the batch of a key it
  deletes (the party state's crash-safe part values need both, state/party.py);
- `put_doc` / `get_doc`: a value kept as its decoded document until `drain()` encodes it, so
  a key several records of one batch read and write (a busy lead) is decoded once when the
  batch first reads it and encoded once when the batch ends, not once per record;
- `drain()` writes each changed key to its partition's RocksDB instance and returns its
  changelog record (same topic, partition, key and raw value as `table[k] = v` would send;
  None deletes the key: a tombstone); the agent sends them with its outputs and calls
  `note_sent`, which keeps Faust's persisted changelog offset as `Table.send_changelog` does.

The agents drain their tables after the batch's outputs (agents/runtime.py) and before the
batch's events are acked, so Faust's commit (producer flush first) covers both. Keys and
values are raw bytes (bytes-typed tables use Faust's raw serializer).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from faust.types import TP
from rocksdict import WriteBatch

from tables.engine_internals import db_for_partition

_DELETE = None


class _Doc:
    """A value put as a document: encoded when the batch is drained (or read as bytes)."""

    __slots__ = ("doc", "encode")

    def __init__(self, doc: Any, encode: Callable[[Any], bytes]) -> None:
        self.doc = doc
        self.encode = encode


#: An output record as the agents send it: (topic, key, value, headers, partition);
#: `drain()` returns the changelog records in this shape (agents/outbox.py sends them).
Record = tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]] | None, int | None]


class TableBatch:
    """Pending writes to one Faust table, keyed by (partition, key)."""

    __slots__ = ("table", "topic", "_store", "_dbs", "_writes", "_early")

    def __init__(self, table: Any) -> None:
        self.table = table
        self.topic: str = table.changelog_topic.get_topic_name()
        self._store = table.data  # faust.stores.rocksdb.Store (opened on first use)
        self._dbs: dict[int, Any] = {}
        self._writes: dict[tuple[int, bytes], bytes | _Doc | None] = {}
        self._early: set[tuple[int, bytes]] = set()  # deletions that go with the puts

    def _db(self, partition: int) -> Any:
        db = self._dbs.get(partition)
        if db is None:
            db = self._dbs[partition] = db_for_partition(self._store, partition)
        return db

    def get(self, partition: int, key: bytes) -> bytes | None:
        """The key's value as this batch sees it."""
        pending = self._writes.get((partition, key), self)
        if pending is not self:
            if isinstance(pending, _Doc):
                return pending.encode(pending.doc)
            return pending  # type: ignore[return-value]
        value = self._db(partition).get(key)
        return bytes(value) if value is not None else None

    def get_doc(self, partition: int, key: bytes, decode: Callable[[bytes], Any]) -> Any:
        """The key's value decoded (None: no value), as this batch sees it: a document this
        batch put is returned as put, not encoded and decoded again."""
        pending = self._writes.get((partition, key), self)
        if isinstance(pending, _Doc):
            return pending.doc
        raw = self.get(partition, key) if pending is self else pending
        return None if raw is None else decode(raw)  # type: ignore[arg-type]

    def put_doc(self, partition: int, key: bytes, doc: Any,
                encode: Callable[[Any], bytes]) -> None:
        """Set the key to `encode(doc)` at the next `drain()` (encoded once however often the
        batch puts it). The caller hands `doc` over: it must not change it afterwards."""
        self._writes[(partition, key)] = _Doc(doc, encode)
        self._early.discard((partition, key))

    def written(self, partition: int, key: bytes) -> bool:
        """Whether this batch wrote (or deleted) the key: `get` shows the batch's value."""
        return (partition, key) in self._writes

    def dropped(self, partition: int, key: bytes) -> bytes | None:
        """The value stored before this batch of a key this batch deletes; None for any other
        key (state/party.py: a part deleted and written again in one batch)."""
        if self._writes.get((partition, key), self) is not _DELETE:
            return None
        value = self._db(partition).get(key)
        return bytes(value) if value is not None else None

    def scan(self, partition: int, prefix: bytes) -> list[tuple[bytes, bytes]]:
        """The stored (key, value)s whose key starts with `prefix`, in key order, leaving
        out the keys this batch wrote (their values are this batch's, not stored yet)."""
        out: list[tuple[bytes, bytes]] = []
        it = self._db(partition).iter()
        it.seek(prefix)
        while it.valid():
            key = bytes(it.key())
            if not key.startswith(prefix):
                break
            if (partition, key) not in self._writes:
                out.append((key, bytes(it.value())))
            it.next()
        return out

    def put(self, partition: int, key: bytes, value: bytes | None, *,
            early: bool = False) -> None:
        """Set (None: delete) the key at the next `drain()`. `early`: a deletion that may be
        sent with the puts (what it deletes is used by no stored value), not after them."""
        self._writes[(partition, key)] = value
        if early:
            self._early.add((partition, key))
        else:
            self._early.discard((partition, key))

    def __len__(self) -> int:
        return len(self._writes)

    def discard(self) -> None:
        """Forget the pending writes (tests: a worker killed before storing them)."""
        self._writes, self._early = {}, set()

    def drain(self, puts: bool = True, deletes: bool = True) -> list[Record]:
        """Write pending keys (`puts`: values and early deletions, `deletes`: the other
        deletions) to RocksDB; returns their changelog records for the caller to send
        (agents/outbox.py), then `note_sent`."""
        if puts and deletes:
            writes, self._writes = self._writes, {}
            self._early.clear()
        else:
            early = self._early
            writes = {k: v for k, v in self._writes.items()
                      if (v is not _DELETE or k in early) == puts}
            for k in writes:
                del self._writes[k]
                early.discard(k)
        topic = self.topic
        out: list[Record] = []
        batches: dict[int, WriteBatch] = {}  # one RocksDB write per partition, as Faust's
        for (partition, key), value in writes.items():  # own changelog apply does
            if isinstance(value, _Doc):
                value = value.encode(value.doc)
            wb = batches.get(partition)
            if wb is None:
                wb = batches[partition] = WriteBatch(raw_mode=True)
            if value is _DELETE:
                wb.delete(key)
            else:
                wb.put(key, value)
            out.append((topic, key, value, None, partition))
        for partition, wb in batches.items():
            self._db(partition).write(wb)
        if not self._writes:
            self._dbs.clear()  # partitions may be revoked between batches: reopen lazily
        return out

    def note_sent(self, sent: dict[tuple[str, int], Any]) -> None:
        """Keep Faust's persisted changelog offset (what a restart that keeps its RocksDB
        files resumes from), as `Table.send_changelog`'s callback does, once per batch."""
        for (topic, partition), (fut, count) in sent.items():
            if topic == self.topic:
                fut.add_done_callback(
                    lambda f, p=partition, n=count: self._persisted(p, f, n))

    def _persisted(self, partition: int, fut: Any, count: int) -> None:
        if fut.cancelled() or fut.exception() is not None:
            return
        offset = fut.result().offset + count - 1
        # a partition closed by a rebalance meanwhile: its next owner recovers it anyway
        with contextlib.suppress(Exception):
            self._store.set_persisted_offset(TP(self.topic, partition), offset)
