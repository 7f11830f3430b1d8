"""Batch intake (tables/engine_internals.py `BatchIntake`), without a broker: the patched drain
hands the intake topics' records over in per-partition lists, tracked, and the rest to the
conductor's callback; a full queue holds the drain; a rebalance drops what is not queued or
still queued (untracked, never acked); a batch of an older generation is dropped when taken;
`done` acks. The real-broker side: the reliability tests with INTAKE=batch (docs/BENCH.md)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP

from tables import engine_internals
from tables.engine_internals import BatchIntake, batch_intakes, install_intake
from tests.tables.drain_fakes import FakeDrainConsumer

A, B, OTHER = TP("in", 0), TP("in", 1), TP("other", 0)


def _setup(batch_max: int = 10, maxsize: int = 8) -> tuple[Any, BatchIntake]:
    """A consumer (real mode Service: wait_first, _stopped) with what `_drain_messages` and
    the intake read, a Faust-like app with real flow control, and its intake of topic "in"."""
    from mode.utils.queues import FlowControlEvent

    app = SimpleNamespace(
        flow_control=FlowControlEvent(initially_suspended=False),
        topics=SimpleNamespace(acks_enabled_for=lambda topic: True),
        consumer_generation_id=1,
    )

    class Consumer(FakeDrainConsumer):
        def __init__(self) -> None:
            super().__init__(app, [A, B, OTHER])
            self.delivered: list[Any] = []
            self._unacked_messages: set[Any] = set()
            self.acked: list[tuple[TP, int]] = []

        async def callback(self, message: Any) -> None:
            self.delivered.append(message)

        def track_message(self, message: Any) -> None:
            self._unacked_messages.add(message)

        def ack(self, message: Any) -> bool:
            self._unacked_messages.discard(message)
            self.acked.append((message.tp, message.offset))
            return True

    consumer = Consumer()
    app.consumer = consumer
    intake = install_intake(app, ["in"], batch_max)
    intake.maxsize = maxsize
    return consumer, intake


class Msg:
    def __init__(self, tp: TP, offset: int, generation: int = 1) -> None:
        self.tp, self.topic, self.partition, self.offset = tp, tp.topic, tp.partition, offset
        self.generation_id = generation
        self.key = self.value = None
        self.tracked = False

    def __repr__(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


def _fetch(*parts: tuple[TP, range]) -> list[tuple[TP, Any]]:
    """Records as Faust's getmany yields them: round-robin over the partitions."""
    its = [[Msg(tp, o) for o in offsets] for tp, offsets in parts]
    out = []
    while any(its):
        for msgs in its:
            if msgs:
                m = msgs.pop(0)
                out.append((m.tp, m))
    return out


async def _drain(consumer: Any) -> None:
    async with asyncio.timeout(5):
        await engine_internals._drain_messages(consumer, consumer.fetcher)


def _offsets(batch: list[Any]) -> list[tuple[int, int]]:
    return [(m.partition, m.offset) for m in batch]


async def test_drain_hands_intake_records_over_per_partition_and_tracked() -> None:
    c, intake = _setup(batch_max=3)
    c.fetched = _fetch((A, range(0, 5)), (OTHER, range(0, 2)), (B, range(10, 12)))
    await _drain(c)
    assert [m.offset for m in c.delivered] == [0, 1]  # the other topic: Faust's callback
    assert all(m.topic == "other" for m in c.delivered)
    lists = [_offsets(intake.queue.get_nowait()) for _ in range(intake.queue.qsize())]
    assert lists == [[(0, 0), (0, 1), (0, 2)], [(0, 3), (0, 4)], [(1, 10), (1, 11)]]
    assert len(c._unacked_messages) == 7 and c._read_offset[A] == 4
    assert intake.stats[:2] == [3, 7]


async def test_each_agents_intake_gets_its_own_topics_records() -> None:
    c, first = _setup(batch_max=10)
    second = install_intake(c.app, ["other"], 10)  # a second agent's intake
    assert batch_intakes(c.app) == [first, second]
    c.fetched = _fetch((A, range(0, 2)), (OTHER, range(0, 3)), (B, range(5, 6)))
    await _drain(c)
    assert c.delivered == []  # every record went to an intake
    assert _offsets(await first.take()) == [(0, 0), (0, 1), (1, 5)]
    assert [(m.topic, m.offset) for m in await second.take()] == [("other", i) for i in range(3)]
    assert len(c._unacked_messages) == 6
    with pytest.raises(ValueError, match="other already taken"):
        install_intake(c.app, ["other", "third"], 10)


async def test_take_joins_lists_up_to_batch_max_and_done_acks() -> None:
    c, intake = _setup(batch_max=4)
    c.fetched = _fetch((A, range(0, 3)), (B, range(0, 3)))
    await _drain(c)
    batch = await intake.take()
    assert _offsets(batch) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    assert c.acked == []
    intake.done(batch)
    assert c.acked == [(A, 0), (A, 1), (A, 2), (B, 0), (B, 1), (B, 2)]
    assert not c._unacked_messages


async def test_full_queue_holds_the_drain_until_a_batch_is_taken() -> None:
    c, intake = _setup(batch_max=2, maxsize=1)
    c.fetched = _fetch((A, range(0, 6)))
    drain = asyncio.ensure_future(_drain(c))
    await asyncio.sleep(0.1)
    assert not drain.done() and intake.queue.qsize() == 1  # fetching waits on the queue
    taken = [_offsets(await intake.take()) for _ in range(3)]
    await drain
    assert taken == [[(0, 0), (0, 1)], [(0, 2), (0, 3)], [(0, 4), (0, 5)]]
    assert intake.stats[2] >= 1  # waited for room


async def test_rebalance_drops_queued_and_waiting_records_untracked() -> None:
    """A rebalance sets suspend_flow and clears Faust's queues (flow_control.clear): the
    waiting hand-over is aborted and the queued lists dropped; none is acked and none stays
    tracked (Faust's wait_empty would wait for it), so the partition is fetched again from
    its committed offset."""
    c, intake = _setup(batch_max=2, maxsize=1)
    c.fetched = _fetch((A, range(0, 6)))
    drain = asyncio.ensure_future(_drain(c))
    await asyncio.sleep(0.1)
    assert len(c._unacked_messages) == 4  # one list queued, one waiting to be
    c.suspend_flow.set()
    c.app.flow_control.suspend()
    c.app.flow_control.clear()
    await drain
    assert intake.queue.empty() and not c._unacked_messages and c.acked == []
    assert intake.stats[3] == 6


async def test_a_running_batch_stays_tracked_through_a_rebalance() -> None:
    """What wait_empty waits for: the batch the agent took before the rebalance is still
    tracked until `done` acks it."""
    c, intake = _setup(batch_max=2)
    c.fetched = _fetch((A, range(0, 4)))
    await _drain(c)
    running = await intake.take()
    c.suspend_flow.set()
    c.app.flow_control.suspend()
    c.app.flow_control.clear()
    assert set(c._unacked_messages) == set(running)
    intake.done(running)
    assert not c._unacked_messages and c.acked == [(A, 0), (A, 1)]


async def test_records_of_an_older_generation_are_dropped_when_taken() -> None:
    c, intake = _setup(batch_max=10)
    old = [Msg(A, 0, generation=1), Msg(A, 1, generation=1)]
    new = [Msg(B, 5, generation=2)]
    await intake.hand_over(c, {A: old})
    c.app.consumer_generation_id = 2
    await intake.hand_over(c, {B: new})
    batch = await intake.take()
    assert batch == new
    assert c._unacked_messages == set(new) and intake.stats[3] == 2


async def test_nothing_is_handed_over_while_flow_is_suspended() -> None:
    c, intake = _setup()
    c.app.flow_control.suspend()
    await intake.hand_over(c, {A: [Msg(A, 0)]})
    assert intake.queue.empty() and not c._unacked_messages
