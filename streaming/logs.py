"""Log format of the worker: ``LOG_FORMAT=json`` gives one JSON object per line.

Fields: ``ts`` (UTC, ISO-8601), ``level``, ``logger``, ``message``, and ``exc_type`` /
``traceback`` for an exception. Our own log lines name topics, partitions, offsets, fields and
reason codes, never record values (CONTRACT §9); exception messages, which may quote a value,
are left out of tracebacks logged by the agents (agents/runtime.py).

Faust (mode) sets up logging itself when its worker starts, from ``faust.App(logging_config=)``:
`faust_logging_config` gives it this formatter.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

__all__ = ["JsonFormatter", "RepeatFilter", "faust_logging_config", "install_repeat_filter",
           "setup_early_logging"]

#: libraries whose connection errors repeat many times a second while the broker is gone
NOISY = ("aiokafka", "kafka", "faust", "mode")


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and record.exc_info[0] is not None:
            doc["exc_type"] = record.exc_info[0].__name__
            doc["traceback"] = self.formatException(record.exc_info)
        elif record.exc_text:
            doc["traceback"] = record.exc_text
        if record.stack_info:
            doc["stack"] = record.stack_info
        return orjson.dumps(doc, default=str).decode()


def faust_logging_config(log_format: str, level: str) -> dict[str, Any] | None:
    """``logging_config`` for faust.App: None keeps mode's own (text) setup."""
    if log_format != "json":
        return None
    return {
        "merge": True,  # mode merges this into its own config
        "formatters": {"json": {"()": "streaming.logs.JsonFormatter"}},
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "json",
                                 "level": level, "stream": "ext://sys.stderr"}},
    }


def setup_early_logging(log_format: str, level: str) -> None:
    """Logging before Faust takes over (settings, rules, embedded broker start)."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("[%(asctime)s] [%(levelname)s] %(name)s: "
                                               "%(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.captureWarnings(log_format == "json")  # Python warnings as log records too


class RepeatFilter(logging.Filter):
    """Lets one record per (logger, level, message template) through every `window` seconds
    from the client libraries (`NOISY`); the next one says how many were held back. With the
    broker gone aiokafka logs thousands of identical ERROR lines a minute."""

    def __init__(self, window: float = 30.0, clock: Any = None) -> None:
        super().__init__()
        import time

        self.window = window
        self.clock = clock or time.monotonic
        self._last: dict[tuple[str, int, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(NOISY) or record.levelno < logging.WARNING:
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = self.clock()
        seen = self._last.get(key)
        if seen is not None and now - seen[0] < self.window:
            self._last[key] = (seen[0], seen[1] + 1)
            return False
        held = seen[1] if seen is not None else 0
        self._last[key] = (now, 0)
        if len(self._last) > 1000:  # templates are few; keep it bounded anyway
            self._last = {key: self._last[key]}
        if held:
            record.msg = f"{record.msg} [{held} more like this in the last {self.window:.0f}s]"
        return True


def install_repeat_filter(window: float = 30.0) -> None:
    """Put one `RepeatFilter` on every handler of the root logger (after Faust set them up)."""
    f = RepeatFilter(window)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(x, RepeatFilter) for x in handler.filters):
            handler.addFilter(f)
