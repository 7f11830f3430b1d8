"""`Runtime.consume`: the end of a batch goes out in phases, each sent once the broker has the
one before; a batch whose results cannot be sent stops the worker (fail-stop) before the
stream can move on and ack it; the default stop is a process exit with `EXIT_UNSENT`."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError
from aiokafka.partitioner import DefaultPartitioner

from agents.runtime import EXIT_UNSENT, Runtime
from streaming.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]


class _Unreachable:
    """An AIOKafkaProducer whose broker is gone: its metadata lookup fails."""

    def __init__(self, batch_limit: int = 1000) -> None:
        self.batch_limit = batch_limit
        self.client = SimpleNamespace(_wait_on_metadata=self._fail)
        self._partitioner = DefaultPartitioner()

    async def _fail(self, topic: str) -> None:
        raise KafkaConnectionError(f"no broker for {topic}")


class _Stream:
    def __init__(self, batches: list[list[Any]]) -> None:
        self.batches = batches
        self.acked: list[int] = []

    async def take_events(self, n: int, within: float) -> AsyncIterator[list[Any]]:
        for batch in self.batches:
            try:
                yield batch
            finally:  # as Faust's take_events: acked however the consumer ends
                self.acked += [e.message.offset for e in batch]


def _event(offset: int) -> Any:
    return SimpleNamespace(message=SimpleNamespace(
        topic="in", partition=0, offset=offset, key=b"k", value=b"v", headers=[]))


def _runtime() -> Runtime:
    app = SimpleNamespace(producer=SimpleNamespace(_ensure_producer=_Unreachable))
    return Runtime(app=app, settings=load_settings({}), holder=None,  # type: ignore[arg-type]
                   topics=None, tables=None)  # type: ignore[arg-type]


async def test_unsendable_batch_stops_before_the_next_one() -> None:
    rt = _runtime()
    stops: list[tuple[str, BaseException]] = []
    rt.fail_stop = lambda agent, exc: stops.append((agent, exc))
    handled: list[int] = []

    async def handle(message: Any, received: float) -> None:
        handled.append(message.offset)
        await rt.send("out", message.key, message.value)

    stream = _Stream([[_event(0), _event(1)], [_event(2)]])
    with pytest.raises(KafkaConnectionError):
        await rt.consume(stream, handle, "test")
    assert handled == [0, 1]  # the second batch was never taken
    assert [(a, type(e)) for a, e in stops] == [("test", KafkaConnectionError)]


def test_default_fail_stop_exits_the_process() -> None:
    code = textwrap.dedent("""
        import asyncio
        from tests.agents.test_runtime import _Stream, _event, _runtime

        async def main():
            rt = _runtime()
            async def handle(message, received):
                await rt.send("out", message.key, message.value)
            await rt.consume(_Stream([[_event(0)]]), handle, "test")
            print("went on")

        asyncio.run(main())
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == EXIT_UNSENT, proc.stderr
    assert "went on" not in proc.stdout
    assert "could not send a batch's results" in proc.stderr


class _Builder:
    def __init__(self, limit: int) -> None:
        self.records: list[bytes | None] = []
        self.limit = limit

    def append(self, *, key: bytes | None, value: bytes | None, timestamp: None,
               headers: list[tuple[str, bytes]]) -> int | None:
        if len(self.records) >= self.limit:
            return None  # full, as aiokafka's BatchBuilder past max_batch_size
        self.records.append(value)
        return 1

    def close(self) -> None:
        pass

    def record_count(self) -> int:
        return len(self.records)


class _Broker:
    """A producer whose broker acknowledges only when the test says so."""

    def __init__(self, batch_limit: int = 1000) -> None:
        self.batch_limit = batch_limit
        self.client = SimpleNamespace(_wait_on_metadata=self._metadata, cluster=SimpleNamespace(
            available_partitions_for_topic=lambda topic: {0}))
        self.sent: list[tuple[str, list[bytes | None]]] = []
        self.pending: list[asyncio.Future[None]] = []

    async def _metadata(self, topic: str) -> set[int]:
        return {0}

    def _partitioner(self, key: bytes | None, every: list[int], available: list[int]) -> int:
        return 0

    def create_batch(self) -> _Builder:
        return _Builder(self.batch_limit)

    async def send_batch(self, batch: _Builder, topic: str, *, partition: int) -> Any:
        self.sent.append((topic, batch.records))
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending.append(fut)
        return fut

    def ack_all(self) -> None:
        for fut in self.pending:
            if not fut.done():
                fut.set_result(None)

    def topics(self) -> list[str]:
        return [t for t, _ in self.sent]


class _Table:
    """Stands for a TableBatch: one changelog record per drain of its puts."""

    def __init__(self, name: str) -> None:
        self.name = name

    def drain(self, puts: bool, deletes: bool) -> list[Any]:
        what = "put" if puts else "del"
        return [(f"{self.name}-{what}", b"k", what.encode(), None, 0)]

    def note_sent(self, sent: Any) -> None:
        pass


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_phases_wait_for_the_broker_in_turn() -> None:
    broker = _Broker()
    app = SimpleNamespace(producer=SimpleNamespace(_ensure_producer=lambda: broker))
    rt = Runtime(app=app, settings=load_settings({}), holder=None,  # type: ignore[arg-type]
                 topics=None, tables=None)  # type: ignore[arg-type]
    parts, headers = _Table("parts"), _Table("headers")

    async def handle(message: Any, received: float) -> None:
        await rt.send("outcomes", message.key, message.value, partition=0)

    phases: Any = [[(parts, True, False)], [(headers, True, True)], [(parts, False, True)]]
    task = asyncio.ensure_future(rt.consume(_Stream([[_event(0)]]), handle, "t", phases))
    await _settle()
    assert broker.topics() == ["outcomes", "parts-put"]  # outputs go with the first phase
    broker.ack_all()
    await _settle()
    assert broker.topics()[2:] == ["headers-put"]  # the commit point, once those are in
    broker.ack_all()
    await _settle()
    assert broker.topics()[3:] == ["parts-del"]  # what only the old headers used, last
    await asyncio.wait_for(task, 1)  # the last phase is not awaited


async def test_a_phase_waits_for_every_record_batch_of_a_partition() -> None:
    """Outputs that fill several record batches of one partition: the next phase waits for
    all of them, not only for the last."""
    broker = _Broker(batch_limit=1)
    app = SimpleNamespace(producer=SimpleNamespace(_ensure_producer=lambda: broker))
    rt = Runtime(app=app, settings=load_settings({}), holder=None,  # type: ignore[arg-type]
                 topics=None, tables=None)  # type: ignore[arg-type]

    async def handle(message: Any, received: float) -> None:
        await rt.send("outcomes", message.key, message.value, partition=0)

    phases: Any = [[], [(_Table("headers"), True, True)]]
    task = asyncio.ensure_future(
        rt.consume(_Stream([[_event(0), _event(1)]]), handle, "t", phases))
    await _settle()
    assert broker.topics() == ["outcomes", "outcomes"]  # two record batches
    broker.pending[-1].set_result(None)  # the broker has the last one only
    await _settle()
    assert broker.topics() == ["outcomes", "outcomes"]
    broker.ack_all()
    await _settle()
    assert broker.topics()[2:] == ["headers-put"]
    await asyncio.wait_for(task, 1)


class _Intake:
    """Stands for tables.engine_internals.BatchIntake: hands out `batches`, then waits; `done`
    records what was acked."""

    def __init__(self, batches: list[list[Any]]) -> None:
        self.batches = batches
        self.acked: list[int] = []

    async def take(self) -> list[Any]:
        if not self.batches:
            await asyncio.Event().wait()
        return self.batches.pop(0)

    def done(self, batch: list[Any]) -> None:
        self.acked += [m.offset for m in batch]


def _message(offset: int) -> Any:
    return _event(offset).message


async def test_intake_batch_is_acked_only_after_its_phases() -> None:
    broker = _Broker()
    app = SimpleNamespace(producer=SimpleNamespace(_ensure_producer=lambda: broker))
    rt = Runtime(app=app, settings=load_settings({}), holder=None,  # type: ignore[arg-type]
                 topics=None, tables=None)  # type: ignore[arg-type]
    handled: list[int] = []

    async def handle(message: Any, received: float) -> None:
        handled.append(message.offset)
        await rt.send("outcomes", message.key, message.value, partition=0)

    intake = _Intake([[_message(0), _message(1)], [_message(2)]])
    phases: Any = [[(_Table("parts"), True, False)], [(_Table("headers"), True, True)]]
    task = asyncio.ensure_future(
        rt.consume_intake(intake, handle, "t", phases))  # type: ignore[arg-type]
    await _settle()
    assert handled == [0, 1] and intake.acked == []  # outputs not in the broker yet
    broker.ack_all()
    await _settle()
    assert broker.topics() == ["outcomes", "parts-put", "headers-put",  # batch 1
                               "outcomes", "parts-put"]  # batch 2, first phase
    assert intake.acked == [0, 1]  # the last phase is handed to the producer: Faust flushes
    assert handled == [0, 1, 2]  # the next batch runs; its outputs are not acknowledged yet
    broker.ack_all()
    await _settle()
    assert intake.acked == [0, 1, 2]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_unsendable_intake_batch_is_never_acked() -> None:
    rt = _runtime()
    stops: list[tuple[str, BaseException]] = []
    rt.fail_stop = lambda agent, exc: stops.append((agent, exc))

    async def handle(message: Any, received: float) -> None:
        await rt.send("out", message.key, message.value)

    intake = _Intake([[_message(0)], [_message(1)]])
    with pytest.raises(KafkaConnectionError):
        await rt.consume_intake(intake, handle, "test")  # type: ignore[arg-type]
    assert intake.acked == [] and len(intake.batches) == 1
    assert [(a, type(e)) for a, e in stops] == [("test", KafkaConnectionError)]


async def test_intake_is_installed_only_with_intake_batch() -> None:
    from mode.utils.queues import FlowControlEvent

    from tables.engine_internals import BatchIntake, batch_intakes

    app = SimpleNamespace(flow_control=FlowControlEvent())
    rt = Runtime(app=app, settings=load_settings({"INTAKE": "events"}),
                 holder=None, topics=None, tables=None)  # type: ignore[arg-type]
    assert rt.intake(["a"]) is None and batch_intakes(app) == []
    rt.settings = load_settings({"INTAKE": "Batch", "BATCH_MAX": "7"})
    intake = rt.intake(["a", "b"])
    assert isinstance(intake, BatchIntake) and batch_intakes(app) == [intake]
    assert intake.topics == {"a", "b"} and intake.batch_max == 7
