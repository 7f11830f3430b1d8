"""Shared plumbing of the baseline Faust apps (bench/apps/naive.py, empty.py).

Configured by environment (set by bench/throughput.py):
BENCH_BROKER (kafka://host:port), BENCH_TOPIC, BENCH_APP_ID, BENCH_DATADIR, BENCH_WEB_PORT,
BENCH_EXPECT (events to count), BENCH_MARKER (a JSON file written when the Nth event is done:
{"first": t, "last": t, "count": n, "cpu_s": s}, wall-clock seconds of the first and the
Nth event, CPU seconds between).
Faust settings as NOTES-stack.md: rebalance 3 s, session 10 s, heartbeat 1 s.
"""

from __future__ import annotations

import os
from pathlib import Path

import faust

from bench.peer_apps.peer_progress import Progress


def make_app() -> faust.App:
    return faust.App(
        os.environ["BENCH_APP_ID"],
        env={},
        broker=os.environ["BENCH_BROKER"],
        store="rocksdb://",
        datadir=os.environ["BENCH_DATADIR"],
        topic_partitions=4,
        broker_rebalance_timeout=3,
        broker_session_timeout=10,
        broker_heartbeat_interval=1,
        consumer_auto_offset_reset="earliest",
        web_enabled=True,  # on a free port given by the bench, as leadstream's web server
        web_port=int(os.environ.get("BENCH_WEB_PORT", "0") or 0) or 6066,
        web_host="127.0.0.1",
        web_bind="127.0.0.1",
        web_tables_enabled=False,
        autodiscover=False,
    )


class Marker(Progress):
    """Counts events; stamps the first and the BENCH_EXPECT-th in BENCH_MARKER."""

    def __init__(self) -> None:
        super().__init__(int(os.environ["BENCH_EXPECT"]), Path(os.environ["BENCH_MARKER"]))

    def tick(self) -> None:
        self.seen()
