"""`rules diff --from-topic --since 7d` against the real embedded broker (CONTRACT §13): the
history is read from the input topics since the given time, merged by record timestamp,
without the job's own forwards, and diffs exactly as the same history given as an events file.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from offline.topic_history import TOPICS
from streaming.broker import EmbeddedBroker
from tests.builders import interaction, make_doc

pytestmark = [pytest.mark.broker]

ROOT = Path(__file__).resolve().parents[2]
NOW_MS = int(time.time() * 1000)
DAY_MS = 86_400_000


def _rec(topic: str, value: Any, *, days_ago: float, key: str | None = None,
         headers: list[tuple[str, bytes]] | None = None) -> dict[str, Any]:
    raw = value if isinstance(value, bytes) else orjson.dumps(value)
    return {"topic": topic, "value": raw, "ts": NOW_MS - int(days_ago * DAY_MS),
            "key": (key or (value.get("party_id") if isinstance(value, dict) else None)),
            "headers": headers}


# In timestamp order (days before now); the broker history holds them shuffled over topics
# and partitions. The old one and the job's forward must not be replayed.
RECORDS = [
    _rec("interactions", interaction("old-1", party="P1", at=0, country="US"), days_ago=10),
    _rec("interactions", interaction("a-1", party="P1", at=1, country="US"), days_ago=6),
    _rec("feed.callcenter", {"call_id": "77", "party_id": "P2", "outcome": "CALLBACK_REQUESTED",
                             "started_at": "2024-03-02T09:00:00+00:00", "country": "DE"},
         days_ago=5.5),
    _rec("interactions", interaction("cc-77", party="P2", at=1, country="DE"), days_ago=5.4,
         headers=[("ls-origin", b"fc0"), ("ls-origin-offset", b"0")]),
    _rec("lead-imports", {"import_interface_id": "IMP-1", "source_system": "CRM",
                          "orig_system_reference": "R1", "party_id": "P3", "country": "US",
                          "created_at": "2024-03-02T10:00:00+00:00"},
         days_ago=5, key="R1"),
    _rec("interactions", interaction("a-2", party="P1", type="ITEM_INQUIRY", at=2, country="US"),
         days_ago=4),
    _rec("feed.web", {"event_id": "w9", "party_id": "P2", "event": "event_signup",
                      "ts": "2024-03-03T09:00:00+00:00", "geo_country": "DE"}, days_ago=3),
    _rec("interactions", b"{not json", days_ago=2.5, key="P9"),
    _rec("lead-updates", {"lead_id": "EXT-1", "party_id": "P4", "status": "NEW",
                          "created_at": "2024-03-01T00:00:00+00:00",
                          "updated_at": "2024-03-01T00:00:00+00:00"}, days_ago=2),
    _rec("interactions", interaction("a-3", party="P1", at=3, country="US"), days_ago=1),
]
REPLAYED = [r for r in RECORDS if r["ts"] > NOW_MS - 7 * DAY_MS and not r["headers"]
            and r["value"] != b"{not json"]


async def _produce(bootstrap: str, prefix: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(prefix + t, 3, 1) for t in TOPICS])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20)
    await producer.start()
    try:
        # topic by topic, last topic first: the merge must come from the timestamps, not from
        # the order of arrival (within a partition the job reads in offset order, and so
        # does the replay: timestamps rise there, as a producer's do)
        for r in sorted(RECORDS, key=lambda r: -TOPICS.index(r["topic"])):
            await producer.send(prefix + r["topic"], r["value"],
                                key=r["key"].encode() if r["key"] else None,
                                timestamp_ms=r["ts"], headers=r["headers"])
        await producer.flush()
    finally:
        await producer.stop()


def _diff(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items()
            if k not in ("REDIS_URL", "BROKER_URL", "TOPIC_PREFIX", "DATA_DIR")}
    return subprocess.run([sys.executable, "app.py", "rules", "diff", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env={**full, **env})


def test_from_topic_reads_the_last_week_merged_by_time(broker: EmbeddedBroker,
                                                        tmp_path: Path) -> None:
    prefix = f"d{uuid.uuid4().hex[:8]}."
    asyncio.run(_produce(broker.bootstrap, prefix))
    new = tmp_path / "new.yaml"
    new.write_text(yaml.safe_dump(make_doc(
        {"profiles": {"interaction_score_threshold": 12}}), sort_keys=False))

    res = _diff([str(new), "--from-topic", "--since", "7d", "--out", str(tmp_path / "t")],
                {"BROKER_URL": broker.url, "TOPIC_PREFIX": prefix})
    assert res.returncode == 0, res.stderr
    events = [orjson.loads(x) for x in (tmp_path / "t" / "events.jsonl").read_bytes().splitlines()]
    assert events == [{"topic": r["topic"], "value": orjson.loads(r["value"])}
                      for r in REPLAYED], events
    assert (f"read {len(REPLAYED)} records since" in res.stderr
            and "left out: 1 forwarded by the job, 1 not JSON objects" in res.stderr)

    # the same history as a file gives the same diff
    events_file = tmp_path / "events.jsonl"
    events_file.write_bytes((tmp_path / "t" / "events.jsonl").read_bytes())
    again = _diff([str(new), "--events", str(events_file), "--out", str(tmp_path / "f")], {})
    assert again.returncode == 0, again.stderr
    got = (tmp_path / "t" / "diff.jsonl").read_bytes()
    assert got and got == (tmp_path / "f" / "diff.jsonl").read_bytes()
    # P1: 10 + 3 (a-1, a-2) reaches 12 only under the new rules; a-3 links to it
    lines = [orjson.loads(x) for x in got.splitlines()]
    added = [x for x in lines if x["change"] == "ADDED"]
    assert any(x["fields"]["interaction_ids"][1] == ["a-1", "a-2", "a-3"] for x in added)

    # --since further back takes the old record too; an unknown prefix reads nothing
    res = _diff([str(new), "--from-topic", "--since", "30d", "--out", str(tmp_path / "m")],
                {"BROKER_URL": broker.url, "TOPIC_PREFIX": prefix})
    assert res.returncode == 0, res.stderr
    month = (tmp_path / "m" / "events.jsonl").read_bytes().splitlines()
    assert len(month) == len(REPLAYED) + 1 and orjson.loads(month[0])["value"][
        "interaction_id"] == "old-1"
    res = _diff([str(new), "--from-topic", "--since", "7d"],
                {"BROKER_URL": broker.url, "TOPIC_PREFIX": "nothing-here."})
    assert res.returncode == 0 and "read 0 records" in res.stderr


def test_from_topic_without_a_broker_is_a_clear_error(tmp_path: Path) -> None:
    res = _diff([str(ROOT / "config" / "rules.yaml"), "--from-topic", "--since", "7d"],
                {"DATA_DIR": str(tmp_path)})
    assert res.returncode == 2 and "no broker" in res.stderr and "Traceback" not in res.stderr
