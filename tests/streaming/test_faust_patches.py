"""The getmany fix in streaming/faust_patches.py, without a broker: the consumer thread gets a
snapshot of the active partitions (never an empty set, which aiokafka reads as "all"), and
records of a partition paused while the fetch waited are not skipped but rewound."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from faust.types import TP

from streaming import faust_patches

A, B, C = TP("in", 0), TP("in", 1), TP("changelog", 0)


class FakeConsumer:
    def __init__(self, active: set[TP], on_fetch: Any = None,
                 returned: dict[TP, list[Any]] | None = None) -> None:
        self._active_partitions = active
        self._buffered_partitions: set[TP] = set()
        self.fetched_with: list[Any] = []
        self.seeks: list[tuple[TP, int]] = []
        consumer = self

        async def getmany(partitions: Any, timeout: float) -> dict[TP, list[Any]]:
            consumer.fetched_with.append(partitions)
            if on_fetch:
                on_fetch(consumer)  # the main thread changes the live set meanwhile
            return dict(returned or {})

        self._thread = SimpleNamespace(getmany=getmany)

    async def seek(self, tp: TP, offset: int) -> None:
        self.seeks.append((tp, offset))


def rec(offset: int) -> Any:
    return SimpleNamespace(offset=offset)


def run(consumer: FakeConsumer, active: Any) -> Any:
    return asyncio.run(faust_patches._getmany(consumer, active, 1.0))


def test_the_thread_gets_a_snapshot_not_the_live_set() -> None:
    live = {C}
    c = FakeConsumer(live, on_fetch=lambda c: c._active_partitions.clear())
    run(c, live)
    assert c.fetched_with == [frozenset({C})]
    assert isinstance(c.fetched_with[0], frozenset)


def test_no_fetch_with_an_empty_set() -> None:
    c = FakeConsumer(set())
    assert run(c, set()) == {}
    assert c.fetched_with == []


def test_records_of_a_partition_paused_meanwhile_are_rewound() -> None:
    live = {A, B}
    c = FakeConsumer(live, on_fetch=lambda c: c._active_partitions.discard(B),
                     returned={A: [rec(5), rec(6)], B: [rec(10), rec(11)]})
    out = run(c, live)
    assert set(out) == {A}
    assert c.seeks == [(B, 10)]


def test_buffered_partitions_keep_their_records() -> None:
    live = {A}
    c = FakeConsumer(live, returned={A: [rec(1)], B: [rec(2)]})
    c._buffered_partitions.add(B)  # removed from active by on_buffer_full: still delivered
    out = run(c, {A, B})
    assert set(out) == {A, B} and c.seeks == []


def test_patch_is_installed() -> None:
    from faust.transport.consumer import ThreadDelegateConsumer

    assert faust_patches.apply()
    assert ThreadDelegateConsumer._getmany is faust_patches._getmany
