"""Load a rules config off the worker's event loop, with a time and a memory limit.

A worker must never stop processing or answering `/healthz` because of a config (CONTRACT
§4 "Bounded", §9; issue 17 findings 1-2). So a config that arrives while a worker runs
(Redis push, file edit) or from Redis at start-up is first validated in a child process
(`python -m ops.rules_check`) under `RLIMIT_AS` and a wall-clock deadline; only a config
the child accepted is then loaded in the worker, in a thread, and swapped in on the loop.
Whatever the child does (refuses, runs out of memory, takes too long, dies), the worker
gets a `Checked` answer and keeps the rules it has.

The bounds of `rules.bounds` already refuse alias bombs, huge texts and huge rule counts in
milliseconds; the child's limits are the second line, for anything those bounds miss.
"""

from __future__ import annotations

import contextlib
import gc
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from rules.bounds import check_text_size
from rules.compiled import Rules
from rules.loader import RulesError, load_rules_text

ROOT = Path(__file__).resolve().parents[1]

#: wall-clock limit of one validation, seconds (`LEADSTREAM_RULES_CHECK_TIMEOUT`)
TIMEOUT = float(os.environ.get("LEADSTREAM_RULES_CHECK_TIMEOUT", "60"))
#: address-space limit of the validating child, MiB (`LEADSTREAM_RULES_CHECK_MEMORY_MB`)
MEMORY_MB = int(os.environ.get("LEADSTREAM_RULES_CHECK_MEMORY_MB", "1024"))

__all__ = ["Checked", "check_in_child", "load_checked"]


@dataclass(slots=True)
class Checked:
    """What validating one config gave: `ok` (with its version), `refused` (the config is
    at fault: errors, bounds, time or memory limit) or `error` (the check could not run)."""

    result: str
    version: str = ""
    errors: list[str] = field(default_factory=list)


def _refused(message: str) -> Checked:
    return Checked("refused", errors=[f"(root): {message}"])


def check_in_child(text: str | bytes, source: str, *, timeout: float | None = None,
                   memory_mb: int | None = None,
                   cancel: threading.Event | None = None) -> Checked:
    """Validate `text` in a child process within the limits (blocking: call it from a
    thread when on an event loop). Setting `cancel` kills the child at once (worker stop)."""
    timeout = TIMEOUT if timeout is None else timeout
    memory_mb = MEMORY_MB if memory_mb is None else memory_mb
    try:
        check_text_size(text)  # a huge text is refused here, without a child
    except ValueError as exc:
        return _refused(str(exc))
    data = text.encode("utf-8", errors="surrogatepass") if isinstance(text, str) else text
    cmd = [sys.executable, "-m", "ops.rules_check", source, str(memory_mb)]
    # The text goes in through a temporary file, not a pipe: `communicate` cannot resume
    # writing a pipe after a timeout, and a timeout is how this waits (to see `cancel`).
    with tempfile.TemporaryFile() as stdin:
        stdin.write(data)
        stdin.seek(0)
        try:
            proc = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, cwd=ROOT)
        except OSError as exc:
            return Checked("error", errors=[f"(root): cannot start the rules check: {exc}"])
    deadline = time.monotonic() + timeout
    while True:
        try:
            stdout, stderr = proc.communicate(timeout=0.2)
            break
        except subprocess.TimeoutExpired:
            cancelled = cancel is not None and cancel.is_set()
            if cancelled or time.monotonic() > deadline:
                proc.kill()
                proc.communicate()
                if cancelled:
                    return Checked("error", errors=["(root): the rules check was cancelled"])
                return _refused(f"validating the config took longer than {timeout:g} s")
    if proc.returncode == 0:
        try:
            answer = orjson.loads(stdout)
            return Checked(answer["result"], answer.get("version", ""), answer.get("errors", []))
        except (orjson.JSONDecodeError, KeyError, TypeError):
            pass
    if proc.returncode == 3:
        return _refused(f"validating the config needed more than {memory_mb} MiB")
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        return _refused(f"validating the config failed ({name}); it may be too large")
    tail = stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
    return Checked("error", errors=[f"(root): the rules check failed: {tail[0]}"])


def load_checked(text: str | bytes, source: str, *, timeout: float | None = None,
                 memory_mb: int | None = None,
                 cancel: threading.Event | None = None) -> tuple[Checked, Rules | None]:
    """Check in a child, then load in this process only what the child accepted."""
    checked = check_in_child(text, source, timeout=timeout, memory_mb=memory_mb,
                             cancel=cancel)
    if checked.result != "ok" or (cancel is not None and cancel.is_set()):
        return checked, None
    try:
        with _no_gc():
            rules = load_rules_text(text, source=source)
    except RulesError as exc:  # cannot happen for a text the child accepted; never trust it
        return Checked("refused", errors=list(exc.errors)), None
    return Checked("ok", rules.version), rules


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """No cyclic GC while a config is built: a load makes ~20 objects per rule set, which
    would start full collections that hold the GIL, and with it the worker's event loop,
    for 0.4-1.3 s at a time on a 10,000-rule config (measured; 0.05 s without them). The
    load makes no cycles; nothing is lost by collecting later."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _child(source: str, memory_mb: int) -> int:
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    gc.disable()  # a short-lived process; the load makes no cycles
    try:
        rules = load_rules_text(sys.stdin.buffer.read(), source=source)
    except RulesError as exc:
        answer = {"result": "refused", "errors": exc.errors}
    except MemoryError:
        return 3
    else:
        answer = {"result": "ok", "version": rules.version}
    sys.stdout.buffer.write(orjson.dumps(answer))
    return 0


if __name__ == "__main__":
    raise SystemExit(_child(sys.argv[1], int(sys.argv[2])))
