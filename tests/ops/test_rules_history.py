"""`rules push` history, `rules history`, `rules rollback` and `GET /rules/history` against a
real Redis (CONTRACT §13)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
import redis

from ops.rules_store import (
    CHANNEL,
    HISTORY_KEY,
    HISTORY_MAX,
    KEY,
    RulesStoreError,
    encode_doc,
    fetch_history,
    fetch_stored,
    push_config,
    rollback_rules,
)
from tests.ops.conftest import BASE_TEXT, ROOT, variant, version_of

TOKEN = "t0ken"


def _cli(*args: str, user: str = "alice") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LEADSTREAM_USER": user}
    env.pop("REDIS_URL", None)
    return subprocess.run([sys.executable, "app.py", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env=env)


def test_push_keeps_history_newest_first(clean_redis_url: str) -> None:
    v = [variant(21), variant(22), variant(23)]
    for i, text in enumerate(v):
        res = push_config(clean_redis_url, text, version_of(text), pushed_by=f"u{i}")
        assert res.pushed and res.previous == (version_of(v[i - 1]) if i else None)
    hist = fetch_history(clean_redis_url)
    assert [e.version for e in hist] == [version_of(t) for t in reversed(v)]
    assert [e.pushed_by for e in hist] == ["u2", "u1", "u0"]
    assert [e.yaml for e in hist] == list(reversed(v))
    assert all(e.pushed_at and e.pushed_at.startswith("20") for e in hist)
    stored = fetch_stored(clean_redis_url)
    assert stored is not None and stored.version == version_of(v[2])
    assert stored.pushed_by == "u2"


def test_pushing_the_version_in_force_changes_nothing(clean_redis_url: str) -> None:
    text = variant(24)
    push_config(clean_redis_url, text, version_of(text))
    client = redis.Redis.from_url(clean_redis_url)
    before = (client.get(KEY), client.lrange(HISTORY_KEY, 0, -1))
    ps = client.pubsub(ignore_subscribe_messages=True)
    ps.subscribe(CHANNEL)
    try:
        res = push_config(clean_redis_url, text, version_of(text))
        assert not res.pushed and res.version == res.previous == version_of(text)
        assert ps.get_message(timeout=0.5) is None, "nothing may be announced"
    finally:
        ps.close()
    assert (client.get(KEY), client.lrange(HISTORY_KEY, 0, -1)) == before
    client.close()


def test_history_keeps_the_last_fifty(clean_redis_url: str) -> None:
    texts = [variant(100 + i) for i in range(HISTORY_MAX + 5)]
    for t in texts:
        push_config(clean_redis_url, t, version_of(t))
    hist = fetch_history(clean_redis_url)
    assert len(hist) == HISTORY_MAX
    assert hist[0].version == version_of(texts[-1])
    assert hist[-1].version == version_of(texts[5])
    assert redis.Redis.from_url(clean_redis_url).llen(HISTORY_KEY) == HISTORY_MAX


def test_first_push_keeps_a_config_pushed_before_history(clean_redis_url: str) -> None:
    old = variant(26)
    redis.Redis.from_url(clean_redis_url).set(
        KEY, orjson.dumps({"yaml": old, "version": version_of(old), "pushed_at": "2026-11-01"}))
    assert [(e.version, e.pushed_at) for e in fetch_history(clean_redis_url)] == [
        (version_of(old), "2026-11-01")]  # listed before any new push
    new = variant(27)
    push_config(clean_redis_url, new, version_of(new))
    assert [e.version for e in fetch_history(clean_redis_url)] == [
        version_of(new), version_of(old)]
    res = rollback_rules(clean_redis_url, version_of(old))
    assert res.pushed and fetch_stored(clean_redis_url).version == version_of(old)  # type: ignore[union-attr]


def test_rollback_pushes_the_old_text_and_announces_it(clean_redis_url: str) -> None:
    a, b = variant(28), variant(29)
    push_config(clean_redis_url, a, version_of(a), pushed_by="ann")
    push_config(clean_redis_url, b, version_of(b), pushed_by="bob")
    client = redis.Redis.from_url(clean_redis_url)
    ps = client.pubsub(ignore_subscribe_messages=True)
    ps.subscribe(CHANNEL)
    try:
        res = rollback_rules(clean_redis_url, version_of(a).upper(), pushed_by="cy")
        msg = None
        deadline = time.monotonic() + 5
        while msg is None and time.monotonic() < deadline:
            msg = ps.get_message(timeout=0.2)
    finally:
        ps.close()
        client.close()
    assert res.pushed and res.previous == version_of(b) and res.receivers >= 1
    assert msg is not None and msg["data"] == version_of(a).encode()
    stored = fetch_stored(clean_redis_url)
    assert stored is not None and stored.yaml == a and stored.pushed_by == "cy"
    assert [e.version for e in fetch_history(clean_redis_url)] == [
        version_of(a), version_of(b), version_of(a)]
    # rolling back to what is in force: says so, changes nothing
    assert not rollback_rules(clean_redis_url, version_of(a)).pushed
    assert len(fetch_history(clean_redis_url)) == 3


def test_rollback_to_an_unknown_version_is_a_clear_error(clean_redis_url: str) -> None:
    push_config(clean_redis_url, BASE_TEXT, version_of(BASE_TEXT))
    with pytest.raises(RulesStoreError, match="version 0123456789ab is not in the history"
                       ) as exc:
        rollback_rules(clean_redis_url, "0123456789ab")
    assert version_of(BASE_TEXT) in str(exc.value)  # names what is kept


def test_concurrent_pushes_lose_no_history_entry(clean_redis_url: str) -> None:
    texts = [variant(200 + i) for i in range(12)]
    errors: list[BaseException] = []

    def push(t: str) -> None:
        try:
            push_config(clean_redis_url, t, version_of(t))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=push, args=(t,)) for t in texts]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    hist = fetch_history(clean_redis_url)
    assert sorted(e.version for e in hist) == sorted(version_of(t) for t in texts)
    assert fetch_stored(clean_redis_url).version == hist[0].version  # type: ignore[union-attr]


def test_cli_push_history_rollback(clean_redis_url: str) -> None:
    a = ROOT / "config" / "rules.yaml"
    b = ROOT / "config" / "examples" / "vision-enterprises.yaml"
    va, vb = version_of(a.read_text()), version_of(b.read_text())
    url = ("--redis-url", clean_redis_url)
    assert _cli("rules", "push", str(a), *url, user="ann").returncode == 0
    pushed = _cli("rules", "push", str(b), *url, user="bob")
    assert pushed.returncode == 0 and f"pushed {vb}" in pushed.stdout
    again = _cli("rules", "push", str(b), *url)
    assert again.returncode == 0 and f"{vb} is already in force" in again.stdout

    hist = _cli("rules", "history", *url)
    assert hist.returncode == 0, hist.stderr
    lines = hist.stdout.splitlines()
    assert lines[0].split() == ["VERSION", "PUSHED", "AT", "PUSHED", "BY"]
    assert lines[1].split()[0] == vb and "bob" in lines[1] and lines[1].endswith("in force")
    assert lines[2].split()[0] == va and "ann" in lines[2] and "in force" not in lines[2]
    assert len(lines) == 3

    back = _cli("rules", "rollback", va, *url, user="cy")
    assert back.returncode == 0 and f"rolled back to {va} (was {vb})" in back.stdout
    rows = [orjson.loads(x) for x in _cli("rules", "history", "--json", *url).stdout.splitlines()]
    assert [(r["version"], r["pushed_by"], r["in_force"]) for r in rows] == [
        (va, "cy", True), (vb, "bob", False), (va, "ann", True)]
    assert rows[0]["yaml"] == a.read_text()

    unknown = _cli("rules", "rollback", "feedfacecafe", *url)
    assert unknown.returncode == 1 and "feedfacecafe is not in the history" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_cli_rollback_refuses_a_version_that_no_longer_validates(clean_redis_url: str) -> None:
    stale = BASE_TEXT.replace("precedence: 1", "precedence: lots")
    client = redis.Redis.from_url(clean_redis_url)
    client.lpush(HISTORY_KEY, encode_doc(stale, "5ta1e0000000", pushed_by="old"))
    client.close()
    push_config(clean_redis_url, BASE_TEXT, version_of(BASE_TEXT))
    res = _cli("rules", "rollback", "5ta1e0000000", "--redis-url", clean_redis_url)
    assert res.returncode == 1 and "no longer validates" in res.stderr
    assert "precedence" in res.stderr
    assert fetch_stored(clean_redis_url).version == version_of(BASE_TEXT)  # type: ignore[union-attr]


def test_cli_history_needs_redis() -> None:
    res = _cli("rules", "history")
    assert res.returncode == 2 and "REDIS_URL is not set" in res.stderr


async def _history_view(redis_url: str | None, port: int, token: str | None
                        ) -> list[tuple[int, dict[str, Any]]]:
    import faust
    from aiohttp.test_utils import TestClient, TestServer

    from ops import web
    from rules.holder import RulesHolder
    from rules.loader import load_rules_text

    app = faust.App(f"ops-web-history-{port}", broker="kafka://127.0.0.1:1", store="memory://",
                    web_port=port, loop=asyncio.get_running_loop())
    holder = RulesHolder(load_rules_text(BASE_TEXT, source="redis"))
    settings = SimpleNamespace(admin_token=token, redis_url=redis_url,
                               rules_path="config/rules.yaml")
    web.register_views(app, holder, None, settings)
    app.finalize()
    app.web.init_server()
    out = []
    async with TestClient(TestServer(app.web.web_app)) as client:
        bearer = f"Bearer {TOKEN}"
        for auth, query in ((None, ""), (bearer, ""), (bearer, "?yaml=false")):
            r = await client.get("/rules/history" + query,
                                 headers={"Authorization": auth} if auth else {})
            out.append((r.status, await r.json()))
    return out


async def test_history_endpoint(clean_redis_url: str, free_port: Any) -> None:
    a, b = variant(31), BASE_TEXT
    await asyncio.to_thread(push_config, clean_redis_url, a, version_of(a), pushed_by="ann")
    await asyncio.to_thread(push_config, clean_redis_url, b, version_of(b), pushed_by="bob")
    (no_auth, no_doc), (status, doc), (_, short) = await _history_view(
        clean_redis_url, free_port(), TOKEN)
    assert no_auth == 401 and "history" not in no_doc
    assert status == 200 and doc["version"] == version_of(BASE_TEXT)
    assert [(e["version"], e["pushed_by"], e["in_force"]) for e in doc["history"]] == [
        (version_of(b), "bob", True), (version_of(a), "ann", False)]
    assert doc["history"][1]["yaml"] == a and doc["stored_version"] == version_of(b)
    assert [set(e) for e in short["history"]] == [
        {"version", "pushed_at", "pushed_by", "in_force"}] * 2


async def test_history_endpoint_without_redis_or_token(free_port: Any) -> None:
    [_, (status, doc), _] = await _history_view(None, free_port(), TOKEN)
    assert status == 200 and doc["history"] == [] and "REDIS_URL is not set" in doc["note"]
    [(status, doc), _, _] = await _history_view(None, free_port(), None)
    assert status == 503 and "ADMIN_TOKEN is not set" in doc["error"]
    # Redis down: a 503 naming it, and the worker's loop is not taken down (SystemExit kept in)
    [_, (status, doc), _] = await _history_view(f"redis://127.0.0.1:{free_port()}/0",
                                                free_port(), TOKEN)
    assert status == 503 and "cannot read the rules history" in doc["error"]
