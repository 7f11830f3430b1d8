"""`send_records` against the embedded broker: records land where `producer.send` would put
them (murmur2 on the key, or the given partition), in order, also when a batch mixes a topic
the producer knew from its bootstrap with one it has to look up."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.partitioner import murmur2  # type: ignore[import-untyped]

from agents.outbox import send_records
from bench.common import create_topics
from streaming.broker import EmbeddedBroker
from tables.batch import Record

pytestmark = pytest.mark.broker

PARTITIONS = 4


async def _read(bootstrap: str, topic: str, n: int) -> list[tuple[int, bytes, bytes]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    out: list[tuple[int, bytes, bytes]] = []
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
        async with asyncio.timeout(20):
            while len(out) < n:
                for recs in (await consumer.getmany(timeout_ms=200)).values():
                    out += [(r.partition, r.key, r.value) for r in recs]
    finally:
        await consumer.stop()
    return out


async def test_known_and_new_topics_in_one_batch(
    broker: EmbeddedBroker, unique_name: Callable[[str], str]
) -> None:
    known, new = unique_name("known"), unique_name("new")
    await create_topics(broker.bootstrap, [known], PARTITIONS)
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
    await producer.start()  # its bootstrap metadata lists `known`, not `new`
    try:
        await create_topics(broker.bootstrap, [new], PARTITIONS)
        records: list[Record] = []
        for i in range(30):
            topic = new if i % 3 == 1 else known
            records.append((topic, f"k{i % 7}".encode(), f"{i}".encode(), None, None))
        records.append((known, b"pinned", b"30", [("h", b"v")], 2))
        _last, futures = await send_records(producer, records)
        await asyncio.gather(*futures)
    finally:
        await producer.stop()

    for topic in (known, new):
        expected = [r for r in records if r[0] == topic]
        got = await _read(broker.bootstrap, topic, len(expected))
        for part in range(PARTITIONS):
            want = [(k, v) for _t, k, v, _h, p in expected
                    if (p if p is not None else
                        (murmur2(k) & 0x7FFFFFFF) % PARTITIONS) == part]
            assert [(k, v) for p, k, v in got if p == part] == want
