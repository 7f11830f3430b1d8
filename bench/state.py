"""State benchmark of the leadstream worker: memory and disk over a long stream, then
recovery of a worker that lost its local state. A script, not a test:

    .venv/bin/python -m bench.state                          # 1M interactions, 200k parties
    .venv/bin/python -m bench.state --n 200000 --parties 40000   # a few minutes

1. Loads N interactions (bench/data.py, 60 days of event time, so the 30-day lookback
   evicts from the middle of the stream on) into `interactions` on the embedded broker.
2. Starts `python app.py worker` (fresh DATA_DIR) and samples, every --interval s, the
   worker's RSS (psutil), the size of DATA_DIR (RocksDB files) and its committed input
   offsets, until every interaction is committed.
3. Recovery: SIGTERM the worker, delete DATA_DIR, send one probe (the busiest party's last
   interaction, sent again), restart; measures the time to /healthz 200 and to the probe's
   outcome (the first decision made on the recovered state: DUPLICATE means the party's seen
   ids came back from the changelog). Then, for comparison, a restart that keeps DATA_DIR
   (time to /healthz).
Prints ONE JSON line on stdout; progress on stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench import common, data
from bench.common import (
    BenchTimeout,
    Child,
    base_env,
    end_offsets,
    log,
    start_leadstream,
    wait_healthy,
)
from streaming.broker import EmbeddedBroker
from tables.engine_internals import probe_log_ends

TOPIC = "interactions"
OUTCOMES = "interaction-outcomes"
BUSIEST = b"PER-0000000"  # the busiest party of bench/data.py (index 0 of the skew)
CHANGELOGS = ("leadstream-parties-changelog", "leadstream-leads-changelog")


def dir_mb(path: Path) -> float:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):  # RocksDB deletes files as it compacts
                total += os.stat(os.path.join(root, f)).st_blocks * 512
    return total / 2**20


async def sample_until_done(bootstrap: str, child: Child, data_dir: Path, ends: dict[int, int],
                            interval: float, timeout: float) -> list[dict[str, Any]]:
    n = sum(ends.values())
    proc = psutil.Process(child.pid)
    proc.cpu_percent(None)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id="leadstream",
                                enable_auto_commit=False)
    await consumer.start()
    samples: list[dict[str, Any]] = []
    t0 = last_log = time.monotonic()
    try:
        while True:
            child.check_alive()
            done = 0
            for p, e in ends.items():
                done += min(await consumer.committed(TopicPartition(TOPIC, p)) or 0, e)
            s = {"t": round(time.monotonic() - t0, 1), "done": done,
                 "rss_mb": round(proc.memory_info().rss / 2**20, 1),
                 "db_mb": round(dir_mb(data_dir), 1), "cpu": round(proc.cpu_percent(None))}
            samples.append(s)
            if time.monotonic() - last_log > 30:
                log(f"  {done}/{n} committed, RSS {s['rss_mb']} MiB, DATA_DIR {s['db_mb']} MiB,"
                    f" cpu {s['cpu']}%")
                last_log = time.monotonic()
            if done >= n:
                return samples
            if time.monotonic() - t0 > timeout:
                raise BenchTimeout(f"worker committed {done}/{n} within {timeout}s")
            await asyncio.sleep(interval)
    finally:
        await consumer.stop()


async def probe_outcome(bootstrap: str, start: dict[int, int], iid: str, child: Child,
                        timeout: float) -> dict[str, Any]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                fetch_max_wait_ms=20)
    await consumer.start()
    try:
        tps = [TopicPartition(OUTCOMES, p) for p in start]
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, start[tp.partition])
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            child.check_alive()
            batch = await consumer.getmany(timeout_ms=50)
            for recs in batch.values():
                for r in recs:
                    doc = orjson.loads(r.value)
                    if doc.get("interaction_id") == iid:
                        return doc
    finally:
        await consumer.stop()
    raise BenchTimeout(f"no outcome for the probe {iid} within {timeout}s")


def at_fraction(samples: list[dict[str, Any]], n: int, frac: float) -> dict[str, Any]:
    return next((s for s in samples if s["done"] >= frac * n), samples[-1])


async def amain(args: Any) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="leadstream-state-"))
    data_dir = work / "leadstream-data"
    log(f"work dir {work}; n={args.n} parties={args.parties}")
    out: dict[str, Any] = {"n": args.n, "parties": args.parties, "skew": args.skew,
                           "nproc": os.cpu_count(), "cpu_calib_ms": common.cpu_calibration_ms()}
    worker_env = common.worker_experiments(args, out)
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    broker = EmbeddedBroker(log_dir=work / "broker", die_with_parent=True).start()
    try:
        await common.create_topics(broker.bootstrap, [TOPIC])
        busiest: list[bytes] = []  # the last interaction of the busiest party: the probe

        def records() -> Any:
            for key, value in data.records(args.n, args.parties, skew=args.skew):
                if key == BUSIEST:
                    busiest[:] = [value]
                yield key, value

        ends, secs = await common.produce(broker.bootstrap, TOPIC, records())
        log(f"loaded {sum(ends.values())} interactions in {secs:.1f}s")

        child, port = start_leadstream(broker.url, data_dir, "", work / "worker-1.log",
                                       extra_env=worker_env, fetch_wait_ms=args.fetch_wait_ms)
        ready = await wait_healthy(child, port, 120)
        log(f"worker healthy after {ready:.1f}s; processing")
        t0 = time.monotonic()
        samples = await sample_until_done(broker.bootstrap, child, data_dir / "faust", ends,
                                          args.interval, args.timeout)
        took = time.monotonic() - t0
        half, last = at_fraction(samples, args.n, 0.5), samples[-1]
        out.update({
            "eps_committed": round(args.n / took),
            "rss_mb_at": {f"{int(f * 100)}%": at_fraction(samples, args.n, f)["rss_mb"]
                          for f in (0.1, 0.25, 0.5, 0.75, 1.0)},
            "rss_max_mb": max(s["rss_mb"] for s in samples),
            "rss_growth_after_lookback_mb": round(last["rss_mb"] - half["rss_mb"], 1),
            "db_mb_at": {f"{int(f * 100)}%": at_fraction(samples, args.n, f)["db_mb"]
                         for f in (0.1, 0.25, 0.5, 0.75, 1.0)},
            "worker_cpu_pct_mean": round(sum(s["cpu"] for s in samples[1:])
                                         / max(len(samples) - 1, 1)),
        })
        changelog = 0
        for t in CHANGELOGS:
            changelog += sum((await end_offsets(broker.bootstrap, t)).values())
        out["changelog_records_min"] = changelog  # Tansu ListOffsets: lower bound
        log(f"done in {took:.0f}s; RSS {last['rss_mb']} MiB, DATA_DIR {last['db_mb']} MiB, "
            f"changelogs {changelog} records")

        # ---- recovery from the changelog
        stop_s = child.stop(timeout=30)
        out["stop_s"] = round(stop_s, 1)
        shutil.rmtree(data_dir)
        # The busiest party's last interaction, sent again: the recovered state has seen its
        # id (DUPLICATE); a state that did not come back would decide it as new.
        probe = orjson.loads(busiest[0])
        reported = await end_offsets(broker.bootstrap, OUTCOMES)  # Tansu: a lower bound
        true_ends = await probe_log_ends({(OUTCOMES, p): e for p, e in reported.items()},
                                         {"bootstrap_servers": broker.bootstrap})
        outcome_ends = {p: true_ends[(OUTCOMES, p)] for p in reported}  # skip the old outcome
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(TOPIC, busiest[0], key=BUSIEST)
        finally:
            await producer.stop()
        t0 = time.monotonic()
        child, port = start_leadstream(broker.url, data_dir, "", work / "worker-2.log",
                                       extra_env=worker_env, fetch_wait_ms=args.fetch_wait_ms)
        spy = None
        if args.profile:
            spy = Child("py-spy recovery", [
                str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(child.pid),
                "--format", "raw", "-r", "97", "-o", str(Path(args.profile) / "recovery.txt")],
                base_env(), Path(args.profile) / "recovery.py-spy.log")
        try:
            healthy = await wait_healthy(child, port, args.timeout)
        finally:
            if spy is not None:
                os.killpg(spy.pid, signal.SIGINT)  # py-spy writes its output on SIGINT
                with contextlib.suppress(Exception):
                    spy.proc.wait(timeout=30)
                spy.stop()
        out["recovery_healthz_s"] = round(time.monotonic() - t0, 1)
        doc = await probe_outcome(broker.bootstrap, outcome_ends, probe["interaction_id"],
                                  child, args.timeout)
        out["recovery_first_decision_s"] = round(time.monotonic() - t0, 1)
        out["probe_outcome"] = {k: doc.get(k) for k in ("outcome", "lead_id", "score")}
        out["rss_mb_after_recovery"] = round(psutil.Process(child.pid).memory_info().rss
                                             / 2**20, 1)
        out["db_mb_after_recovery"] = round(dir_mb(data_dir / "faust"), 1)
        log(f"recovery: healthz {healthy:.1f}s, first decision "
            f"{out['recovery_first_decision_s']}s, probe {out['probe_outcome']}")
        child.stop()
        out["samples"] = [[s["done"], s["rss_mb"], s["db_mb"]] for s in samples]
        # ---- for comparison: a restart that keeps DATA_DIR (replays only the tail)
        t0 = time.monotonic()
        child, port = start_leadstream(broker.url, data_dir, "", work / "worker-3.log",
                                       extra_env=worker_env, fetch_wait_ms=args.fetch_wait_ms)
        try:
            await wait_healthy(child, port, args.timeout)
            out["restart_keeping_data_dir_healthz_s"] = round(time.monotonic() - t0, 1)
        except Exception as exc:  # seen on Tansu: Faust's ConsistencyError (see docs/BENCH.md)
            reason = next((ln for ln in str(exc).splitlines() if "Error" in ln), str(exc))
            reason = reason[reason.find("[20"):] if "[20" in reason else reason  # drop ANSI
            out["restart_keeping_data_dir_error"] = reason.strip()[:400]
            log(f"restart keeping DATA_DIR failed: {reason.strip()[:400]}")
        child.stop()
    finally:
        common.cleanup()
        broker.stop()
    common.drop_work_dir(work, args.keep)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = common.run_parser("leadstream state (RSS, RocksDB) and recovery", n=1_000_000,
                           parties=200_000, timeout=3600.0, timeout_help="per wait, seconds")
    ap.add_argument("--interval", type=float, default=2.0, help="sampling period, seconds")
    ap.add_argument("--profile", metavar="DIR", default="",
                    help="py-spy the restarted worker until /healthz (DIR/recovery.txt)")
    print(json.dumps(common.run_main(amain, ap.parse_args(argv))), flush=True)


if __name__ == "__main__":
    sys.exit(main())
