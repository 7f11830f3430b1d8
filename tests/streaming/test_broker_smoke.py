"""Smoke tests proving the stack works here: Tansu + aiokafka, and a real Faust worker
(RocksDB table via rocksdict, changelog, output topic) as a subprocess.
Findings are written down in docs/STACK-FINDINGS.md."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streaming.broker import EmbeddedBroker

pytestmark = pytest.mark.broker

# Tansu answers the first JoinGroup after about session_timeout / 2 (not rebalance timeout).
FAST_GROUP = {"session_timeout_ms": 2000, "heartbeat_interval_ms": 300}


async def test_aiokafka_round_trip_with_auto_created_topic(
    broker: EmbeddedBroker, unique_name: Callable[[str], str]
) -> None:
    topic, group = unique_name("rt"), unique_name("g")
    sent = [(f"k{i % 3}".encode(), json.dumps({"i": i}).encode()) for i in range(20)]

    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
    await producer.start()
    try:
        for key, value in sent:  # the first send auto-creates the topic
            await producer.send_and_wait(topic, value, key=key)
        partitions = await producer.partitions_for(topic)
    finally:
        await producer.stop()
    assert partitions

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=broker.bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **FAST_GROUP,
    )
    await consumer.start()
    got: list[tuple[bytes, bytes]] = []
    try:
        async with asyncio.timeout(20):
            while len(got) < len(sent):
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    got.extend((r.key, r.value) for r in records if r.key and r.value)
        await consumer.commit()
        committed = 0
        for p in partitions:
            committed += await consumer.committed(TopicPartition(topic, p)) or 0
    finally:
        await consumer.stop()

    assert sorted(got) == sorted(sent)
    assert committed == len(sent)
    # per-key order is kept (same key -> same partition)
    for key in {k for k, _ in sent}:
        assert [v for k, v in got if k == key] == [v for k, v in sent if k == key]


APP_MODULE = """
import os
import time
from pathlib import Path

import faust

env = os.environ
PARTITIONS = int(env["SMOKE_PARTITIONS"])
READY_FILE = Path(env["SMOKE_READY_FILE"])

app = faust.App(
    env["SMOKE_APP_ID"],
    broker=env["SMOKE_BROKER_URL"],
    store="rocksdb://",  # faust-streaming picks the rocksdict driver when python-rocksdb is absent
    datadir=env["SMOKE_DATADIR"],
    topic_partitions=PARTITIONS,
    topic_replication_factor=1,
    broker_rebalance_timeout=3,
    broker_session_timeout=float(env.get("SMOKE_SESSION_TIMEOUT", "10")),
    broker_heartbeat_interval=1,
    consumer_auto_offset_reset="earliest",
    web_enabled=True,
    web_host="127.0.0.1",
    web_port=int(env["SMOKE_WEB_PORT"]),
    web_tables_enabled=False,
)

source = app.topic(
    env["SMOKE_IN"], key_serializer="raw", value_serializer="json", partitions=PARTITIONS
)
output = app.topic(
    env["SMOKE_OUT"], key_serializer="raw", value_serializer="json", partitions=PARTITIONS
)
sums = app.Table(
    "sums", default=int, partitions=PARTITIONS, key_type=str, value_type=int
)


@app.on_rebalance_complete.connect
async def _mark_ready(sender, **kwargs):
    if not READY_FILE.exists():
        READY_FILE.write_text(repr(time.time()))


@app.agent(source, concurrency=1)
async def summer(stream):
    async for key, value in stream.items():
        k = key.decode() if isinstance(key, bytes) else str(key)
        sums[k] += int(value["v"])
        await output.send(key=k.encode(), value={"key": k, "sum": sums[k], "seq": value["seq"]})
"""


def _stop_worker(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> float:
    """SIGTERM the worker's group; SIGKILL after ``timeout``. Returns seconds taken."""
    t0 = time.monotonic()
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    return time.monotonic() - t0


@pytest.mark.slow
async def test_faust_worker_sums_into_rocksdb_table(
    broker: EmbeddedBroker,
    unique_name: Callable[[str], str],
    free_port: Callable[[], int],
    tmp_path: Path,
) -> None:
    partitions = 2
    in_topic, out_topic = unique_name("smoke-in"), unique_name("smoke-out")
    app_id = unique_name("smoke-app")

    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:  # explicit partitions: the table changelog must match the source topic
        await admin.create_topics([NewTopic(t, partitions, 1) for t in (in_topic, out_topic)])
    finally:
        await admin.close()

    keys = ["alpha", "beta", "gamma"]
    events = [(keys[i % 3], i + 1, i) for i in range(12)]  # (key, v, seq)
    expected: dict[str, list[int]] = defaultdict(list)
    running: dict[str, int] = defaultdict(int)
    for key, v, _ in events:
        running[key] += v
        expected[key].append(running[key])

    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
    await producer.start()

    async def produce(batch: list[tuple[str, int, int]]) -> None:
        for key, v, seq in batch:
            await producer.send_and_wait(
                in_topic, json.dumps({"v": v, "seq": seq}).encode(), key=key.encode()
            )

    (tmp_path / "smoke_app.py").write_text(textwrap.dedent(APP_MODULE))
    ready_file = tmp_path / "ready"
    log_path = tmp_path / "worker.log"
    env = {
        **os.environ,
        "SMOKE_PARTITIONS": str(partitions),
        "SMOKE_READY_FILE": str(ready_file),
        "SMOKE_APP_ID": app_id,
        "SMOKE_BROKER_URL": broker.url,
        "SMOKE_DATADIR": str(tmp_path / "state"),
        "SMOKE_WEB_PORT": str(free_port()),
        "SMOKE_IN": in_topic,
        "SMOKE_OUT": out_topic,
        "PYTHONPATH": str(tmp_path),
        "PYTHONUNBUFFERED": "1",
    }
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest")
    proc: subprocess.Popen[bytes] | None = None
    log = open(log_path, "wb")  # noqa: SIM115
    try:
        await produce(events[:6])  # before the worker exists: read from "earliest"
        t_spawn = time.time()
        proc = subprocess.Popen(
            [sys.executable, "-m", "faust", "-A", "smoke_app", "worker", "-l", "info"],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def worker_log() -> str:
            return log_path.read_text(errors="replace")[-6000:]

        async with asyncio.timeout(60):
            while not ready_file.exists():
                assert proc.poll() is None, f"worker exited early:\n{worker_log()}"
                await asyncio.sleep(0.05)
        ready_after = float(ready_file.read_text()) - t_spawn
        await produce(events[6:])

        await consumer.start()
        consumer.assign([TopicPartition(out_topic, p) for p in range(partitions)])
        got: dict[str, list[int]] = defaultdict(list)
        t_first_needed = time.time()
        try:
            async with asyncio.timeout(30):
                while sum(map(len, got.values())) < len(events):
                    batch = await consumer.getmany(timeout_ms=500)
                    for records in batch.values():
                        for r in records:
                            doc = json.loads(r.value or b"{}")
                            got[doc["key"]].append(doc["sum"])
                    assert proc.poll() is None, f"worker died:\n{worker_log()}"
        except TimeoutError:
            pytest.fail(f"outputs so far {dict(got)}; worker log:\n{worker_log()}")
        done_after = time.time() - t_spawn
        drained_after = time.time() - t_first_needed

        assert dict(got) == dict(expected)
        stop_seconds = _stop_worker(proc)
        # the rocksdict driver leaves this file in every partition's RocksDB directory
        assert list((tmp_path / "state").rglob("sums-*.db/rocksdict-config.json"))
        print(
            f"\nfaust worker: ready (first rebalance complete) after {ready_after:.2f}s, "
            f"all {len(events)} outputs after {done_after:.2f}s "
            f"({drained_after:.2f}s after the second batch), stopped in {stop_seconds:.2f}s"
        )
    finally:
        await producer.stop()
        await consumer.stop()
        if proc is not None:
            _stop_worker(proc)
        log.close()
