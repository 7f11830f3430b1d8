"""What the embedded Tansu and the test Kafka share: a broker child process in its own process
group, stopped by signals to the group, and frozen or thawed for the outage tests."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
from typing import IO


class BrokerProcess:
    """Mixin: the subclass starts `_proc` (with `start_new_session=True`) and `_log_file`."""

    _proc: subprocess.Popen[bytes] | None
    _log_file: IO[bytes] | None
    _paused: bool

    def _terminate(self, timeout: float, kill_wait: float) -> None:
        """SIGTERM the group, SIGKILL after `timeout`; a frozen broker is thawed first so it
        can act on the SIGTERM. Idempotent."""
        if self._proc is None:
            return
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)  # type: ignore[attr-defined]
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
