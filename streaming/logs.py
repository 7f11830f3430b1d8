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

__all__ = ["JsonFormatter", "faust_logging_config", "setup_early_logging"]


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
