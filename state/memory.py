"""The in-memory back end of the party state store: dicts, with a batch's writes held until
drained, exactly as the worker's `TableBatch` holds them (`simulate`, `core.pipeline.Pipeline`,
the crash-gap tests)."""

from __future__ import annotations

from typing import Any

_ABSENT = object()


def _compact(b: bytes) -> bytes:
    """A copy of exactly its size (orjson's result may keep a larger allocation)."""
    return bytes(memoryview(b))


class MemoryTable:
    """`state.types.KeyValue` over a dict (`data`: what is stored for good)."""

    __slots__ = ("data", "_writes", "_early")

    def __init__(self, data: dict[bytes, bytes] | None = None) -> None:
        self.data: dict[bytes, bytes] = {} if data is None else data
        self._writes: dict[bytes, bytes | None] = {}
        self._early: set[bytes] = set()

    def get(self, key: bytes) -> bytes | None:
        pending = self._writes.get(key, _ABSENT)
        if pending is not _ABSENT:
            return pending  # type: ignore[return-value]
        return self.data.get(key)

    def written(self, key: bytes) -> bool:
        return key in self._writes

    def dropped(self, key: bytes) -> bytes | None:
        if key in self._writes and self._writes[key] is None:
            return self.data.get(key)
        return None

    def scan(self, prefix: bytes) -> list[tuple[bytes, bytes]]:
        return sorted((k, v) for k, v in self.data.items()
                      if k.startswith(prefix) and k not in self._writes)

    def put(self, key: bytes, value: bytes | None, *, early: bool = False) -> None:
        self._writes[key] = value
        if early:
            self._early.add(key)
        elif self._early:
            self._early.discard(key)

    def drain(self, puts: bool = True, deletes: bool = True) -> list[Any]:
        """Store the phase's writes (module `state.types`); nothing to send."""
        data, early = self.data, self._early
        if not self._writes:
            return []
        if puts and deletes:
            writes, self._writes = self._writes, {}
            if early:
                self._early = set()
        else:
            writes = {k: v for k, v in self._writes.items()
                      if (v is not None or k in early) == puts}
            for k in writes:
                del self._writes[k]
                early.discard(k)
        for key, value in writes.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = _compact(value)
        return []

    def apply(self, writes: dict[bytes, bytes | None]) -> None:
        data = self.data
        for key, value in writes.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = _compact(value)

    def discard(self) -> None:
        """Forget the pending writes (a worker killed: its local state is rebuilt from the
        changelogs, which never got them)."""
        self._writes, self._early = {}, set()

    def __len__(self) -> int:
        return len(self._writes)
