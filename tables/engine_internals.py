"""Every use of a faust-streaming / aiokafka private attribute, in one place: a Faust or
aiokafka upgrade reviews this module (and streaming/faust_patches.py, the patches; the
worker's debug dump streaming/diagnostics.py and the shutdown patch streaming/shutdown.py read
internals for themselves). Pinned: faust-streaming 0.15.3 (job/worker.py checks it).

It sits in `tables/`, the lowest layer allowed to touch an engine, so every layer above
(tables, streaming, agents, job, ops, offline) can use it."""

from __future__ import annotations

from typing import Any


def db_for_partition(store: Any, partition: int) -> Any:
    """The rocksdict instance of one partition of a Faust RocksDB table store
    (`faust.stores.rocksdb.Store`, opened on first use)."""
    return store._db_for_partition(partition)


def kafka_producer(app: Any) -> Any:
    """The aiokafka producer under a Faust app's producer (started)."""
    return app.producer._ensure_producer()


def partitioner(producer: Any) -> Any:
    """An aiokafka producer's partitioner: `(key, all, available) -> partition`."""
    return producer._partitioner


async def wait_on_metadata(producer: Any, topic: str) -> Any:
    """An aiokafka producer's partitions of `topic`, once its metadata is there."""
    return await producer.client._wait_on_metadata(topic)


async def force_metadata_update(consumer: Any) -> None:
    """Refresh an aiokafka consumer's cluster metadata now."""
    await consumer._client.force_metadata_update()


def committed_offset(consumer: Any, tp: Any) -> Any:
    """The group's committed offset of `tp` as a Faust consumer last read it (None: unknown)."""
    return getattr(consumer, "_committed_offset", {}).get(tp)
