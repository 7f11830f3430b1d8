"""The brokers a streaming test runs on, as parameter lists (tests/conftest.py `any_broker`).

Each test taking ``any_broker`` runs on the embedded Tansu and on a real Apache Kafka; the
Kafka case carries the ``kafka`` mark. A test whose Kafka case is too slow for ``make test``
takes ``BROKERS_KAFKA_SLOW`` instead (``kafka_slow`` mark: run by .ci/run's second pass):

    @pytest.mark.parametrize("any_broker", BROKERS_KAFKA_SLOW, indirect=True)
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

BROKERS = ["tansu", pytest.param("kafka", marks=pytest.mark.kafka)]
BROKERS_KAFKA_SLOW = ["tansu", pytest.param("kafka", marks=[pytest.mark.kafka,
                                                            pytest.mark.kafka_slow])]


async def produce_multi_record_batches(bootstrap: str, topic: str, counts: Mapping[int, int],
                                       rounds: int = 3) -> None:
    """`rounds` rounds of `counts[p]` records (b"v") to each partition p, each round flushed as
    one multi-record batch per partition (linger): what makes Tansu's ListOffsets low."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=30)
    await producer.start()
    try:
        for _round in range(rounds):
            futs = [await producer.send(topic, b"v", partition=p)
                    for p, n in counts.items() for _ in range(n)]
            await producer.flush()
            await asyncio.gather(*futs)
    finally:
        await producer.stop()
