"""Hot reload against a real Redis (and the rules file): swaps happen between events,
refused configs change nothing, an unreachable Redis never stops the worker."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import redis

from core.pipeline import handle_interaction
from ops.metrics import REGISTRY
from ops.reload import FileReloader, RedisReloader
from ops.rules_store import KEY, encode_doc, push_rules
from rules.holder import RulesHolder
from state.party import PartyState
from tests.builders import interaction
from tests.ops.conftest import (
    BASE_TEXT,
    BROKEN_TEXT,
    OwnRedis,
    metric,
    reloads,
    variant,
    version_of,
    wait_for,
)

V0 = version_of(BASE_TEXT)


class FakeWorker:
    """Feeds interactions one event at a time, reading `holder.current` once per event,
    as the agents do, and keeps every outcome."""

    def __init__(self, holder: RulesHolder) -> None:
        self.holder = holder
        self.parties: dict[str, PartyState] = {}
        self.stamped: list[tuple[str, str]] = []  # (interaction_id, rules_version)
        self.n = 0

    def event(self) -> None:
        rules = self.holder.current  # once per event
        self.n += 1
        iid, party = f"i{self.n}", f"P{self.n % 7}"
        h = handle_interaction(interaction(iid, party=party, at=self.n / 1000), rules,
                               lambda p: self.parties.get(p, PartyState()))
        if h.state is not None and h.party_id is not None:
            self.parties[h.party_id] = h.state
        assert all(o.rules_version == rules.version for o in h.outcomes)
        first = [o for o in h.outcomes if o.interaction_id == iid]
        assert len(first) == 1, h.outcomes
        self.stamped.append((iid, first[0].rules_version or ""))

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.event()
            await asyncio.sleep(0.001)  # other tasks (the reloader) run between events

    def versions(self) -> list[str]:
        return [v for _, v in self.stamped]


def change_points(versions: list[str]) -> list[int]:
    return [i for i in range(1, len(versions)) if versions[i] != versions[i - 1]]


async def test_stored_config_applied_at_start(clean_redis_url: str, holder: RulesHolder) -> None:
    text = variant(40)
    push_rules(clean_redis_url, text, version_of(text))
    r = RedisReloader(clean_redis_url, holder)
    r.start()
    try:
        await wait_for(lambda: holder.version == version_of(text), what="stored config")
        assert holder.current.source == "redis"
        assert metric("leadstream_rules_info", version=version_of(text)) == 1
        assert metric("leadstream_rules_info", version=V0) == 0
    finally:
        await r.stop()


async def test_push_swaps_between_events_exactly_once(clean_redis_url: str,
                                                      holder: RulesHolder) -> None:
    r = RedisReloader(clean_redis_url, holder)
    r.start()
    await asyncio.wait_for(r.connected.wait(), 10)
    ok_before = reloads("ok")
    worker, stop = FakeWorker(holder), asyncio.Event()
    feeding = asyncio.create_task(worker.run(stop))
    try:
        await wait_for(lambda: worker.n >= 50, what="first events")
        new = variant(30)
        pushed_at_event = worker.n
        receivers = await asyncio.to_thread(push_rules, clean_redis_url, new, version_of(new))
        assert receivers >= 1
        await wait_for(lambda: holder.version == version_of(new), what="swap")
        swapped_at_event = worker.n
        await wait_for(lambda: worker.n >= swapped_at_event + 50, what="later events")
    finally:
        stop.set()
        await feeding
        await r.stop()
    versions = worker.versions()
    assert len(versions) == worker.n  # nothing lost: one outcome per event
    assert [iid for iid, _ in worker.stamped] == [f"i{k}" for k in range(1, worker.n + 1)]
    points = change_points(versions)
    assert len(points) == 1, points
    assert versions[0] == V0 and versions[-1] == version_of(new)
    assert pushed_at_event <= points[0] <= swapped_at_event
    assert reloads("ok") == ok_before + 1


async def test_invalid_config_changes_nothing(clean_redis_url: str, holder: RulesHolder,
                                              caplog) -> None:  # type: ignore[no-untyped-def]
    r = RedisReloader(clean_redis_url, holder)
    r.start()
    await asyncio.wait_for(r.connected.wait(), 10)
    refused, ok = reloads("refused"), reloads("ok")
    worker = FakeWorker(holder)
    try:
        with caplog.at_level(logging.WARNING, logger="ops.reload"):
            await asyncio.to_thread(push_rules, clean_redis_url, BROKEN_TEXT, "broken")
            await wait_for(lambda: reloads("refused") == refused + 1, what="refusal")
            for _ in range(20):
                worker.event()
                await asyncio.sleep(0)
            # not JSON at all: also refused, also nothing changes
            redis.Redis.from_url(clean_redis_url).set(KEY, b"{oops")
            redis.Redis.from_url(clean_redis_url).publish("leadstream:rules:changed", "x")
            await wait_for(lambda: reloads("refused") == refused + 2, what="2nd refusal")
    finally:
        await r.stop()
    assert holder.version == V0 and set(worker.versions()) == {V0}
    assert reloads("ok") == ok
    assert metric("leadstream_rules_info", version=V0) == 1
    text = "\n".join(rec.getMessage() for rec in caplog.records)
    assert "refused" in text
    assert "profiles.interaction_score_threshold: must be a number" in text
    assert "interaction_rule_sets[0].precedence" in text
    assert r.last is not None and r.last.result == "refused"


async def test_unreachable_redis_keeps_rules_and_recovers(own_redis: OwnRedis,
                                                          holder: RulesHolder) -> None:
    errors = reloads("error")
    r = RedisReloader(own_redis.url, holder, min_backoff=0.05, max_backoff=0.3,
                      connect_timeout=1.0)
    r.start()
    worker, stop = FakeWorker(holder), asyncio.Event()
    feeding = asyncio.create_task(worker.run(stop))
    try:
        # 1. Redis down at start: errors counted, events go on with the rules in force
        await wait_for(lambda: reloads("error") >= errors + 2, what="errors at start")
        assert holder.version == V0 and not r.connected.is_set()
        assert not feeding.done() and worker.n > 0

        # 2. Redis comes up with a config already stored: picked up on connect
        await asyncio.to_thread(own_redis.start)
        v1 = variant(31)
        await asyncio.to_thread(push_rules, own_redis.url, v1, version_of(v1))
        await wait_for(lambda: holder.version == version_of(v1), what="v1 after start")

        # 3. Redis goes away while running: error counted, rules kept
        errors = reloads("error")
        await asyncio.to_thread(own_redis.stop)
        await wait_for(lambda: reloads("error") > errors, what="error on outage")
        assert holder.version == version_of(v1)
        n = worker.n
        await wait_for(lambda: worker.n > n + 20, what="events during outage")

        # 4. a push the worker never hears (it is not subscribed yet) is found on reconnect
        r.min_backoff = r.max_backoff = 2.5  # keep it away while we push
        await asyncio.sleep(0.4)
        await asyncio.to_thread(own_redis.start)
        v2 = variant(32)
        heard = await asyncio.to_thread(push_rules, own_redis.url, v2, version_of(v2))
        assert heard == 0
        await wait_for(lambda: holder.version == version_of(v2), timeout=15, what="v2")
        await asyncio.wait_for(r.connected.wait(), 10)
    finally:
        stop.set()
        await feeding
        await r.stop()
    versions = worker.versions()
    assert len(versions) == worker.n
    assert len(change_points(versions)) == 2
    assert versions[0] == V0 and versions[-1] == version_of(v2)


async def test_force_reload(clean_redis_url: str, holder: RulesHolder, free_port) -> None:  # type: ignore[no-untyped-def]
    r = RedisReloader(clean_redis_url, holder)
    # stored without a publish: only a forced reload finds it
    text = variant(33)
    redis.Redis.from_url(clean_redis_url).set(KEY, encode_doc(text, version_of(text)))
    res = await r.force_reload()
    assert (res.result, res.version) == ("ok", version_of(text))
    assert (await r.force_reload()).result == "unchanged"

    down = RedisReloader(f"redis://127.0.0.1:{free_port()}/0", holder, connect_timeout=1.0)
    errors = reloads("error")
    res = await down.force_reload()
    assert res.result == "error" and res.version == version_of(text)
    assert reloads("error") == errors + 1


async def test_file_reloader(tmp_path: Path, holder: RulesHolder) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(BASE_TEXT)
    r = FileReloader(path, holder, interval=0.02)
    ok, refused, errors = reloads("ok"), reloads("refused"), reloads("error")
    r.start()
    try:
        await asyncio.sleep(0.1)
        assert holder.version == V0 and reloads("ok") == ok  # same config: no reload

        v1 = variant(35)
        path.write_text(v1)
        await wait_for(lambda: holder.version == version_of(v1), what="edit picked up")
        assert holder.current.source == f"file:{path}" and reloads("ok") == ok + 1

        path.write_text(BROKEN_TEXT)
        await wait_for(lambda: reloads("refused") == refused + 1, what="refusal")
        await asyncio.sleep(0.2)
        assert reloads("refused") == refused + 1  # counted once, not once per poll
        assert holder.version == version_of(v1)

        path.unlink()
        await wait_for(lambda: reloads("error") == errors + 1, what="missing file")
        await asyncio.sleep(0.2)
        assert reloads("error") == errors + 1 and holder.version == version_of(v1)

        v2 = variant(36)
        path.write_text(v2)
        await wait_for(lambda: holder.version == version_of(v2), what="fixed file")
        assert metric("leadstream_rules_info", version=version_of(v2)) == 1
        assert REGISTRY.get_sample_value("leadstream_rules_info", {"version": V0}) is None
    finally:
        await r.stop()

    path.write_text(BASE_TEXT)
    res = await r.force_reload()
    assert (res.result, res.version) == ("ok", V0)
