"""Shared, generic fixtures. Subfolders add their own conftest.py for specific ones.

- ``broker``: one embedded Tansu broker for the whole session (in-memory storage, so
  give every test its own topic and group names, e.g. with ``unique_name``).
- ``kafka_broker``: one real Apache Kafka (KRaft, single node, jars from ``make kafka``) for
  the whole session, started on first use.
- ``any_broker``: parametrised over both (ids ``tansu`` and ``kafka``): a test taking it runs
  on each. The Kafka case carries the ``kafka`` mark; the slowest ones add ``kafka_slow``
  themselves (``make test`` deselects those, ``.ci/run`` runs them in a second pass).
- ``redis_url``: ``redis://.../9`` on the local Redis, or on an embedded Valkey when none
  runs; DB 9 is flushed once at session start. ``clean_redis_url`` flushes it per test.
  Under pytest-xdist (``make test`` runs two processes) each process takes its own DB,
  9 + its worker number, so one process's flush never wipes another's keys.
- ``free_port``: a callable returning a free loopback TCP port.
- every test: the Faust adapter's options (`tables.engine_internals.OPTIONS`) restored after
  it, since building an app in-process applies the worker's.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator

import pytest

from streaming.broker import EmbeddedBroker
from streaming.broker import free_port as _free_port
from streaming.embedded_redis import redis_url_for_tests
from streaming.kafka_broker import KafkaBroker
from tests.brokers import BROKERS

#: gw0 -> 9, gw1 -> 10, ... (a local Redis is shared by the xdist processes; DBs 0-15)
TEST_REDIS_DB = 9 + int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)

AnyBroker = EmbeddedBroker | KafkaBroker


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    log_dir = tmp_path_factory.mktemp("broker")
    with EmbeddedBroker(log_dir=log_dir, die_with_parent=True) as b:
        yield b


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    base = tmp_path_factory.mktemp("kafka")
    with KafkaBroker(log_dir=base, data_dir=base / "data", die_with_parent=True) as b:
        yield b


@pytest.fixture(scope="session", params=BROKERS)
def any_broker(request: pytest.FixtureRequest) -> AnyBroker:
    """The session's Tansu or its Kafka, per the test's parameter."""
    b: AnyBroker = request.getfixturevalue("broker" if request.param == "tansu"
                                           else "kafka_broker")
    return b


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


@pytest.fixture(autouse=True)
def _adapter_options_restored() -> Iterator[None]:
    """A test that builds an app in-process applies the worker's options to the Faust adapter
    (module-level `OPTIONS`, e.g. the drain fast path); the next test starts without them."""
    from tables import engine_internals

    before = engine_internals.OPTIONS
    yield
    engine_internals.OPTIONS = before
