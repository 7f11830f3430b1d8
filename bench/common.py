"""Shared plumbing of the bench scripts: child processes, the leadstream worker, Kafka helpers.

Every child runs in its own process group, with PR_SET_PDEATHSIG (SIGTERM when the bench
dies), and is registered here; `cleanup()` (atexit, SIGTERM, Ctrl-C) stops them all.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine, Iterable
from pathlib import Path
from typing import IO, Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streaming.broker import free_port
from streaming.broker_process import set_pdeathsig
from streaming.settings import FETCH_WAIT_MS_EMBEDDED
from tables.engine_internals import force_metadata_update

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


class BenchTimeout(RuntimeError):
    """A bounded wait ran out."""


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Child:
    """A subprocess in its own process group, logging to a file."""

    registry: list[Child] = []

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log_path: Path,
                 cwd: Path = ROOT) -> None:
        self.name, self.cmd, self.log_path = name, cmd, log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log: IO[bytes] = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=set_pdeathsig,
        )
        Child.registry.append(self)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def check_alive(self) -> None:
        if not self.alive():
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; log "
                               f"{self.log_path}:\n{self.tail()}")

    def tail(self, n: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-n:]
        return ""

    def stop(self, timeout: float = 20.0) -> float:
        """SIGTERM the group, SIGKILL after `timeout`. Returns seconds taken."""
        t0 = time.monotonic()
        if self.alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log(f"{self.name} did not stop in {timeout}s: SIGKILL")
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # stragglers in the group
        self._log.close()
        with contextlib.suppress(ValueError):
            Child.registry.remove(self)
        return time.monotonic() - t0


def cleanup() -> None:
    for child in list(Child.registry):
        with contextlib.suppress(Exception):
            child.stop(timeout=10)


def install_cleanup() -> None:
    atexit.register(cleanup)

    def on_term(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)


def run_parser(description: str, *, n: int, parties: int, timeout: float,
               timeout_help: str) -> argparse.ArgumentParser:
    """A parser with the options every leadstream benchmark takes: the data set, the bound on
    a wait, the worker experiments and --keep."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--n", type=int, default=n)
    ap.add_argument("--parties", type=int, default=parties)
    ap.add_argument("--skew", type=float, default=3.0,
                    help="party skew of bench/data.py (1 = uniform; 3: busiest party 2.7%%)")
    ap.add_argument("--timeout", type=float, default=timeout, help=timeout_help)
    ap.add_argument("--worker-env", action="append", default=[], metavar="K=V",
                    help="extra environment for the leadstream worker (experiments)")
    ap.add_argument("--fetch-wait-ms", type=int, default=None,
                    help="EXPERIMENT: force the leadstream worker's fetch_max_wait_ms "
                         "(bench/apps/leadstream_fetchwait.py; Faust hard-codes 1500)")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (logs, state)")
    return ap


def drop_work_dir(work: Path, keep: bool) -> None:
    """Remove a run's work dir, or say where it was kept (--keep)."""
    if keep:
        log(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


def worker_experiments(args: argparse.Namespace, out: dict[str, Any]) -> dict[str, str]:
    """The worker's extra environment (--worker-env); both experiments are named in `out`."""
    if args.fetch_wait_ms is not None:
        out["experiment_fetch_wait_ms"] = args.fetch_wait_ms
    worker_env = dict(kv.split("=", 1) for kv in args.worker_env)
    if worker_env:
        out["experiment_worker_env"] = worker_env
    return worker_env


def run_main(amain: Callable[[argparse.Namespace], Coroutine[Any, Any, dict[str, Any]]],
             args: argparse.Namespace) -> dict[str, Any]:
    """`amain(args)` from the repository root, its children stopped on exit or Ctrl-C."""
    install_cleanup()
    os.chdir(ROOT)
    try:
        return asyncio.run(amain(args))
    except KeyboardInterrupt:
        cleanup()
        raise SystemExit(130) from None


def base_env() -> dict[str, str]:
    """The environment for children: ours minus anything that would redirect them."""
    drop = ("BROKER_URL", "REDIS_URL", "TOPIC_PREFIX", "DATA_DIR", "WEB_PORT", "APP_ID",
            "RULES_PATH", "WORKER_ID", "ADMIN_TOKEN", "LOG_LEVEL")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("BENCH_")}
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"]
                                     if env.get("PYTHONPATH") else "")
    return env


def start_broker(kind: str, work: Path) -> Any:
    """The bench's broker, started: the embedded Tansu (``tansu``) or a real Apache Kafka
    (``kafka``: KRaft, one node, jars from ``make kafka``; streaming/kafka_broker.py)."""
    if kind == "kafka":
        from streaming.kafka_broker import KafkaBroker

        broker: Any = KafkaBroker(log_dir=work / "kafka", data_dir=work / "kafka-data",
                                  die_with_parent=True, log_level="WARN")
    else:
        from streaming.broker import EmbeddedBroker

        broker = EmbeddedBroker(log_dir=work / "broker", die_with_parent=True)
    broker.start()
    log(f"{kind} broker {broker.url} ready in {broker.startup_seconds:.1f}s")
    return broker


#: the worker settings the embedded-broker defaults would give (job/worker.py), for a
#: worker reaching Tansu by BROKER_URL; real Kafka needs none
BROKER_WORKER_ENV = {
    "tansu": {"BROKER_LOG_END_PROBE": "true",
              "CONSUMER_FETCH_MAX_WAIT_MS": str(FETCH_WAIT_MS_EMBEDDED)},
    "kafka": {},
}


def start_leadstream(broker_url: str, data_dir: Path, prefix: str, log_path: Path,
                     extra_env: dict[str, str] | None = None,
                     fetch_wait_ms: int | None = None,
                     kind: str = "tansu") -> tuple[Child, int]:
    """`python app.py worker` against `broker_url` (a broker of `kind`); returns (child, web
    port).

    `fetch_wait_ms`: run the bench-only launcher bench/apps/leadstream_fetchwait.py, which
    forces aiokafka's fetch_max_wait_ms (an experiment; the worker code is unchanged)."""
    port = free_port()
    env = base_env()
    env.update({"BROKER_URL": broker_url, "DATA_DIR": str(data_dir), "WEB_PORT": str(port),
                "TOPIC_PREFIX": prefix, "LOG_LEVEL": "WARNING", **BROKER_WORKER_ENV[kind]})
    env.update(extra_env or {})
    script = ROOT / "app.py"
    if fetch_wait_ms is not None:
        script = ROOT / "bench" / "apps" / "leadstream_fetchwait.py"
        env["BENCH_FETCH_MAX_WAIT_MS"] = str(fetch_wait_ms)
    child = Child("leadstream worker", [PYTHON, str(script), "worker"], env, log_path)
    return child, port


def healthz_ok(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


async def wait_healthy(child: Child, port: int, timeout: float) -> float:
    """Seconds until /healthz answers 200 (counted from now)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        child.check_alive()
        if await asyncio.to_thread(healthz_ok, port):
            return time.monotonic() - t0
        await asyncio.sleep(0.05)
    raise BenchTimeout(f"{child.name}: /healthz on port {port} not 200 within {timeout}s; "
                       f"log {child.log_path}:\n{child.tail()}")


async def wait_quiet(child: Child, timeout: float, below_pct: float = 10.0,
                     hold: float = 3.0) -> float:
    """Wait until the child uses less than `below_pct` % CPU for `hold` s in a row (its
    buffers drained: Faust's changelog buffer can still be sending after a commit)."""
    import psutil

    proc = psutil.Process(child.pid)
    proc.cpu_percent(None)
    t0 = time.monotonic()
    quiet_since: float | None = None
    while time.monotonic() - t0 < timeout:
        child.check_alive()
        await asyncio.sleep(0.5)
        if proc.cpu_percent(None) < below_pct:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= hold:
                return time.monotonic() - t0
        else:
            quiet_since = None
    raise BenchTimeout(f"{child.name} still busy (>= {below_pct}% CPU) after {timeout}s")


# ---------------------------------------------------------------------- Kafka helpers
async def create_topics(bootstrap: str, names: Iterable[str], partitions: int = 4) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, partitions, 1) for n in names])
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str, recs: Iterable[tuple[bytes, bytes]],
                  linger_ms: int = 5) -> tuple[dict[int, int], float]:
    """Send every (key, value); returns ({partition: end offset}, seconds).

    The end offsets come from the producer's acks: Tansu's ListOffsets(latest) answers the
    base offset of the partition's last batch, not its end (see `end_offsets`)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=linger_ms,
                                max_batch_size=256 * 1024, acks=1)
    await producer.start()
    ends: dict[int, int] = {}
    t0 = time.monotonic()

    def note(metas: list[Any]) -> None:
        for m in metas:
            if m.offset + 1 > ends.get(m.partition, 0):
                ends[m.partition] = m.offset + 1

    try:
        pending: list[asyncio.Future[Any]] = []
        for key, value in recs:
            pending.append(await producer.send(topic, value, key=key))
            if len(pending) >= 20_000:
                note(await asyncio.gather(*pending))
                pending.clear()
        note(await asyncio.gather(*pending))
        await producer.flush()
    finally:
        await producer.stop()
    return ends, time.monotonic() - t0


async def topic_partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """The partitions of `topic`, in order. A group-less consumer may not have the topic in
    its metadata yet (seen on Kafka): then its metadata is refreshed once."""
    parts = consumer.partitions_for_topic(topic)
    if not parts:
        await force_metadata_update(consumer)
        parts = consumer.partitions_for_topic(topic) or set()
    return [TopicPartition(topic, p) for p in sorted(parts)]


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """ListOffsets(latest) per partition. On Tansu this is the base offset of the last
    batch (up to a batch short of the end): use it as a lower bound only."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = await topic_partitions(consumer, topic)
        ends = await consumer.end_offsets(tps)
        return {tp.partition: off for tp, off in ends.items()}
    finally:
        await consumer.stop()


async def wait_committed(bootstrap: str, group: str, topic: str, ends: dict[int, int],
                         timeout: float, child: Child | None = None,
                         progress_every: float = 15.0) -> float:
    """Poll the group's committed offsets until every partition reaches `ends`.

    (OffsetFetch through a consumer that never joins the group: the admin client's
    list_consumer_group_offsets fails to decode Tansu's reply.)"""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    t0 = last_log = time.monotonic()
    total = sum(ends.values())
    done = 0
    try:
        while time.monotonic() - t0 < timeout:
            if child is not None:
                child.check_alive()
            done = 0
            for p, e in ends.items():
                got = await consumer.committed(TopicPartition(topic, p))
                done += min(got or 0, e)
            if done >= total:
                return time.monotonic() - t0
            if time.monotonic() - last_log > progress_every:
                log(f"  {group}: {done}/{total} committed")
                last_log = time.monotonic()
            await asyncio.sleep(0.5)
    finally:
        await consumer.stop()
    raise BenchTimeout(f"group {group!r} committed {done}/{total} of {topic!r} "
                       f"within {timeout}s")


async def read_to_idle(bootstrap: str, topic: str, idle: float = 1.5,
                       timeout: float = 180.0) -> list[Any]:
    """Every record of `topic`, from the beginning until nothing new came for `idle` s.
    Only for topics whose producers are done (their offsets were committed)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest", fetch_max_wait_ms=100)
    await consumer.start()
    out: list[Any] = []
    try:
        tps = await topic_partitions(consumer, topic)
        if not tps:
            return out
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        t0 = last_new = time.monotonic()
        while time.monotonic() - last_new < idle:
            if time.monotonic() - t0 > timeout:
                raise BenchTimeout(f"reading {topic}: still growing after {timeout}s")
            batch = await consumer.getmany(timeout_ms=200, max_records=20_000)
            for recs in batch.values():
                if recs:
                    out.extend(recs)
                    last_new = time.monotonic()
    finally:
        await consumer.stop()
    return out


def ends_of(records: Iterable[Any]) -> dict[int, int]:
    ends: dict[int, int] = {}
    for r in records:
        if r.offset + 1 > ends.get(r.partition, 0):
            ends[r.partition] = r.offset + 1
    return ends


def cpu_calibration_ms() -> float:
    """Milliseconds for a fixed pure-Python loop: compares the machine's speed across runs
    (about 270 ms on the 2-vCPU machine of docs/BENCH.md when it is otherwise idle)."""
    t0 = time.perf_counter()
    s = 0
    for i in range(3_000_000):
        s += i * i
    return round((time.perf_counter() - t0) * 1000)


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[i]
