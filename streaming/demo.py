"""`make run`: the streaming job on the bundled samples, one readable line per lead snapshot.

Starts ``python app.py worker`` (embedded broker, fresh ``DATA_DIR`` = ``data/state/demo``,
rules ``config/examples/demo.yaml``: qualification, rating, channel selection and territory
assignment), waits for ``/healthz``, sends the samples in ``data/samples/`` (``leads.jsonl`` to
``lead-updates``, ``imports.jsonl`` to ``lead-imports``, then ``interactions.jsonl``, or with
``--feeds`` the raw call-centre and web feeds merged in event-time order), and prints each lead
snapshot from ``leads`` as it appears. Once nothing new came for ``--idle`` seconds it prints
the URLs to open (the Lead Linking Report, ``/metrics``, ``/leads/{id}`` of a lead it just
made) and stays up until Ctrl-C.

    python -m streaming.demo [--idle 4] [--feeds] [--rules FILE] [--exit-when-idle]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
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
DEMO_RULES = ROOT / "config" / "examples" / "demo.yaml"
DEFAULT_PORT = 6066


def _healthz(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return 0


def start_worker(data_dir: Path, port: int, rules: Path, admin_token: str,
                 ) -> tuple[subprocess.Popen[bytes], Path]:
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items()
           if k not in ("BROKER_URL", "TOPIC_PREFIX", "REDIS_URL")}
    env.update({"DATA_DIR": str(data_dir), "WEB_PORT": str(port), "RULES_PATH": str(rules),
                "ADMIN_TOKEN": admin_token,
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


def feed_records(names: TopicNames, feeds: bool = True,
                 ) -> list[tuple[str, list[tuple[bytes | None, bytes]]]]:
    """(topic, [(key, value)]) batches in the order they are sent: leads, imports, then the
    interactions (or, with `feeds`, the raw feeds they were made from)."""
    batches: list[tuple[str, list[tuple[bytes | None, bytes]]]] = []
    leads = _lines("leads.jsonl")
    if leads:
        batches.append((names.lead_updates, [(_field(x, "party_id"), x) for x in leads]))
    imports = _lines("imports.jsonl")
    if imports:
        batches.append((names.lead_imports,
                        [(_field(x, "orig_system_reference"), x) for x in imports]))
    if not feeds:
        interactions = _lines("interactions.jsonl")
        if interactions:
            batches.append((names.interactions,
                            [(_field(x, "party_id"), x) for x in interactions]))
        return batches
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
            f"channel={flag(lead.get('channel')):<10} owner={flag(lead.get('owner')):<13} "
            f"{lead.get('origin', ''):<11} {len(ids)} interaction{'s' if len(ids) != 1 else ''}")


def urls_message(port: int, lead_id: str | None, admin_token: str) -> str:
    base = f"http://127.0.0.1:{port}"
    lines = [
        "demo: the worker keeps running (Ctrl-C stops it). Open:",
        f"  Lead Linking Report  {base}/reports/lead-linking?format=html",
        f"  Prometheus metrics   {base}/metrics",
    ]
    if lead_id is not None:
        lines.append(f"  a lead it just made  {base}/leads/{lead_id}")
    lines.append(f"  health               {base}/healthz")
    lines.append(f"  admin views (/parties/...): curl -H 'Authorization: Bearer {admin_token}' "
                 f"{base}/parties/<party_id>")
    return "\n".join(lines)


async def run(bootstrap: str, names: TopicNames, partitions: int, idle: float,
              exit_when_idle: bool, feeds: bool, on_idle: Any) -> int:
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
    made: str | None = None  # a lead made from interactions, for its /leads/{id} URL
    told = False
    try:
        # the worker created every topic at start, with TOPIC_PARTITIONS partitions
        consumer.assign([TopicPartition(names.leads, p) for p in range(partitions)])
        sent = 0
        for topic, records in feed_records(names, feeds):
            for key, value in records:
                await producer.send(topic, value, key=key)
                sent += 1
        await producer.flush()
        print(f"demo: sent {sent} records from {SAMPLES.relative_to(ROOT)}/; lead snapshots:",
              flush=True)
        last = time.monotonic()
        while True:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for r in records:
                    if r.value is None:  # a deleted lead's tombstone (CONTRACT §10)
                        print(f"lead {(r.key or b'').decode()} deleted", flush=True)
                        continue
                    lead = json.loads(r.value)
                    print(lead_line(lead, lead["lead_id"] not in seen), flush=True)
                    seen.add(lead["lead_id"])
                    if made is None and lead.get("origin") == "INTERACTION":
                        made = lead["lead_id"]
                    last = time.monotonic()
            if not told and time.monotonic() - last >= idle:
                told = True
                on_idle(len(seen), made)
                if exit_when_idle:
                    break
    finally:
        await consumer.stop()
        await producer.stop()
    return len(seen)


def _port() -> int:
    raw = os.environ.get("WEB_PORT")
    if raw:
        return int(raw)
    import socket

    with socket.socket() as s:  # 6066 (CONTRACT §9) when it is free: the URLs stay the same
        try:
            s.bind(("127.0.0.1", DEFAULT_PORT))
            return DEFAULT_PORT
        except OSError:
            return free_port()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m streaming.demo", description=__doc__.split(
        "\n\n")[0])
    ap.add_argument("--idle", type=float, default=4.0,
                    help="seconds without a new lead snapshot before the URLs are printed")
    ap.add_argument("--exit-when-idle", action="store_true",
                    help="stop the worker once idle instead of running until Ctrl-C")
    ap.add_argument("--feeds", action="store_true",
                    help="send the raw call-centre and web feeds instead of interactions.jsonl")
    ap.add_argument("--rules", default=str(DEMO_RULES), help="rules config for the worker")
    ap.add_argument("--data-dir", default=str(ROOT / "data" / "state" / "demo"),
                    help="the worker's DATA_DIR (cleared at start)")
    args = ap.parse_args(argv)
    data_dir = Path(args.data_dir)
    port = _port()
    settings = load_settings({k: v for k, v in os.environ.items()
                              if k not in ("BROKER_URL", "TOPIC_PREFIX")})
    names = TopicNames.with_prefix("")
    admin_token = os.environ.get("ADMIN_TOKEN") or secrets.token_hex(8)
    print(f"demo: starting the worker (embedded broker, rules {args.rules}, "
          f"DATA_DIR={data_dir}, web :{port})", flush=True)
    proc, log_path = start_worker(data_dir, port, Path(args.rules), admin_token)

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    def on_idle(n: int, made: str | None) -> None:
        print(f"demo: {n} leads so far", flush=True)
        print(urls_message(port, made, admin_token), flush=True)

    signal.signal(signal.SIGTERM, on_term)  # `timeout make run`, a stop from a supervisor
    try:
        ready = wait_ready(proc, port, log_path)
        url = (data_dir / "broker.url").read_text().strip()
        print(f"demo: worker ready in {ready:.1f}s, broker {url}; log {log_path}", flush=True)
        bootstrap = url.removeprefix("kafka://")
        asyncio.run(run(bootstrap, names, settings.topic_partitions, args.idle,
                        args.exit_when_idle, args.feeds, on_idle))
    except KeyboardInterrupt:
        print("\ndemo: interrupted, stopping the worker", flush=True)
    finally:
        stop_worker(proc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
