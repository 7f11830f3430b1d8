"""Rules loaded off the event loop (issue 17 findings 1-2, CONTRACT §4 "Bounded", §9): a
hostile or huge config in Redis or in the file is refused while the worker keeps processing,
and a large valid config is swapped in without stalling the loop."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import redis

from ops.install import initial_rules
from ops.reload import FileReloader, RedisReloader
from ops.rules_check import check_in_child, load_checked
from ops.rules_store import CHANNEL, KEY, encode_doc, push_rules
from rules.holder import RulesHolder
from tests.ops.conftest import BASE_TEXT, reloads, version_of, wait_for
from tests.ops.test_reload import FakeWorker
from tests.rules.test_bounds import alias_bomb

V0 = version_of(BASE_TEXT)
BOMB = BASE_TEXT + alias_bomb(9)


def many_sets(n: int, size_pad: str = "") -> str:
    """A valid config with `n` interaction rule sets (about 130 bytes each)."""
    lines = "".join(
        f"  - {{id: r{i}, status: ACTIVE, precedence: {i % 7}, "
        f"guard: {{country: [US, CA], source_code: [S{i}{size_pad}]}}, "
        f"scores: {{SURVEY_CALLBACK: {i % 13}}}}}\n" for i in range(n))
    anchor = "    scores: default\n"
    return BASE_TEXT.replace(anchor, anchor + lines, 1)


# -- the child check -------------------------------------------------------------------
def test_child_accepts_and_refuses_with_every_error() -> None:
    ok = check_in_child(BASE_TEXT, "redis")
    assert (ok.result, ok.version, ok.errors) == ("ok", V0, [])
    bad = check_in_child(BASE_TEXT.replace("precedence: 1", "precednce: 1"), "redis")
    assert bad.result == "refused"
    assert bad.errors == ["interaction_rule_sets[0].precednce: unknown key"]


def test_child_refuses_the_bomb_fast() -> None:
    t0 = time.monotonic()
    res = check_in_child(BOMB, "redis")
    assert time.monotonic() - t0 < 10
    assert res.result == "refused" and "YAML aliases expand" in res.errors[0]


def test_child_time_and_memory_limits() -> None:
    text = many_sets(3000)
    slow = check_in_child(text, "redis", timeout=0.2)
    assert slow.errors == ["(root): validating the config took longer than 0.2 s"]
    big = check_in_child(text, "redis", memory_mb=1)
    assert big.errors == ["(root): validating the config needed more than 1 MiB"]


def test_child_killed_on_cancel() -> None:
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    t0 = time.monotonic()
    res, rules = load_checked(many_sets(9000), "redis", cancel=cancel)
    assert time.monotonic() - t0 < 2.0
    assert rules is None and res.result == "error" and "cancelled" in res.errors[0]


def test_over_2_mib_refused_without_a_child() -> None:
    t0 = time.monotonic()
    res = check_in_child(many_sets(100_000), "redis")  # ~13 MiB, the 100k sets
    assert time.monotonic() - t0 < 1.0
    assert res.result == "refused" and "more than 2.0 MiB" in res.errors[0]


# -- a running reloader ----------------------------------------------------------------
class LoopWatch:
    """The longest the event loop went without running this task (ms granularity)."""

    def __init__(self) -> None:
        self.worst = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        last = time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(0.005)
            now = time.monotonic()
            self.worst = max(self.worst, now - last)
            last = now


async def _feeding(holder: RulesHolder) -> tuple[FakeWorker, LoopWatch, asyncio.Event,
                                                 list[asyncio.Task[None]]]:
    worker, watch, stop = FakeWorker(holder), LoopWatch(), asyncio.Event()
    tasks = [asyncio.create_task(worker.run(stop)), asyncio.create_task(watch.run(stop))]
    await wait_for(lambda: worker.n >= 20, what="first events")
    return worker, watch, stop, tasks


async def test_redis_bomb_and_huge_config_refused_worker_keeps_processing(
        clean_redis_url: str, holder: RulesHolder) -> None:
    huge = many_sets(100_000)  # built before the loop is watched
    r = RedisReloader(clean_redis_url, holder)
    r.start()
    await asyncio.wait_for(r.connected.wait(), 10)
    worker, watch, stop, tasks = await _feeding(holder)
    refused = reloads("refused")
    try:
        await asyncio.to_thread(push_rules, clean_redis_url, BOMB, "bomb")
        await wait_for(lambda: reloads("refused") == refused + 1, what="bomb refused")
        assert r.last is not None and "YAML aliases expand" in r.last.errors[0]
        n = worker.n
        await asyncio.to_thread(push_rules, clean_redis_url, huge, "huge")
        await wait_for(lambda: reloads("refused") == refused + 2, what="huge refused")
        assert r.last is not None and "more than 2.0 MiB" in r.last.errors[0]
        await wait_for(lambda: worker.n > n + 50, what="events after the refusals")
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await r.stop()
    assert holder.version == V0 and set(worker.versions()) == {V0}
    assert watch.worst < 1.0, watch.worst  # in-loop validation stalled it for seconds


async def test_large_valid_config_swapped_without_stalling(
        clean_redis_url: str, holder: RulesHolder) -> None:
    """10,000 rule sets (1.3 MB): seconds of validation, none of them on the loop."""
    text = many_sets(9_999)  # built before the loop is watched
    r = RedisReloader(clean_redis_url, holder)
    r.start()
    await asyncio.wait_for(r.connected.wait(), 10)
    worker, watch, stop, tasks = await _feeding(holder)
    try:
        n = worker.n
        await asyncio.to_thread(push_rules, clean_redis_url, text, "big")
        await wait_for(lambda: holder.version != V0, timeout=90, what="big config in force")
        during = worker.n - n
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await r.stop()
    assert len(holder.current.scoring_sets) == 10_000
    assert during > 100, during  # events kept flowing while it was validated
    assert watch.worst < 1.0, watch.worst  # in-loop validation stalled it for seconds


async def test_forced_reload_of_a_large_config_is_not_a_redis_timeout(
        clean_redis_url: str, holder: RulesHolder) -> None:
    text = many_sets(9_999)
    redis.Redis.from_url(clean_redis_url).set(KEY, encode_doc(text, "big"))
    r = RedisReloader(clean_redis_url, holder, connect_timeout=0.5)
    res = await r.force_reload()
    assert res.result == "ok" and len(holder.current.scoring_sets) == 10_000


async def test_file_bomb_refused_once(tmp_path: Path, holder: RulesHolder) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(BASE_TEXT)
    r = FileReloader(path, holder, interval=0.02)
    refused = reloads("refused")
    r.start()
    try:
        await asyncio.sleep(0.1)
        path.write_text(BOMB)
        await wait_for(lambda: reloads("refused") == refused + 1, what="bomb refused")
        path.write_text(many_sets(100_000))
        await wait_for(lambda: reloads("refused") == refused + 2, what="huge refused")
        await asyncio.sleep(0.3)
        assert reloads("refused") == refused + 2  # once each, not once per poll
    finally:
        await r.stop()
    assert holder.version == V0


def test_start_up_with_a_bomb_in_redis_runs_on_the_file(clean_redis_url: str,
                                                        tmp_path: Path) -> None:
    """Issue 17: start-up read the bomb from Redis and died again within 10 s."""
    path = tmp_path / "rules.yaml"
    path.write_text(BASE_TEXT)
    settings = SimpleNamespace(redis_url=clean_redis_url, rules_path=str(path))
    refused = reloads("refused")
    client = redis.Redis.from_url(clean_redis_url)
    for text in (BOMB, many_sets(100_000)):
        client.set(KEY, encode_doc(text, "hostile"))
        client.publish(CHANNEL, "hostile")
        t0 = time.monotonic()
        rules = initial_rules(settings)
        assert time.monotonic() - t0 < 15
        assert (rules.version, rules.source) == (V0, f"file:{path}")
    assert reloads("refused") == refused + 2
