"""Worker health (CONTRACT §9): is the broker reachable, is the consumer moving?

`/healthz` answers 503 when the worker has not reached the broker for
``HEALTH_BROKER_TIMEOUT`` s (10) or when an input partition with records waiting has not
moved for ``HEALTH_STALL_TIMEOUT`` s (30). Both are measured here without Faust:

- `BrokerProbe`: a daemon thread asks a bootstrap host for ApiVersions every second (a TCP
  connect with TLS/SASL, where the client does the handshake). A thread, so a busy or blocked
  event loop cannot make a dead broker look alive, and a frozen broker (SIGSTOP: the kernel
  still accepts connections) fails the probe by its timeout.
- `StallWatch`: fed every second with each assigned input partition's lag and handled
  offset; a partition with lag that keeps the same offset is stalled since it last moved.
- `health` turns both into the status code and the JSON body.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("leadstream.health")

TopicPartitionKey = tuple[str, int]


def _tcp_ok(host: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass
class BrokerProbe:
    """Remembers when a broker last answered; probes from a thread of its own."""

    hosts: list[tuple[str, int]]
    plain: bool = True
    interval: float = 1.0
    timeout: float = 2.0
    clock: Callable[[], float] = time.monotonic
    last_ok: float = field(init=False)
    _stop: threading.Event = field(init=False, default_factory=threading.Event)
    _thread: threading.Thread | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.last_ok = self.clock()  # the worker reached it at start (it waited for it)

    @classmethod
    def from_bootstrap(cls, bootstrap: str, *, plain: bool = True) -> BrokerProbe:
        hosts = []
        for hp in bootstrap.split(","):
            host, _, port = hp.strip().rpartition(":")
            hosts.append((host, int(port)))
        return cls(hosts, plain=plain)

    def probe_once(self) -> bool:
        from streaming.broker import kafka_api_versions_ok

        for host, port in self.hosts:
            ok = (kafka_api_versions_ok(host, port, timeout=self.timeout) if self.plain
                  else _tcp_ok(host, port, self.timeout))
            if ok:
                self.last_ok = self.clock()
                return True
        return False

    def unreachable_for(self) -> float:
        """Seconds since a broker last answered (0.0 right after an answer)."""
        return max(0.0, self.clock() - self.last_ok)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="leadstream-broker-probe",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        down = False
        while not self._stop.is_set():
            t0 = self.clock()
            ok = self.probe_once()
            if ok and down:
                log.warning("broker answers again")
            elif not ok and not down:
                log.warning("broker does not answer (probe of %d bootstrap host(s))",
                            len(self.hosts))
            down = not ok
            self._stop.wait(max(0.0, self.interval - (self.clock() - t0)))


@dataclass
class StallWatch:
    """Input partitions that have records waiting but do not move."""

    clock: Callable[[], float] = time.monotonic
    _seen: dict[TopicPartitionKey, tuple[int | None, float]] = field(default_factory=dict)

    def reset(self) -> None:
        """A rebalance or recovery: nothing can be stalled across it."""
        self._seen.clear()

    def observe(self, lags: Mapping[TopicPartitionKey, int],
                positions: Mapping[TopicPartitionKey, int]) -> None:
        now = self.clock()
        seen: dict[TopicPartitionKey, tuple[int | None, float]] = {}
        for tp, lag in lags.items():
            if lag <= 0:
                continue
            pos = positions.get(tp)
            before = self._seen.get(tp)
            seen[tp] = before if before is not None and before[0] == pos else (pos, now)
        self._seen = seen

    def stalled_for(self) -> float:
        """Seconds the longest-stuck partition with records waiting has not moved."""
        if not self._seen:
            return 0.0
        now = self.clock()
        return max(now - since for _, since in self._seen.values())

    def stalled_partitions(self, min_seconds: float) -> list[str]:
        now = self.clock()
        return sorted(f"{t}[{p}]" for (t, p), (_, since) in self._seen.items()
                      if now - since >= min_seconds)


def health(*, ready: bool, rebalancing: bool, broker_down_s: float, stalled_s: float,
           broker_timeout: float, stall_timeout: float,
           stalled: list[str] | None = None) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) of `/healthz`."""
    if broker_down_s >= broker_timeout:
        return 503, {"status": "broker_unreachable",
                     "broker_unreachable_seconds": round(broker_down_s, 1)}
    if not ready:
        return 503, {"status": "starting"}
    if stalled_s >= stall_timeout:
        return 503, {"status": "stalled", "stalled_seconds": round(stalled_s, 1),
                     "partitions": stalled or []}
    return 200, {"status": "rebalancing" if rebalancing else "ok"}


# ---------------------------------------------------------------- embedded broker size
def process_rss_bytes(pid: int) -> int | None:
    """Resident memory of a process (Linux /proc), None when it cannot be read."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


@dataclass
class SizeWarning:
    """Warns (once per doubling) when the embedded broker holds more than `limit` bytes.

    The embedded broker keeps its topics in memory, so its resident size is what it holds."""

    limit: int
    _next: int = field(init=False)

    def __post_init__(self) -> None:
        self._next = self.limit

    def check(self, size: int) -> bool:
        """True when `size` crossed the next warning level (and logs the warning)."""
        if self.limit <= 0 or size < self._next:
            return False
        log.warning("the embedded broker holds %d MiB (over EMBEDDED_BROKER_WARN_MB=%d): it "
                    "keeps every topic in memory and is for development; set BROKER_URL to a "
                    "Kafka cluster for real volumes", size >> 20, self.limit >> 20)
        while self._next <= size:
            self._next *= 2
        return True
