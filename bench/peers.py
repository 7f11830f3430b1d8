"""The Python peers a user might pick instead of leadstream, run by bench/throughput.py on
the same broker and the same pre-loaded `interactions` topic:

  quix_window  Quix Streams: per party, a 30-day tumbling event-time window summing each
               type's default score, a window emitted when its sum reaches 20 (the closest
               peer of leadstream's lookback window; RocksDB state with a changelog)
  bytewax      Bytewax `stateful_map` running sum per party, every sum sent to Kafka, with
               recovery snapshots (optional)

They run in their own venv, `.cache/peer-venv` (`PEER_VENV` to move it), which the bench
builds on first use with pinned versions (PyPI must be reachable then), so the project's
dependencies stay as they are. The apps (bench/peer_apps/) import nothing from the project.
events/s = N / (last output - first record seen), as for the Faust baselines: the app's
clock for the first and N-th record, the Kafka timestamps of its changelog and output
records for the last output. Each result is checked against the same generator.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import data
from bench.common import ROOT, BenchTimeout, Child, base_env, log, read_to_idle, wait_committed

PEER_REQUIREMENTS = ("quixstreams==3.28.1", "bytewax==0.21.1", "orjson==3.10.18")
PEER_VENV = Path(os.environ.get("PEER_VENV", ROOT / ".cache" / "peer-venv"))
APPS = Path(__file__).resolve().parent / "peer_apps"
WINDOW_MS = 30 * 86_400 * 1000
THRESHOLD = 20
# Quix names a window store after its kind, length and aggregation
QUIX_WINDOW_STORE = f"tumbling_window_{WINDOW_MS}_sum"


def peer_python() -> Path:
    return PEER_VENV / "bin" / "python"


def ensure_peer_venv() -> Path:
    """The peers' venv with PEER_REQUIREMENTS installed; built (or updated) when its stamp
    does not list exactly these pins. Returns its python."""
    py = peer_python()
    stamp = PEER_VENV / ".bench-requirements"
    want = "\n".join(PEER_REQUIREMENTS) + "\n"
    if py.exists() and stamp.exists() and stamp.read_text() == want:
        return py
    log(f"building the peers' venv {PEER_VENV} ({', '.join(PEER_REQUIREMENTS)})")
    PEER_VENV.parent.mkdir(parents=True, exist_ok=True)
    if not py.exists():
        # the base interpreter (not this venv's site-packages): sys._base_executable
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(PEER_VENV)], check=True)
        (PEER_VENV / ".gitignore").write_text("*\n")  # never committed
    t0 = time.monotonic()
    done = subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                           *PEER_REQUIREMENTS], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"pip install into {PEER_VENV} failed:\n{done.stderr[-3000:]}")
    stamp.write_text(want)
    log(f"peers' venv ready in {time.monotonic() - t0:.0f}s")
    return py


def peer_env(extra: dict[str, str]) -> dict[str, str]:
    """base_env without the project on the path: the apps see only their own venv."""
    env = base_env()
    env["PYTHONPATH"] = str(APPS)
    env["PYTHONWARNINGS"] = "ignore"
    env["PEER_SCORES"] = json.dumps(data.DEFAULT_SCORES)
    env.update(extra)
    return env


def fix_topic_configs(bootstrap: str, topics: list[str]) -> None:
    """Quix reads retention.ms of its input topic; the embedded broker has no defaults."""
    done = subprocess.run([str(ensure_peer_venv()), str(APPS / "tansu_fix.py"), bootstrap,
                           *topics], capture_output=True, text=True, env=peer_env({}),
                          timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"tansu_fix: {done.stderr[-2000:]}")


def expected_window_alerts(n: int, parties: int, skew: float) -> int:
    """Windows the quix_window job must emit on bench/data.py's records."""
    return window_alerts(data.interactions(n, parties, skew=skew))


def window_alerts(records: Iterable[dict[str, Any]]) -> int:
    """Per party and 30-day epoch-aligned window of `occurred_at`, a running sum of the
    default scores that emits and starts again from 0 when it reaches THRESHOLD (Quix
    deletes a window its trigger emitted). Records in event-time order per party."""
    acc: dict[tuple[str, int], int] = {}
    alerts = 0
    for r in records:
        ts = int(datetime.fromisoformat(r["occurred_at"]).timestamp() * 1000)
        k = (r["party_id"], ts - ts % WINDOW_MS)
        acc[k] = acc.get(k, 0) + data.DEFAULT_SCORES.get(r["type"], 0)
        if acc[k] >= THRESHOLD:
            alerts += 1
            acc[k] = 0
    return alerts


def expected_sums(n: int, parties: int, skew: float) -> dict[str, int]:
    totals: dict[str, int] = {}
    for r in data.interactions(n, parties, skew=skew):
        totals[r["party_id"]] = totals.get(r["party_id"], 0) + data.DEFAULT_SCORES.get(
            r["type"], 0)
    return totals


async def _wait_exit(child: Child, timeout: float) -> None:
    t0 = time.monotonic()
    while child.alive():
        if time.monotonic() - t0 > timeout:
            raise BenchTimeout(f"{child.name}: still running after {timeout}s; log "
                               f"{child.log_path}:\n{child.tail()}")
        await asyncio.sleep(0.2)


def _marker(child: Child, marker: Path) -> dict[str, Any]:
    if child.proc.returncode != 0 or not marker.exists():
        raise RuntimeError(f"{child.name}: exit {child.proc.returncode}, marker "
                           f"{'found' if marker.exists() else 'missing'}; log "
                           f"{child.log_path}:\n{child.tail()}")
    return dict(json.loads(marker.read_text()))


async def run_quix_window(bootstrap: str, topic: str, ends: dict[int, int], work: Path,
                          args: Any, tag: str = "quix_window") -> dict[str, Any]:
    """The Quix Streams window job over the pre-loaded topic, until it has seen N records
    and stopped (its last checkpoint committed); then its outputs are read back."""
    if topic != "interactions":
        raise ValueError("the peer apps read the topic 'interactions'")
    py = ensure_peer_venv()
    n = sum(ends.values())
    fix_topic_configs(bootstrap, [topic])
    group = f"peer-{tag}"
    marker = work / f"{tag}.done.json"
    alerts_topic = f"peer-alerts-{tag}"
    env = peer_env({"PEER_BOOTSTRAP": bootstrap, "PEER_GROUP": group, "PEER_EXPECT": str(n),
                    "PEER_STATE_DIR": str(work / f"{tag}-state"), "PEER_MARKER": str(marker),
                    "PEER_ALERTS": alerts_topic})
    child = Child(tag, [str(py), str(APPS / "quix_window.py")], env, work / f"{tag}.log",
                  cwd=work)
    try:
        await _wait_exit(child, args.timeout)
    finally:
        child.stop()
    m = _marker(child, marker)
    await wait_committed(bootstrap, group, topic, ends, 60)
    changelog = await read_to_idle(bootstrap, f"changelog__{group}--{topic}--{QUIX_WINDOW_STORE}",
                                   idle=1.0)
    alerts = await read_to_idle(bootstrap, alerts_topic, idle=1.0)
    end = max([m["last"]] + [r.timestamp / 1000.0 for r in changelog + alerts])
    secs = end - m["first"]
    expect = expected_window_alerts(args.n, args.parties, args.skew)
    if len(alerts) != expect:
        raise RuntimeError(f"{tag}: {len(alerts)} windows emitted, {expect} expected")
    return {"eps": n / secs, "seconds": secs, "processed_eps": n / (m["last"] - m["first"]),
            "us_cpu_per_event": 1e6 * m["cpu_s"] / n, "alerts": len(alerts),
            "changelog_records": len(changelog)}


async def run_bytewax(bootstrap: str, topic: str, ends: dict[int, int], work: Path,
                      args: Any, tag: str = "bytewax") -> dict[str, Any]:
    """The Bytewax flow with output and recovery, until it reaches the end of the topic."""
    if topic != "interactions":
        raise ValueError("the peer apps read the topic 'interactions'")
    py = ensure_peer_venv()
    n = sum(ends.values())
    marker = work / f"{tag}.done.json"
    out_topic = f"peer-sums-{tag}"
    recovery = work / f"{tag}-recovery"
    recovery.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(py), "-m", "bytewax.recovery", str(recovery), "1"], check=True,
                   env=peer_env({}), capture_output=True, timeout=60)
    env = peer_env({"PEER_BOOTSTRAP": bootstrap, "PEER_EXPECT": str(n),
                    "PEER_MARKER": str(marker), "PEER_OUT": out_topic})
    cmd = [str(py), "-m", "bytewax.run", "bytewax_sum:flow", "-r", str(recovery),
           "-s", "5", "-b", "0"]
    child = Child(tag, cmd, env, work / f"{tag}.log", cwd=APPS)
    try:
        await _wait_exit(child, args.timeout)
    finally:
        child.stop()
    m = _marker(child, marker)
    recs = await read_to_idle(bootstrap, out_topic, idle=1.0)
    end = max([m["last"]] + [r.timestamp / 1000.0 for r in recs])
    secs = end - m["first"]
    last: dict[str, int] = {r.key.decode(): int(r.value) for r in recs}
    if len(recs) != n or last != expected_sums(args.n, args.parties, args.skew):
        raise RuntimeError(f"{tag}: {len(recs)} sums out for {n} records, or final sums "
                           "differ from the generator's")
    return {"eps": n / secs, "seconds": secs, "processed_eps": n / (m["last"] - m["first"]),
            "us_cpu_per_event": 1e6 * m["cpu_s"] / n, "out_records": len(recs)}
