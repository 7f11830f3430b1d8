"""What the embedded Tansu and the test Kafka share: a broker child process in its own process
group, started on a free loopback port (retried when the port was taken meanwhile), waited
for until it answers, stopped by signals to the group, and frozen or thawed for the outage
tests."""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

_PR_SET_PDEATHSIG = 1


class BrokerStartError(RuntimeError):
    """The broker process exited or did not answer Kafka requests in time."""


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free on ``host`` a moment ago (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def set_pdeathsig() -> None:
    """`preexec_fn` (runs in the child between fork and exec): the kernel SIGTERMs the child
    when the thread that started it exits (Linux; elsewhere nothing)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class BrokerProcess:
    """Mixin: the subclass calls `_init_process` and implements `_spawn(port)` (with
    `_popen` and `_wait_ready`), `start` (with `_start_on_free_port`) and `stop` (with
    `_terminate`). ``die_with_parent`` (Linux): the kernel SIGTERMs the broker when the thread
    that started it exits; only for starts from the main thread (pytest fixtures)."""

    #: which broker this is: "tansu" or "kafka"
    kind: str
    host: str
    port: int | None
    log_path: Path | None
    startup_timeout: float
    startup_seconds: float | None
    die_with_parent: bool
    _wanted_port: int | None
    _log_dir: Path | None
    _proc: subprocess.Popen[bytes] | None
    _log_file: IO[bytes] | None
    _paused: bool

    def _init_process(self, port: int | None, host: str,
                      log_dir: str | os.PathLike[str] | None, startup_timeout: float,
                      die_with_parent: bool) -> None:
        self.host = host
        self._wanted_port = port
        self._log_dir = Path(log_dir) if log_dir is not None else None
        self.startup_timeout = startup_timeout
        self.die_with_parent = die_with_parent
        self.port = None
        self.log_path = None
        self.startup_seconds = None
        self._proc = None
        self._log_file = None
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
        """``kafka://host:port`` for Faust's ``broker`` setting (BROKER_URL)."""
        return f"kafka://{self.bootstrap}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    # ------------------------------------------------------------------ start
    def start(self) -> Self:
        raise NotImplementedError

    def stop(self, timeout: float = 5.0) -> None:
        raise NotImplementedError

    def _spawn(self, port: int) -> None:
        """Start the process on `port` and return once it serves (else BrokerStartError)."""
        raise NotImplementedError

    def _start_on_free_port(self, log_name: str, tmp_prefix: str, kill_wait: float) -> None:
        """`_spawn` on the wanted port, or on a free one: a port from free_port() can be taken
        before the broker binds it, so that is tried three times."""
        if self._proc is not None:
            raise RuntimeError("broker already started")
        log_dir = self._log_dir or Path(tempfile.mkdtemp(prefix=tmp_prefix))
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / log_name
        attempts = 1 if self._wanted_port is not None else 3
        last: BrokerStartError | None = None
        for _ in range(attempts):
            try:
                self._spawn(self._wanted_port or free_port(self.host))
                atexit.register(self.stop)
                return
            except BrokerStartError as exc:
                last = exc
                self.kill_group(signal.SIGKILL)
                self._reap(timeout=kill_wait)
        assert last is not None
        raise last

    def _popen(self, cmd: Sequence[str], header: str,
               env: Mapping[str, str] | None = None) -> None:
        """Start `cmd` in its own process group (stop() signals the whole group), its output
        appended to the log after a ``--- header`` line."""
        assert self.log_path is not None
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in _reap
        self._log_file.write(f"\n--- {header}: {' '.join(cmd)}\n".encode())
        self._log_file.flush()
        self._proc = subprocess.Popen(
            list(cmd), stdin=subprocess.DEVNULL, stdout=self._log_file,
            stderr=subprocess.STDOUT, env=env, start_new_session=True,
            preexec_fn=set_pdeathsig if self.die_with_parent else None,
        )

    def _wait_ready(self, port: int, since: float, ready: Callable[[], bool],
                    every: float) -> None:
        """Poll `ready` every `every` s until it holds (then `startup_seconds` counts from
        `since`); BrokerStartError when the process exits or `startup_timeout` runs out."""
        assert self._proc is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise BrokerStartError(
                    f"{self.kind} exited with {self._proc.returncode} during startup; "
                    f"log {self.log_path}:\n{self.log_text()[-4000:]}")
            if ready():
                self.startup_seconds = time.monotonic() - since
                return
            time.sleep(every)
        raise BrokerStartError(
            f"{self.kind} did not answer on {self.host}:{port} within "
            f"{self.startup_timeout}s; log {self.log_path}:\n{self.log_text()[-4000:]}")

    # ------------------------------------------------------------------ stop, pause
    def _terminate(self, timeout: float, kill_wait: float) -> None:
        """SIGTERM the group, SIGKILL after `timeout`; a frozen broker is thawed first so it
        can act on the SIGTERM. Idempotent."""
        if self._proc is None:
            return
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        if self._paused:
            self.resume()
        self.kill_group(signal.SIGTERM)
        if not self._reap(timeout=timeout):
            self.kill_group(signal.SIGKILL)
            self._reap(timeout=kill_wait)

    def kill_group(self, sig: signal.Signals) -> None:
        """Send `sig` to the broker's process group (SIGKILL: the worker's stop watchdog has
        no time for a grace period). No-op when not started or already gone."""
        if self._proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, sig)

    def _reap(self, timeout: float) -> bool:
        """Wait for the process; on success forget it and close the log. False on timeout."""
        if self._proc is None:
            return True
        try:
            self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        self._proc = None
        self._paused = False
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        return True

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def pause(self) -> None:
        """Freeze the broker (SIGSTOP): connections stay open, nothing answers."""
        if self._proc is None:
            raise RuntimeError("broker not started")
        self.kill_group(signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        """Undo :meth:`pause` (SIGCONT)."""
        if self._proc is None:
            raise RuntimeError("broker not started")
        self.kill_group(signal.SIGCONT)
        self._paused = False

    @property
    def paused(self) -> bool:
        return self._paused

    # ------------------------------------------------------------------ misc
    def log_text(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.is_running() else "stopped"
        return f"<{type(self).__name__} {self.host}:{self.port} pid={self.pid} {state}>"
