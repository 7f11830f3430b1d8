"""Throughput of leadstream against its baselines, in one run on the same broker and data,
then leadstream's decision latency at a fixed offered load. A script, not a test:

    .venv/bin/python -m bench.throughput            # n=200k over 50k parties, 500/s for 20 s
    .venv/bin/python -m bench.throughput --quick    # n=20k smoke run
    .venv/bin/python -m bench.throughput --only raw,empty --n 100000

Subjects (each alone on the machine while it runs, reading the same pre-loaded topic
`interactions`, 4 partitions, key party_id):
  raw        aiokafka consumer, no group, getmany + orjson.loads per value (transport limit)
  naive      Faust agent, JSON values, `table[party] += score` on RocksDB (bench/apps/naive.py)
  empty      Faust agent doing nothing with raw bytes (bench/apps/empty.py; Faust's ceiling)
  leadstream `python app.py worker` (BROKER_URL = the bench's broker, fresh DATA_DIR)
  latency    leadstream at --rate events/s for --duration s: per interaction, first outcome
             received by the bench - time the bench sent it (p50/p99); and to the decision
             (the outcome record's timestamp, set when the worker queues it)
  quix_window, bytewax  the Python peers (bench/peers.py): a Quix Streams 30-day tumbling
             window sum per party emitting at >= 20, and a Bytewax running sum with output
             and recovery, in their own venv (.cache/peer-venv, built on first use, pinned)
  latency_high  as latency, after it, at --rate-high events/s (default 5,000; keys
             `p99_ms_at_5000` etc.)
  core       the decisions alone: `simulate`'s code on the same interactions, no broker, no
             Faust (bench/core_only.py). With `empty` it bounds any design in which a Faust
             agent consumes each record and then decides it: at most
             1 / (1/empty + 1/core) events/s (`bound_eps`, `bound_over_naive`,
             `bound_over_empty`), before any table, changelog or output
events/s = N / (time of the last output - time of the first event processed). Baselines
stamp their first and N-th event in the agent (naive: or its last changelog record, if
later); leadstream's times are Kafka timestamps of its output records (first outcome; last
record on any output or changelog topic), read back once its group has committed every
interaction and every lead event (`leadstream_matching_eps` stops at the last interaction's
first outcome). Production time is excluded. Prints ONE JSON line on stdout; progress and
errors on stderr; a subject that fails or times out is null, with its error under "errors".

`--broker kafka` runs everything on a real Apache Kafka (KRaft, one node, jars from `make
kafka`) instead of the embedded Tansu; the JSON line is the same, plus "broker" and
"broker_start_s".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench import data, peers
from bench.common import (
    PYTHON,
    ROOT,
    BenchTimeout,
    Child,
    base_env,
    cleanup,
    cpu_calibration_ms,
    create_topics,
    drop_work_dir,
    ends_of,
    log,
    percentile,
    produce,
    read_to_idle,
    run_main,
    run_parser,
    start_broker,
    start_leadstream,
    topic_partitions,
    wait_committed,
    wait_healthy,
    wait_quiet,
    worker_experiments,
)
from streaming.broker import EmbeddedBroker, free_port
from streaming.kafka_broker import KafkaBroker

Broker = EmbeddedBroker | KafkaBroker

TOPIC = "interactions"
SUBJECTS = ("raw", "naive", "empty", "core", "quix_window", "bytewax", "leadstream", "latency",
            "latency_high", "echo")


# ---------------------------------------------------------------------- profiling
class Profiler:
    """`py-spy record` on a child, collapsed stacks to DIR/<name>.txt. Blocking by default:
    --nonblocking reads the stacks of a running process and truncates many of them."""

    def __init__(self, out_dir: Path | None, rate: int = 97, nonblocking: bool = False) -> None:
        self.out_dir, self.rate, self.nonblocking = out_dir, rate, nonblocking
        self.child: Child | None = None

    def start(self, name: str, pid: int) -> None:
        if self.out_dir is None:
            return
        spy = shutil.which("py-spy", path=str(Path(PYTHON).parent) + os.pathsep
                           + os.environ.get("PATH", ""))
        if spy is None:
            log("py-spy not found: no profile (pip install py-spy)")
            return
        out = self.out_dir / f"{name}.txt"
        cmd = [spy, "record", "--pid", str(pid), "--format", "raw", "-r", str(self.rate),
               "-o", str(out)] + (["--nonblocking"] if self.nonblocking else [])
        self.child = Child(f"py-spy {name}", cmd, base_env(), self.out_dir / f"{name}.py-spy.log")
        log(f"profiling {name} (pid {pid}) -> {out}")

    def stop(self) -> None:
        if self.child is not None:
            os.killpg(self.child.pid, signal.SIGINT)  # py-spy writes its output on SIGINT
            with contextlib.suppress(Exception):
                self.child.proc.wait(timeout=30)
            self.child.stop()
            self.child = None


# ---------------------------------------------------------------------- subjects
async def run_raw(bootstrap: str, n: int, timeout: float) -> dict[str, Any]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        tps = await topic_partitions(consumer, TOPIC)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        loads = orjson.loads
        count = 0
        t0 = time.monotonic()
        first = time.perf_counter()  # from the first getmany (after the seek), as NOTES-stack
        while count < n:
            if time.monotonic() - t0 > timeout:
                raise BenchTimeout(f"raw: read {count}/{n} within {timeout}s")
            batch = await consumer.getmany(timeout_ms=500)
            for recs in batch.values():
                for r in recs:
                    loads(r.value)
                count += len(recs)
        last = time.perf_counter()
    finally:
        await consumer.stop()
    return {"eps": n / (last - first), "seconds": last - first}


async def run_echo(broker: Broker, work: Path, args: Any) -> dict[str, Any]:
    """Latency floor: bench/apps/echo.py forwards echo-in to echo-out; same load as latency."""
    await create_topics(broker.bootstrap, ["echo-in", "echo-out"])
    env = base_env()
    env.update({
        "BENCH_BROKER": broker.url, "BENCH_TOPIC": "echo-in", "BENCH_OUT": "echo-out",
        "BENCH_APP_ID": "bench-echo", "BENCH_DATADIR": str(work / "echo-data"),
        "BENCH_WEB_PORT": str(free_port()), "BENCH_EXPECT": "0",
        "BENCH_MARKER": str(work / "echo.unused"),
    })
    loop = ["--loop", args.baseline_loop] if args.baseline_loop != "asyncio" else []
    cmd = [PYTHON, "-m", "faust", "-A", "bench.apps.echo", *loop, "worker", "-l", "warn"]
    child = Child("echo worker", cmd, env, work / "echo.log")
    try:
        # ready when a probe comes back
        consumer = AIOKafkaConsumer("echo-out", bootstrap_servers=broker.bootstrap,
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
        await consumer.start()
        await producer.start()
        try:
            t0 = time.monotonic()
            while True:
                child.check_alive()
                if time.monotonic() - t0 > 120:
                    raise BenchTimeout(f"echo worker: no probe echoed within 120s; log "
                                       f"{child.log_path}:\n{child.tail()}")
                await producer.send_and_wait("echo-in", b'{"interaction_id": "probe"}',
                                             key=b"probe")
                if await consumer.getmany(timeout_ms=500):
                    break
        finally:
            await producer.stop()
            await consumer.stop()
        log(f"echo: ready after {time.monotonic() - t0:.1f}s; {args.rate}/s for "
            f"{args.duration}s")
        return await run_latency(broker, child, args, work, "echo-in", "echo-out", "echo")
    finally:
        child.stop()


async def run_baseline(name: str, broker: Broker, ends: dict[int, int], work: Path,
                       args: Any, prof: Profiler) -> dict[str, Any]:
    n = sum(ends.values())
    marker = work / f"{name}.done.json"
    env = base_env()
    env.update({
        "BENCH_BROKER": broker.url, "BENCH_TOPIC": TOPIC, "BENCH_APP_ID": f"bench-{name}",
        "BENCH_DATADIR": str(work / f"{name}-data"), "BENCH_WEB_PORT": str(free_port()),
        "BENCH_EXPECT": str(n), "BENCH_MARKER": str(marker),
    })
    loop = ["--loop", args.baseline_loop] if args.baseline_loop != "asyncio" else []
    cmd = [PYTHON, "-m", "faust", "-A", f"bench.apps.{name}", *loop, "worker", "-l", "warn"]
    child = Child(f"{name} worker", cmd, env, work / f"{name}.log")
    prof.start(name, child.pid)
    t0 = time.monotonic()
    try:
        while not marker.exists():
            child.check_alive()
            if time.monotonic() - t0 > args.timeout:
                raise BenchTimeout(f"{name}: the agent did not see {n} events within "
                                   f"{args.timeout}s; log {child.log_path}:\n{child.tail()}")
            await asyncio.sleep(0.2)
        m = json.loads(marker.read_text())
        # the offsets must be committed too (what a restart would resume from)
        await wait_committed(broker.bootstrap, f"bench-{name}", TOPIC, ends, 60, child)
        # the naive agent's outputs are its table's changelog records: end at the last one
        changelog = await read_to_idle(broker.bootstrap, f"bench-{name}-scores-changelog")
    finally:
        prof.stop()
        child.stop()
    last = max([m["last"]] + [r.timestamp / 1000.0 for r in changelog])
    secs = last - m["first"]
    return {"eps": n / secs, "seconds": secs}


LEADSTREAM_OUTPUTS = ("interaction-outcomes", "interaction-leads", "leads",
                      "leadstream-parties-changelog", "leadstream-leads-changelog")


async def wait_pipeline_done(bootstrap: str, group: str, ends: dict[int, int], timeout: float,
                             child: Child) -> None:
    """Matching has committed every interaction, processing every lead event it got, and
    the worker is idle (its changelog buffer can still be sending after the commits)."""
    await wait_committed(bootstrap, group, TOPIC, ends, timeout, child)
    lead_events = await read_to_idle(bootstrap, "leadstream-lead-events")
    le_ends = ends_of(lead_events)
    if le_ends:
        await wait_committed(bootstrap, group, "leadstream-lead-events", le_ends, timeout, child)
    busy = await wait_quiet(child, timeout)
    if busy > 5:
        log(f"  worker busy for {busy:.0f}s after its last commit")


async def run_leadstream_throughput(broker: Broker, child: Child,
                                    ends: dict[int, int], args: Any) -> dict[str, Any]:
    """events/s = N / (last output record of any kind - first outcome record), from the Kafka
    timestamps of the records; `matching_eps` stops at the last first-outcome instead."""
    n = sum(ends.values())
    await wait_pipeline_done(broker.bootstrap, "leadstream", ends, args.timeout, child)
    # committed input offsets imply the outputs were flushed before (Faust's commit order)
    first_seen: dict[str, int] = {}
    final: dict[str, str] = {}
    last_ts: dict[str, int] = {}
    count: dict[str, int] = {}
    for topic in LEADSTREAM_OUTPUTS:
        recs = await read_to_idle(broker.bootstrap, topic)
        count[topic] = len(recs)
        last_ts[topic] = max((r.timestamp for r in recs), default=0)
        if topic == "interaction-outcomes":
            for r in recs:
                doc = orjson.loads(r.value)
                iid = doc["interaction_id"]
                first_seen.setdefault(iid, r.timestamp)
                final[iid] = doc["outcome"]
    if len(first_seen) < n:
        raise RuntimeError(f"leadstream: outcomes for {len(first_seen)}/{n} interactions")
    t_first = min(first_seen.values())
    secs = (max(last_ts.values()) - t_first) / 1000.0
    match_secs = (max(first_seen.values()) - t_first) / 1000.0
    counts: dict[str, int] = {}
    for o in final.values():
        counts[o] = counts.get(o, 0) + 1
    log(f"leadstream final outcomes: {counts}; records {count}; last output "
        f"{secs:.1f}s, last first-outcome {match_secs:.1f}s after the first outcome")
    return {"eps": n / secs, "seconds": secs, "matching_eps": n / match_secs,
            "final": counts, "records": count}


async def run_latency(broker: Broker, child: Child, args: Any, work: Path,
                      source: str = TOPIC, outcomes: str = "interaction-outcomes",
                      name: str = "latency", rate: float | None = None,
                      day: int = 61) -> dict[str, Any]:
    """`rate`/s (default --rate) for --duration s of new interactions on `day` after the
    stream's start (each run its own day, seed and id prefix: no id is seen twice)."""
    rate = rate or args.rate
    total = int(rate * args.duration)
    recs = list(data.interactions(
        total, args.parties, seed=data.SEED + 7 + (day - 61), skew=args.skew, days=1.0,
        start=data.START + timedelta(days=day),
        id_prefix="lat-" if day == 61 else f"lat{day}-"))
    payload = [(r["party_id"].encode(), orjson.dumps(r), r["interaction_id"]) for r in recs]
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False,
                                fetch_max_wait_ms=20)
    await consumer.start()
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=0, acks=1)
    await producer.start()
    sent: dict[str, int] = {}
    sent_wall: dict[str, int] = {}  # ms since the epoch, to compare with record timestamps
    got: dict[str, int] = {}
    decided: dict[str, int] = {}    # the outcome's timestamp: when the worker queued it (ms)
    try:
        tps = await topic_partitions(consumer, outcomes)
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:
            await consumer.position(tp)

        async def reader() -> None:
            while len(got) < total:
                batch = await consumer.getmany(timeout_ms=50)
                now = time.perf_counter_ns()
                for rs in batch.values():
                    for r in rs:
                        iid = orjson.loads(r.value)["interaction_id"]
                        if iid in sent and iid not in got:
                            got[iid] = now
                            decided[iid] = r.timestamp

        task = asyncio.create_task(reader())
        t0 = time.perf_counter()
        for i, (key, value, iid) in enumerate(payload):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent[iid] = time.perf_counter_ns()
            sent_wall[iid] = time.time_ns() // 1_000_000
            await producer.send(source, value, key=key)
        offered = total / (time.perf_counter() - t0)
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=args.latency_timeout)
        except TimeoutError:
            task.cancel()
            log(f"{name}: outcomes for {len(got)}/{total} within {args.latency_timeout}s "
                "after the last send")
        child.check_alive()
    finally:
        await producer.stop()
        await consumer.stop()
    t_first = min(sent.values()) if sent else 0
    with open(work / f"{name}.csv", "w") as f:  # send time (s from start), latency (ms)
        f.writelines(f"{(sent[i] - t_first) / 1e9:.4f},{(got[i] - sent[i]) / 1e6:.2f}\n"
                     for i in sorted(got, key=sent.__getitem__))
    stats = latency_stats(sent, got, decided, sent_wall, time.perf_counter_ns())
    return {**stats, "offered_eps": offered, "sent": total}


def latency_stats(sent: dict[str, int], got: dict[str, int], decided: dict[str, int],
                  sent_wall: dict[str, int], gave_up: int) -> dict[str, Any]:
    """Percentiles of send -> outcome received (`sent`, `got`: perf_counter ns per id) and
    send -> decision (`sent_wall`, `decided`: ms since the epoch). An outcome not received
    counts as received at `gave_up`: the percentiles are then lower bounds (`complete`
    false), never figures of the faster part alone."""
    lat_of = {i: (got.get(i, gave_up) - sent[i]) / 1e6 for i in sent}
    lat = sorted(lat_of.values())
    # where it goes: send -> the worker queues the outcome (its record timestamp, 1 ms
    # resolution), and from there to the bench's consumer (broker + the bench's fetch wait)
    to_decision = sorted(float(decided[i] - sent_wall[i]) for i in got)
    # lag left growing shows as a later quarter slower than the first one
    order = sorted(sent, key=sent.__getitem__)
    quarter = max(1, len(order) // 4)
    first_q = sorted(lat_of[i] for i in order[:quarter])
    last_q = sorted(lat_of[i] for i in order[-quarter:])
    return {"p50_ms": percentile(lat, 0.5), "p99_ms": percentile(lat, 0.99),
            "complete": len(got) == len(sent),
            "p50_ms_first_quarter": percentile(first_q, 0.5),
            "p50_ms_last_quarter": percentile(last_q, 0.5),
            "decided_p50_ms": percentile(to_decision, 0.5),
            "decided_p99_ms": percentile(to_decision, 0.99),
            "max_ms": lat[-1] if lat else None, "received": len(got)}


def run_core(work: Path, args: Any) -> dict[str, Any]:
    """bench/core_only.py in a child process on the bench's interactions (same seed)."""
    path = work / "interactions.jsonl"
    with open(path, "wb") as f:
        for _key, value in data.records(args.n, args.parties, skew=args.skew):
            f.write(value + b"\n")
    done = subprocess.run([PYTHON, "-m", "bench.core_only", str(path)], cwd=ROOT,
                          env=base_env(), capture_output=True, timeout=args.timeout, check=True)
    return dict(json.loads(done.stdout.decode().strip().splitlines()[-1]))


# ---------------------------------------------------------------------- main
async def amain(args: Any) -> dict[str, Any]:
    subjects = [s.strip() for s in args.only.split(",")] if args.only else list(SUBJECTS)
    bad = [s for s in subjects if s not in SUBJECTS]
    if bad:
        raise SystemExit(f"unknown subject(s) {bad}; choose from {SUBJECTS}")
    work = Path(tempfile.mkdtemp(prefix="leadstream-bench-"))
    prof = Profiler(Path(args.profile).resolve() if args.profile else None,
                    nonblocking=args.profile_nonblocking)
    if prof.out_dir:
        prof.out_dir.mkdir(parents=True, exist_ok=True)
    log(f"work dir {work}; subjects {subjects}; n={args.n} parties={args.parties}")
    out: dict[str, Any] = {"n": args.n, "parties": args.parties, "skew": args.skew,
                           "nproc": os.cpu_count(),
                           "cpu_calib_ms": cpu_calibration_ms(),
                           "loadavg_1m_start": os.getloadavg()[0]}
    worker_env = worker_experiments(args, out)
    errors: dict[str, str] = {}
    broker = start_broker(args.broker, work)
    out["broker"] = args.broker
    out["broker_start_s"] = round(broker.startup_seconds, 1)
    try:
        await create_topics(broker.bootstrap, [TOPIC])
        ends, secs = await produce(broker.bootstrap, TOPIC,
                                   data.records(args.n, args.parties, skew=args.skew))
        n = sum(ends.values())
        log(f"loaded {n} interactions in {secs:.1f}s ({n / secs:.0f}/s)")
        out["load_eps"] = round(n / secs)

        async def attempt(name: str, run: Callable[[], Awaitable[dict[str, Any]]],
                          ) -> dict[str, Any] | None:
            """One subject's result; None when not chosen or failed (the error is kept and
            the other subjects still run)."""
            if name not in subjects:
                return None
            log(f"{name}: starting")
            try:
                return await run()
            except Exception as exc:
                errors[name] = f"{type(exc).__name__}: {exc}"
                log(f"{name}: FAILED {errors[name][:2000]}")
                return None

        if r := await attempt("raw", lambda: run_raw(broker.bootstrap, n, args.timeout)):
            out["raw_eps"] = round(r["eps"])
            log(f"raw: {r['eps']:.0f} ev/s")
        for name in ("empty", "naive"):
            if r := await attempt(name, partial(run_baseline, name, broker, ends, work, args,
                                                prof)):
                out[f"{name}_eps"] = round(r["eps"])
                log(f"{name}: {r['eps']:.0f} ev/s ({r['seconds']:.1f}s)")

        async def core() -> dict[str, Any]:
            return run_core(work, args)

        if r := await attempt("core", core):
            out["core_eps"] = r["eps"]
            out["core_cpu_eps"] = r.get("cpu_eps")
            log(f"core: {r['eps']} ev/s ({r['seconds']}s)")

        for name, runner in (("quix_window", peers.run_quix_window),
                             ("bytewax", peers.run_bytewax)):
            if r := await attempt(name, partial(runner, broker.bootstrap, TOPIC, ends, work,
                                                args)):
                out[f"{name}_eps"] = round(r["eps"])
                out[f"{name}_detail"] = {k: round(v, 1) if isinstance(v, float) else v
                                         for k, v in r.items() if k != "eps"}
                log(f"{name}: {r['eps']:.0f} ev/s ({r['seconds']:.1f}s)")

        if r := await attempt("echo", lambda: run_echo(broker, work, args)):
            out["echo_p50_ms"], out["echo_p99_ms"] = (round(r["p50_ms"], 1),
                                                      round(r["p99_ms"], 1))
            log(f"echo: p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms")
        if {"leadstream", "latency", "latency_high"} & set(subjects):
            child, port = start_leadstream(broker.url, work / "leadstream-data", "",
                                           work / "leadstream.log",
                                           extra_env=worker_env,
                                           fetch_wait_ms=args.fetch_wait_ms,
                                           kind=args.broker)
            try:
                ready = await wait_healthy(child, port, 120)
                out["leadstream_ready_s"] = round(ready, 1)
                log(f"leadstream: healthy after {ready:.1f}s")
                if "leadstream" in subjects:
                    prof.start("leadstream", child.pid)
                    try:
                        r = await run_leadstream_throughput(broker, child, ends, args)
                    finally:
                        prof.stop()
                    out["leadstream_eps"] = round(r["eps"])
                    out["leadstream_matching_eps"] = round(r["matching_eps"])
                    out["leadstream_final_outcomes"] = r["final"]
                    log(f"leadstream: {r['eps']:.0f} ev/s ({r['seconds']:.1f}s)")
                if "latency" in subjects:
                    # offered load on an idle worker: the pre-loaded stream must be done
                    await wait_pipeline_done(broker.bootstrap, "leadstream", ends,
                                             args.timeout, child)
                    log(f"latency: {args.rate}/s for {args.duration}s")
                    prof.start("latency", child.pid)
                    try:
                        r = await run_latency(broker, child, args, work)
                    finally:
                        prof.stop()
                    out.update({k: (round(v, 1) if isinstance(v, float) else v)
                                for k, v in r.items()})
                    log(f"latency: p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, "
                        f"received {r['received']}/{r['sent']}")
                if "latency_high" in subjects:
                    # idle again: the preload (and the first latency run) fully decided
                    await wait_pipeline_done(broker.bootstrap, "leadstream", ends,
                                             args.timeout, child)
                    rate = args.rate_high
                    log(f"latency_high: {rate}/s for {args.duration}s")
                    prof.start("latency_high", child.pid)
                    try:
                        r = await run_latency(broker, child, args, work, name="latency_high",
                                              rate=rate, day=62)
                    finally:
                        prof.stop()
                    tag = f"_at_{rate:g}"
                    out.update({f"{k}{tag}": (round(v, 1) if isinstance(v, float) else v)
                                for k, v in r.items()})
                    log(f"latency_high: p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, "
                        f"received {r['received']}/{r['sent']}")
            except Exception as exc:
                errors["leadstream"] = f"{type(exc).__name__}: {exc}"
                log(f"leadstream: FAILED {errors['leadstream'][:3000]}")
            finally:
                child.stop()
    finally:
        cleanup()
        broker.stop()
    out["loadavg_1m_end"] = os.getloadavg()[0]
    out.update(derived(out))
    if errors:
        out["errors"] = errors
    drop_work_dir(work, args.keep)
    return out


def derived(out: dict[str, Any]) -> dict[str, Any]:
    """The ratios and bounds from the subjects' rates (a subject missing: its keys absent).

    `bound_eps` = 1 / (1/empty + 1/core): a Faust agent that consumes each record and then
    decides it, with no table, changelog or output. `intake_bound_eps` = 1 / (1/raw +
    1/core): the same with the records taken in batches from the consumer (aiokafka
    `getmany`, as `raw`) instead of through Faust's per-message stream: what batch intake
    could reach at most with today's decisions."""
    res: dict[str, Any] = {}

    def ratio(num: str, den: str) -> float | None:
        a, b = out.get(num) or res.get(num), out.get(den)
        return round(a / b, 2) if a and b else None

    def bound(a: str, b: str) -> float | None:
        return 1 / (1 / out[a] + 1 / out[b]) if out.get(a) and out.get(b) else None

    for key, value in (("bound_eps", bound("empty_eps", "core_eps")),
                       ("intake_bound_eps", bound("raw_eps", "core_eps"))):
        if value is not None:
            res[key] = round(value)
    for num, den in (("leadstream_eps", "naive_eps"), ("leadstream_eps", "empty_eps"),
                     ("leadstream_eps", "quix_window_eps"), ("core_eps", "quix_window_eps"),
                     ("bound_eps", "empty_eps"), ("bound_eps", "naive_eps"),
                     ("bound_eps", "quix_window_eps"), ("intake_bound_eps", "quix_window_eps")):
        r = ratio(num, den)
        if r is not None:
            res[f"{num.removesuffix('_eps')}_over_{den.removesuffix('_eps')}"] = r
    return res


def main(argv: list[str] | None = None) -> None:
    ap = run_parser("leadstream throughput and latency benchmark", n=200_000, parties=50_000,
                    timeout=900.0, timeout_help="per subject, seconds")
    ap.add_argument("--rate", type=float, default=500.0, help="offered load for latency")
    ap.add_argument("--rate-high", type=float, default=5000.0,
                    help="offered load for latency_high (after latency)")
    ap.add_argument("--duration", type=float, default=20.0, help="seconds of offered load")
    ap.add_argument("--only", default="", help=f"comma list of {','.join(SUBJECTS)}")
    ap.add_argument("--quick", action="store_true", help="n=20k, parties=5k (smoke run)")
    ap.add_argument("--broker", default="tansu", choices=["tansu", "kafka"],
                    help="the embedded Tansu or a real Apache Kafka (`make kafka` first)")
    ap.add_argument("--latency-timeout", type=float, default=30.0,
                    help="seconds to wait for the last outcomes after the last send")
    ap.add_argument("--baseline-loop", default="uvloop", choices=["uvloop", "asyncio"],
                    help="event loop of the Faust baselines (leadstream uses uvloop)")
    ap.add_argument("--profile", metavar="DIR", default="",
                    help="py-spy (collapsed stacks) of each Faust subject into DIR")
    ap.add_argument("--profile-nonblocking", action="store_true",
                    help="py-spy --nonblocking (less overhead, truncated stacks)")
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.parties = 20_000, 5_000
    out = run_main(amain, args)
    out["offered_eps"] = out.get("offered_eps")
    high = f"_at_{args.rate_high:g}"
    keys = ["n", "raw_eps", "naive_eps", "empty_eps", "quix_window_eps", "bytewax_eps",
            "leadstream_eps", "leadstream_over_naive", "leadstream_over_empty",
            "leadstream_over_quix_window", "p50_ms", "p99_ms", "offered_eps", "decided_p50_ms",
            "decided_p99_ms", f"p50_ms{high}", f"p99_ms{high}", f"offered_eps{high}",
            f"decided_p99_ms{high}", "core_eps", "core_over_quix_window", "bound_eps",
            "bound_over_naive", "bound_over_empty", "bound_over_quix_window",
            "intake_bound_eps", "intake_bound_over_quix_window"]
    ordered = {k: out.get(k) for k in keys}
    ordered.update({k: v for k, v in out.items() if k not in ordered})
    print(json.dumps(ordered), flush=True)
    sys.exit(1 if out.get("errors") else 0)


if __name__ == "__main__":
    main()
