"""`rules push` / `rules show` storage in a real Redis."""

from __future__ import annotations

import subprocess
import sys
import time

import orjson
import pytest
import redis

from ops.rules_store import (
    CHANNEL,
    KEY,
    RulesStoreError,
    fetch_rules,
    fetch_stored,
    push_rules,
    redacted,
    show_rules,
)
from tests.ops.conftest import BASE_TEXT, ROOT, variant, version_of


def test_push_then_fetch_and_show(clean_redis_url: str) -> None:
    assert fetch_rules(clean_redis_url) is None
    assert show_rules(clean_redis_url).startswith("no rules in redis")

    text = variant(25)
    push_rules(clean_redis_url, text, version_of(text))
    assert fetch_rules(clean_redis_url) == (text, version_of(text))
    shown = show_rules(clean_redis_url)
    assert shown.startswith(f"{version_of(text)} from redis (pushed at 20")

    doc = orjson.loads(redis.Redis.from_url(clean_redis_url).get(KEY))
    assert set(doc) == {"yaml", "version", "pushed_at", "pushed_by"}


def test_push_publishes_the_version(clean_redis_url: str) -> None:
    client = redis.Redis.from_url(clean_redis_url)
    ps = client.pubsub(ignore_subscribe_messages=True)
    ps.subscribe(CHANNEL)
    try:
        # the channel is server-wide: other subscribers may exist on a shared Redis
        assert push_rules(clean_redis_url, BASE_TEXT, "v-test") >= 1
        deadline, msg = time.monotonic() + 5, None
        while msg is None and time.monotonic() < deadline:
            msg = ps.get_message(timeout=0.2)
        assert msg is not None and msg["data"] == b"v-test"
    finally:
        ps.close()
        client.close()


def test_unreadable_document_is_a_clear_error(clean_redis_url: str) -> None:
    redis.Redis.from_url(clean_redis_url).set(KEY, b"not json")
    with pytest.raises(RulesStoreError, match="does not hold a JSON document"):
        fetch_stored(clean_redis_url)


def test_unreachable_redis_is_a_clear_error(free_port) -> None:  # type: ignore[no-untyped-def]
    url = f"redis://:s3cret@127.0.0.1:{free_port()}/0"
    with pytest.raises(RulesStoreError) as exc:
        push_rules(url, BASE_TEXT, "v")
    assert "s3cret" not in str(exc.value) and "127.0.0.1" in str(exc.value)
    with pytest.raises(RulesStoreError):
        show_rules(url)


def test_redacted() -> None:
    assert redacted("rediss://user:pw@h:6380/1") == "rediss://user:***@h:6380/1"
    assert redacted("redis://:pw@h/0") == "redis://:***@h/0"
    assert redacted("redis://h:6379/0") == "redis://h:6379/0"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "app.py", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def test_cli_push_and_show(clean_redis_url: str) -> None:
    push = _cli("rules", "push", "config/rules.yaml", "--redis-url", clean_redis_url)
    assert push.returncode == 0, push.stderr
    assert f"pushed {version_of(BASE_TEXT)}" in push.stdout
    show = _cli("rules", "show", "--redis-url", clean_redis_url)
    assert show.returncode == 0, show.stderr
    assert show.stdout.startswith(f"{version_of(BASE_TEXT)} from redis (pushed at ")


def test_cli_without_redis_fails_without_traceback(free_port) -> None:  # type: ignore[no-untyped-def]
    url = f"redis://:s3cret@127.0.0.1:{free_port()}/0"
    for args in (("rules", "push", "config/rules.yaml"), ("rules", "show")):
        res = _cli(*args, "--redis-url", url)
        assert res.returncode == 1
        assert "Traceback" not in res.stderr and "s3cret" not in res.stderr
        assert res.stderr.startswith("cannot "), res.stderr
