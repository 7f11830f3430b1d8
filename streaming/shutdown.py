"""A bounded stop (CONTRACT §9): SIGTERM stops a worker within 30 s even when the broker is
gone or frozen.

Faust's orderly stop commits offsets, flushes the producer and leaves the group; with the
broker gone each of those waits for it (61 s seen with a dead broker, forever with a frozen
one). On the first SIGTERM/SIGINT a watchdog thread starts; when the orderly stop has not
ended the process after ``STOP_TIMEOUT`` s (25), it runs the registered last-minute
callbacks (stop the embedded broker), records why in ``$DATA_DIR/last-exit`` and ends the
process. Nothing is lost: what was not committed is delivered again, and the
``worker.running`` marker left behind makes the next start rebuild its local tables from the
changelogs (job/worker.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("leadstream.shutdown")

#: exit status of a worker whose orderly stop outlasted STOP_TIMEOUT (128 + SIGTERM)
EXIT_STOP_TIMEOUT = 143

_state: dict[str, Any] = {"timeout": 25.0, "last_exit": None, "armed": False}
_callbacks: list[Callable[[], None]] = []


def configure(timeout: float, last_exit_file: Path | None) -> None:
    _state["timeout"] = timeout
    _state["last_exit"] = last_exit_file


def on_hard_exit(fn: Callable[[], None]) -> None:
    """Run `fn` before the watchdog ends the process (best effort, errors ignored)."""
    _callbacks.append(fn)


def record_exit(kind: str) -> None:
    """Write why this worker ends (``fail_stop``, ``stop_timeout``) for the next start."""
    path = _state["last_exit"]
    if path is not None:
        with contextlib.suppress(OSError):
            Path(path).write_text(kind + "\n")


def _hard_exit() -> None:
    log.error("the worker did not stop within STOP_TIMEOUT=%.0fs (broker gone or frozen?): "
              "exiting now; records not committed are delivered again", _state["timeout"])
    for fn in _callbacks:
        with contextlib.suppress(Exception):
            fn()
    record_exit("stop_timeout")
    with contextlib.suppress(Exception):
        logging.shutdown()
    os._exit(EXIT_STOP_TIMEOUT)


def arm() -> None:
    """Start the watchdog (once): the process ends at the latest `timeout` s from now."""
    if _state["armed"]:
        return
    _state["armed"] = True
    t = threading.Timer(float(_state["timeout"]), _hard_exit)
    t.name = "leadstream-stop-watchdog"
    t.daemon = True
    t.start()


def install() -> None:
    """Arm the watchdog when mode's worker schedules its stop on a signal."""
    from tables.engine_internals import on_stop_signal

    on_stop_signal(arm)
