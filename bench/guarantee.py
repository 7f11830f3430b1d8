"""At-least-once + idempotent state against Faust's exactly_once, on a real Kafka, under kill -9.

    .venv/bin/python -m bench.guarantee [--rounds 2] [--parties 30 --per-party 40]

For each `PROCESSING_GUARANTEE` the kill -9 scenario of tests/streaming/test_reliability.py
(the 1st quarter consumed in full; the worker SIGKILLed while each later quarter is being
consumed, restarted on the same DATA_DIR) on one Kafka (streaming/kafka_broker.py), then a
clean run of the same input without kills. Prints ONE JSON line: per guarantee and run, the
seconds to ready (mean of the starts), seconds from the first record sent to the group idle,
output records sent (outcomes, links, lead snapshots) and how many of them repeat an earlier
identical record (the cost of redelivery after a kill), and whether the final result equals
`simulate`'s. Needs `make kafka`. A script, not a test.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from streaming.kafka_broker import KafkaBroker
from tests.streaming import data
from tests.streaming.harness import Job, diff, simulate, write_jsonl

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "config" / "examples" / "vision-enterprises.yaml"
OUTPUTS = ("interaction-outcomes", "interaction-leads", "leads")


def log(msg: str) -> None:
    print(f"[guarantee {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run_once(broker: KafkaBroker, work: Path, lines: list[bytes], guarantee: str,
             kill: bool) -> dict[str, Any]:
    """One run; a run that fails (a worker never idle...) gives its error instead."""
    t0 = time.monotonic()
    try:
        return _run(broker, work, lines, guarantee, kill)
    except Exception as exc:
        log(f"{guarantee}: FAILED {str(exc)[:3000]}")
        return {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:400]}",
                "after_s": round(time.monotonic() - t0, 1)}


def _run(broker: KafkaBroker, work: Path, lines: list[bytes], guarantee: str,
         kill: bool) -> dict[str, Any]:
    job = Job(broker, work, rules_path=RULES, env={"PROCESSING_GUARANTEE": guarantee})
    q = len(lines) // 4
    quarters = [lines[:q], lines[q:2 * q], lines[2 * q:3 * q], lines[3 * q:]]
    ready: list[float] = []
    kills = 0
    try:
        w = job.start_worker("w0")
        ready.append(w.wait_ready(timeout=120))
        t0 = time.monotonic()
        job.produce("interactions", quarters[0])
        job.wait_idle(timeout=120)
        for i, part in enumerate(quarters[1:], start=1):
            job.produce("interactions", part)
            if not kill:
                continue
            time.sleep(0.3)
            kills += bool(job.lag())
            w.stop(signal.SIGKILL)
            w = job.start_worker(f"w{i}", data_dir=w.data_dir)
            ready.append(w.wait_ready(timeout=120))
        job.wait_idle(timeout=180)
        seconds = time.monotonic() - t0 - (sum(ready[1:]) if kill else 0.0)
        sent = {b: job.read(b) for b in OUTPUTS}
        stream = job.outputs()
    finally:
        job.stop_all()
    sim = simulate(RULES, work / "sim", interactions=write_jsonl(work / "in.jsonl", lines))
    a, b = stream.after_crash(), sim.after_crash()
    equal = a.comparable() == b.comparable()
    out: dict[str, Any] = {"ready_s": round(statistics.mean(ready), 2),
                           "busy_s": round(seconds, 2), "kills_mid_stream": kills,
                           "equals_simulate": equal}
    if not equal:
        out["difference"] = diff(a, b)[:3000]
    for base, recs in sent.items():
        seen: set[tuple[Any, bytes]] = set()
        repeats = 0
        for r in recs:
            ident = (r["key"], r["value"])
            repeats += ident in seen
            seen.add(ident)
        out[f"{base}_sent"] = len(recs)
        out[f"{base}_repeats"] = repeats
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parties", type=int, default=30)
    ap.add_argument("--per-party", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=1, help="kill runs per guarantee")
    ap.add_argument("--guarantees", default="at_least_once,exactly_once")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (worker logs)")
    args = ap.parse_args(argv)
    lines = data.interactions(parties=args.parties, per_party=args.per_party, seed=41)
    result: dict[str, Any] = {"interactions": len(lines)}
    work = Path(tempfile.mkdtemp(prefix="leadstream-guarantee-"))
    try:
        with KafkaBroker(log_dir=work / "kafka", die_with_parent=True, log_level="WARN") as b:
            result["kafka_start_s"] = round(b.startup_seconds or 0.0, 1)
            for guarantee in args.guarantees.split(","):
                runs = []
                for i in range(args.rounds):
                    log(f"{guarantee}: kill -9 run {i + 1}")
                    runs.append(run_once(b, work / f"{guarantee}-kill{i}", lines, guarantee,
                                         kill=True))
                log(f"{guarantee}: clean run")
                result[guarantee] = {"kill9": runs,
                                     "clean": run_once(b, work / f"{guarantee}-clean", lines,
                                                       guarantee, kill=False)}
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
