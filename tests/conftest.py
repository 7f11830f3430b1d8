"""Shared, generic fixtures. Subfolders add their own conftest.py for specific ones.

- ``broker``: one embedded Tansu broker for the whole session (in-memory storage, so
  give every test its own topic and group names, e.g. with ``unique_name``).
- ``redis_url``: ``redis://.../9`` on the local Redis, or on an embedded Valkey when none
  runs; DB 9 is flushed once at session start. ``clean_redis_url`` flushes it per test.
- ``free_port``: a callable returning a free loopback TCP port.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator

import pytest

from streaming.broker import EmbeddedBroker
from streaming.broker import free_port as _free_port
from streaming.embedded_redis import redis_url_for_tests

TEST_REDIS_DB = 9


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    log_dir = tmp_path_factory.mktemp("broker")
    with EmbeddedBroker(log_dir=log_dir, die_with_parent=True) as b:
        yield b


def _flush(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        client.flushdb()
    finally:
        client.close()


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = redis_url_for_tests(TEST_REDIS_DB)
    _flush(url)
    return url


@pytest.fixture
def clean_redis_url(redis_url: str) -> str:
    _flush(redis_url)
    return redis_url


@pytest.fixture
def free_port() -> Callable[[], int]:
    return _free_port


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """``unique_name("in")`` -> ``"in-test_x-1a2b3c4d"``: topic/group names per test."""
    test = re.sub(r"[^A-Za-z0-9._-]+", "-", request.node.name).strip("-")[:40]

    def make(prefix: str) -> str:
        return f"{prefix}-{test}-{uuid.uuid4().hex[:8]}"

    return make
