"""Send a batch's records as record batches, one future per (topic, partition) batch.

`AIOKafkaProducer.send` costs a future, a metadata check and an accumulator lookup per
record; a batch of decisions sends thousands of records at once, so they are grouped by
(topic, partition) in order and appended to aiokafka `BatchBuilder`s (`create_batch` /
`send_batch`, aiokafka's public batch API), which respect the producer's `max_batch_size`.
Partitions are chosen as `send` would: the given one, else the producer's partitioner on the
key (murmur2, as Kafka's Java client; for aiokafka's default partitioner, the same hash from
streaming/murmur2.py, twice as fast). Faust's commit flushes the same producer first, so
these records are covered like any other send.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiokafka.partitioner import DefaultPartitioner  # type: ignore[import-untyped]

from streaming.murmur2 import partition_of
from tables.batch import Record
from tables.engine_internals import partitioner, wait_on_metadata

#: (topic, key, value, headers, partition)


async def send_records(producer: Any, records: Iterable[Record]
                       ) -> tuple[dict[tuple[str, int], Any], list[Any]]:
    """Queue `records` on `producer` (an AIOKafkaProducer). Returns (per (topic, partition):
    (future of its last record batch, number of records in that batch), and the futures of
    every record batch sent): a future resolves to the batch's RecordMetadata (offset = the
    batch's base offset) once the broker has it. A partition's records may need several
    batches (`max_batch_size`); only waiting on all their futures says the broker has all."""
    groups: dict[tuple[str, int], list[Record]] = {}
    partitions: dict[str, tuple[list[int], list[int]]] = {}
    default = isinstance(partitioner(producer), DefaultPartitioner)
    for rec in records:
        topic, key, value, _headers, partition = rec
        if partition is None:
            if topic not in partitions:
                partitions[topic] = await _partitions_of(producer, topic)
            known, available = partitions[topic]
            if default and key is not None:  # the same choice, a faster hash
                partition = partition_of(key, known)
            else:
                partition = partitioner(producer)(key, known, available)
        groups.setdefault((topic, partition), []).append(rec)
    last: dict[tuple[str, int], Any] = {}
    every: list[Any] = []
    for (topic, partition), recs in groups.items():
        batch = producer.create_batch()
        for _topic, key, value, headers, _p in recs:
            if batch.append(key=key, value=value, timestamp=None, headers=headers or []) is None:
                batch.close()
                every.append(await producer.send_batch(batch, topic, partition=partition))
                batch = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None, headers=headers or [])
        batch.close()
        count = batch.record_count()
        fut = await producer.send_batch(batch, topic, partition=partition)
        every.append(fut)
        last[(topic, partition)] = (fut, count)
    return last, every


async def _partitions_of(producer: Any, topic: str) -> tuple[list[int], list[int]]:
    """(all, available) partitions of `topic`, read right after its metadata is there.

    They must be captured at once: once the client asks for the metadata of a topic it did
    not know, its next metadata update lists only the topics it was asked about, so a topic
    known from the bootstrap (all topics) can drop out of the cluster view in between."""
    every = await wait_on_metadata(producer, topic)
    available = producer.client.cluster.available_partitions_for_topic(topic) or every
    return sorted(every), sorted(available)
