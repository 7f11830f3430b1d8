"""How the embedded broker's fetch time grows with the length of the partition it reads.

    .venv/bin/python -m bench.broker_fetch [--steps 5 --per-step 5000 --size 1000]

Explains why leadstream's latency on the embedded broker (Tansu 0.6, in-memory storage) grows
with the data the broker holds, while it stays flat on Kafka, whose fetch by offset is indexed.
Per step: append `--per-step` records of `--size` bytes to one partition (in record batches,
as leadstream's outputs and changelogs go out), then time 30 fetches of its newest record
(seek to end - 1, getmany), and of the newest record of a control partition that stays
short, to tell "this partition is longer" from "the broker holds more". Prints ONE
JSON line: per step the partition's length and the p50/max fetch ms of each partition; and
the extra fetch ms per MiB the partition holds (first to last step).
"""

from __future__ import annotations

import argparse
import asyncio
import json
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


async def measure(bootstrap: str, steps: int, per_step: int, size: int) -> dict[str, Any]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, fetch_max_wait_ms=10,
                                enable_auto_commit=False)
    await producer.start()
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
            rows.append({"records": length, "grown_p50_ms": round(percentile(g, 0.5), 2),
                         "grown_max_ms": round(g[-1], 2),
                         "control_p50_ms": round(percentile(c, 0.5), 2)})
            log(f"step {step}: {rows[-1]}")
    finally:
        await producer.stop()
        await consumer.stop()
    first, last = rows[0], rows[-1]
    mib = last["records"] * size / 2**20
    slope = (last["grown_p50_ms"] - first["grown_p50_ms"]) / mib if mib else 0.0
    return {"steps": rows, "extra_ms_per_mib": round(slope, 4), "record_bytes": size,
            "partition_mib": round(mib, 1)}


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
