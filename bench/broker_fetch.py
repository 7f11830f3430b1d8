"""How the embedded broker's fetch time grows with the length of the partition it reads.

    .venv/bin/python -m bench.broker_fetch [--steps 5 --per-step 5000 --size 1000]

Explains why leadstream's latency on the embedded broker (Tansu 0.6, in-memory storage) grows
with the data the broker holds, while it stays flat on Kafka, whose fetch by offset is indexed.
Per step: append `--per-step` records of `--size` bytes to one partition (in record batches,
as leadstream's outputs and changelogs go out), then time 30 fetches of its newest record
(seek to end - 1, getmany), and of the newest record of a control partition that stays
short, to tell "this partition is longer" from "the broker holds more"; and the round trip
of a one-record produce (acks=all, linger 0, as the worker's awaited phases) to the long
partition. At the end, how late a fetch that is waiting (`fetch_max_wait_ms` 50 and 500)
returns a record produced meanwhile. Prints ONE JSON line: per step the partition's length,
the p50/max fetch ms of each partition and the produce p50/max ms; the extra fetch ms per MiB
the partition holds (first to last step); the long-poll delivery p50/max ms per wait.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.common import log, percentile
from streaming.broker import EmbeddedBroker


async def _fetch_newest_ms(producer: AIOKafkaProducer, consumer: AIOKafkaConsumer,
                           tp: TopicPartition, n: int = 30) -> list[float]:
    times = []
    for _ in range(n):
        await producer.send_and_wait(tp.topic, b"z", partition=tp.partition)
        end = (await consumer.end_offsets([tp]))[tp]
        consumer.seek(tp, end - 1)
        t0 = time.perf_counter()
        got = await consumer.getmany(tp, timeout_ms=2000)
        times.append((time.perf_counter() - t0) * 1000)
        assert got.get(tp), f"no record fetched from {tp}"
    return sorted(times)


async def _produce_ms(producer: AIOKafkaProducer, tp: TopicPartition, n: int = 40
                      ) -> list[float]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        await producer.send_and_wait(tp.topic, b"p" * 100, partition=tp.partition)
        times.append((time.perf_counter() - t0) * 1000)
    return sorted(times)


async def _long_poll_ms(bootstrap: str, producer: AIOKafkaProducer, tp: TopicPartition,
                        wait_ms: int, n: int = 30) -> list[float]:
    """Send one record at a random moment while the consumer's fetch waits; ms until the
    consumer has it."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, fetch_max_wait_ms=wait_ms,
                                enable_auto_commit=False)
    await consumer.start()
    rng = random.Random(wait_ms)
    times = []
    try:
        consumer.assign([tp])
        await consumer.seek_to_end(tp)
        await consumer.position(tp)
        for _ in range(n):
            await asyncio.sleep(rng.uniform(0.05, 0.3))
            t0 = time.perf_counter()
            await producer.send(tp.topic, b"l", partition=tp.partition)
            while not (await consumer.getmany(tp, timeout_ms=2000)).get(tp):
                pass
            times.append((time.perf_counter() - t0) * 1000)
    finally:
        await consumer.stop()
    return sorted(times)


async def measure(bootstrap: str, steps: int, per_step: int, size: int) -> dict[str, Any]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    quick = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, acks="all")
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, fetch_max_wait_ms=10,
                                enable_auto_commit=False)
    await producer.start()
    await quick.start()
    await consumer.start()
    grown, control = TopicPartition("grown", 0), TopicPartition("control", 0)
    rows: list[dict[str, float]] = []
    try:
        for tp in (grown, control):
            await producer.send_and_wait(tp.topic, b"x", partition=0)
        consumer.assign([grown, control])
        length = 0
        for step in range(steps + 1):
            if step:
                for _ in range(per_step):
                    await producer.send(grown.topic, b"y" * size, partition=0)
                await producer.flush()
                length += per_step
            g = await _fetch_newest_ms(producer, consumer, grown)
            c = await _fetch_newest_ms(producer, consumer, control)
            pr = await _produce_ms(quick, grown)
            rows.append({"records": length, "grown_p50_ms": round(percentile(g, 0.5), 2),
                         "grown_max_ms": round(g[-1], 2),
                         "control_p50_ms": round(percentile(c, 0.5), 2),
                         "produce_p50_ms": round(percentile(pr, 0.5), 2),
                         "produce_max_ms": round(pr[-1], 2)})
            log(f"step {step}: {rows[-1]}")
        polls = {}
        for wait in (50, 500):
            lp = await _long_poll_ms(bootstrap, quick, control, wait)
            polls[f"wait_{wait}_ms"] = {"p50": round(percentile(lp, 0.5), 1),
                                        "max": round(lp[-1], 1)}
            log(f"long poll, fetch wait {wait} ms: {polls[f'wait_{wait}_ms']}")
    finally:
        await producer.stop()
        await quick.stop()
        await consumer.stop()
    first, last = rows[0], rows[-1]
    mib = last["records"] * size / 2**20
    slope = (last["grown_p50_ms"] - first["grown_p50_ms"]) / mib if mib else 0.0
    return {"steps": rows, "extra_ms_per_mib": round(slope, 4), "record_bytes": size,
            "partition_mib": round(mib, 1), "long_poll_delivery_ms": polls}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--per-step", type=int, default=5000)
    ap.add_argument("--size", type=int, default=1000)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="leadstream-fetch-") as tmp, \
            EmbeddedBroker(log_dir=Path(tmp)) as broker:
        result = asyncio.run(measure(broker.bootstrap, args.steps, args.per_step, args.size))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
