"""`make run`: the streaming job on the bundled samples, one readable line per lead snapshot.

Starts ``python app.py worker`` (embedded broker, fresh ``DATA_DIR`` = ``data/state/demo``),
waits for ``/healthz``, sends the samples that exist in ``data/samples/`` (``leads.jsonl`` to
``lead-updates``, ``imports.jsonl`` to ``lead-imports``, then ``feed.callcenter.jsonl`` and
``feed.web.jsonl`` merged in event-time order), prints each lead snapshot from ``leads`` as it
appears, and stops the worker once nothing new came for a few seconds (or on Ctrl-C).

    python -m streaming.demo [--idle 5] [--keep-running]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from streaming.broker import free_port
from streaming.settings import load_settings
from streaming.topics import TopicNames

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "samples"


def _healthz(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return 0


def start_worker(data_dir: Path, port: int) -> tuple[subprocess.Popen[bytes], Path]:
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k not in ("BROKER_URL", "TOPIC_PREFIX")}
    env.update({"DATA_DIR": str(data_dir), "WEB_PORT": str(port),
                "BROKER_SESSION_TIMEOUT": env.get("BROKER_SESSION_TIMEOUT", "4")})
    log_path = data_dir / "worker.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "worker"], cwd=ROOT,
                                env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    return proc, log_path


def wait_ready(proc: subprocess.Popen[bytes], port: int, log_path: Path,
               timeout: float = 90.0) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            sys.exit(f"demo: the worker exited ({proc.returncode}); see {log_path}:\n"
                     + log_path.read_text(errors="replace")[-3000:])
        if _healthz(port) == 200:
            return time.monotonic() - t0
        time.sleep(0.2)
    sys.exit(f"demo: the worker was not ready after {timeout:.0f}s; see {log_path}")


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


# ----------------------------------------------------------------------------- input
def _lines(name: str) -> list[bytes]:
    p = SAMPLES / name
    if not p.is_file():
        return []
    return [ln.strip() for ln in p.read_bytes().splitlines() if ln.strip()]


def _field(line: bytes, name: str) -> bytes | None:
    try:
        v = json.loads(line).get(name)
    except (ValueError, AttributeError):
        return None
    return None if v is None else str(v).encode()


def _feed_time(line: bytes, field: str) -> float:
    from models.timefmt import BadTimestamp, parse_epoch_or_iso

    try:
        return parse_epoch_or_iso(json.loads(line).get(field), field)[1]
    except (ValueError, AttributeError, BadTimestamp):
        return 0.0


def feed_records(names: TopicNames) -> list[tuple[str, list[tuple[bytes | None, bytes]]]]:
    """(topic, [(key, value)]) batches in the order they are sent."""
    batches: list[tuple[str, list[tuple[bytes | None, bytes]]]] = []
    leads = _lines("leads.jsonl")
    if leads:
        batches.append((names.lead_updates, [(_field(x, "party_id"), x) for x in leads]))
    imports = _lines("imports.jsonl")
    if imports:
        batches.append((names.lead_imports,
                        [(_field(x, "orig_system_reference"), x) for x in imports]))
    feed: list[tuple[float, str, bytes]] = []
    feed += [(_feed_time(x, "started_at"), names.feed_callcenter, x)
             for x in _lines("feed.callcenter.jsonl")]
    feed += [(_feed_time(x, "ts"), names.feed_web, x) for x in _lines("feed.web.jsonl")]
    feed.sort(key=lambda t: t[0])
    for _, topic, x in feed:
        if batches and batches[-1][0] == topic:
            batches[-1][1].append((_field(x, "party_id"), x))
        else:
            batches.append((topic, [(_field(x, "party_id"), x)]))
    return batches


# ----------------------------------------------------------------------------- output
def lead_line(lead: dict[str, Any], first: bool) -> str:
    def flag(v: Any) -> str:
        return "-" if v is None else ("yes" if v is True else "no" if v is False else str(v))

    ids = lead.get("interaction_ids") or []
    return (f"{'new ' if first else 'upd '}{lead['lead_id']:<26} {lead['party_id']:<24} "
            f"score {lead.get('interaction_score', 0):>4}  {lead.get('status', ''):<10} "
            f"qualified={flag(lead.get('qualified')):<3} rating={flag(lead.get('rating')):<2} "
            f"channel={flag(lead.get('channel')):<10} {lead.get('origin', ''):<11} "
            f"{len(ids)} interaction{'s' if len(ids) != 1 else ''}")


async def run(bootstrap: str, names: TopicNames, partitions: int, idle: float,
              keep_running: bool) -> int:
    from aiokafka import (  # type: ignore[import-untyped]
        AIOKafkaConsumer,
        AIOKafkaProducer,
        TopicPartition,
    )

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all")
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await producer.start()
    await consumer.start()
    seen: set[str] = set()
    try:
        # the worker created every topic at start, with TOPIC_PARTITIONS partitions
        consumer.assign([TopicPartition(names.leads, p) for p in range(partitions)])
        sent = 0
        for topic, records in feed_records(names):
            for key, value in records:
                await producer.send(topic, value, key=key)
                sent += 1
        await producer.flush()
        print(f"demo: sent {sent} records from {SAMPLES.relative_to(ROOT)}/; lead snapshots:",
              flush=True)
        last = time.monotonic()
        while keep_running or time.monotonic() - last < idle:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for r in records:
                    lead = json.loads(r.value)
                    print(lead_line(lead, lead["lead_id"] not in seen), flush=True)
                    seen.add(lead["lead_id"])
                    last = time.monotonic()
    finally:
        await consumer.stop()
        await producer.stop()
    return len(seen)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m streaming.demo", description=__doc__.split(
        "\n\n")[0])
    ap.add_argument("--idle", type=float, default=6.0,
                    help="stop after this many seconds without a new lead snapshot")
    ap.add_argument("--keep-running", action="store_true", help="run until Ctrl-C")
    ap.add_argument("--data-dir", default=str(ROOT / "data" / "state" / "demo"))
    args = ap.parse_args(argv)
    data_dir = Path(args.data_dir)
    port = int(os.environ.get("WEB_PORT") or free_port())
    settings = load_settings({k: v for k, v in os.environ.items()
                              if k not in ("BROKER_URL", "TOPIC_PREFIX")})
    names = TopicNames.with_prefix("")
    print(f"demo: starting the worker (embedded broker, DATA_DIR={data_dir}, web :{port})",
          flush=True)
    proc, log_path = start_worker(data_dir, port)

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)  # `timeout make run`, a stop from a supervisor
    try:
        ready = wait_ready(proc, port, log_path)
        url = (data_dir / "broker.url").read_text().strip()
        print(f"demo: worker ready in {ready:.1f}s, broker {url}; metrics "
              f"http://127.0.0.1:{port}/metrics; log {log_path}", flush=True)
        bootstrap = url.removeprefix("kafka://")
        n = asyncio.run(run(bootstrap, names, settings.topic_partitions, args.idle,
                            args.keep_running))
        print(f"demo: {n} leads; quiet for {args.idle:.0f}s, stopping the worker", flush=True)
    except KeyboardInterrupt:
        print("\ndemo: interrupted, stopping the worker", flush=True)
    finally:
        stop_worker(proc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
