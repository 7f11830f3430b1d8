"""Read the job's input history from the broker, as `simulate --events` lines (`rules diff
--from-topic --since 7d`, CONTRACT §13).

Reads `interactions`, `feed.callcenter`, `feed.web`, `lead-updates` and `lead-imports` (with
`TOPIC_PREFIX`) from the first record at or after `since` (record timestamps) up to each
partition's end when the read starts, without a consumer group (no offsets committed, the
running job is not disturbed). Partitions are merged by record timestamp; records of one
partition keep their offset order even if their timestamps go back, so each party's records
stay in the order the job handled them. Ties: topic order above, then partition. Each
partition is spilled to a temporary file while reading, so memory stays flat however long
the history; the merge holds one record per partition.

Left out, and counted:
- records carrying the `ls-origin` header: forwards the job wrote itself (a feed record
  mapped onto `interactions`, a record re-sent to its party's partition); their original is
  read from its own topic, so replaying both would count it twice;
- values that are not a JSON object (the job dead-letters them; they make no lead).
"""

from __future__ import annotations

import asyncio
import heapq
import re
import struct
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import orjson

from tables.engine_internals import force_metadata_update

TOPICS = ("interactions", "feed.callcenter", "feed.web", "lead-updates", "lead-imports")
ORIGIN_HEADER = "ls-origin"
_UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([wdhms])")


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`7d`, `36h`, `1d12h`, `90m`, `2w` before `now`, or an ISO-8601 timestamp with offset."""
    t = text.strip().lower()
    if t and _DURATION.sub("", t) == "" and _DURATION.search(t):
        seconds = sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(t))
        return (now or datetime.now(UTC)) - timedelta(seconds=seconds)
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise ValueError(f"--since {text!r}: expected a duration (7d, 36h, 1d12h, 90m, 2w) "
                         "or an ISO-8601 timestamp with offset")
    return when


@dataclass(slots=True)
class TopicHistory:
    """What was written: records per topic, and what was left out."""

    events: int = 0
    per_topic: dict[str, int] = field(default_factory=dict)
    forwards_skipped: int = 0
    undecodable_skipped: int = 0


_HEAD = struct.Struct(">qqBI")  # timestamp, offset, forward?, value length


class _Spill:
    """One partition's records, in offset order, in a temporary file: a week of traffic
    need not fit in memory; only one record per partition is held while merging."""

    def __init__(self, rank: int, topic: str, partition: int) -> None:
        self.key = (rank, partition)
        self.topic = topic
        # closed when its records have been read (or collected): it outlives this call
        self.fh: IO[bytes] = tempfile.TemporaryFile(prefix="rules-diff-")  # noqa: SIM115

    def add(self, ts: int, offset: int, forward: bool, value: bytes | None) -> None:
        v = value or b""
        self.fh.write(_HEAD.pack(ts, offset, forward, len(v)) + v)

    def records(self) -> Iterator[tuple[int, int, int, int, _Spill, bool, bytes]]:
        self.fh.seek(0)
        rank, partition = self.key
        while head := self.fh.read(_HEAD.size):
            ts, offset, forward, n = _HEAD.unpack(head)
            yield ts, rank, partition, offset, self, bool(forward), self.fh.read(n)
        self.fh.close()


async def fetched_log_ends(consumer: Any, tps: list[Any],
                           timeout: float = 30.0) -> dict[Any, int]:
    """End offsets from Fetch high watermarks: some brokers (Tansu) answer ListOffsets with
    the last batch's base offset + 1, short of the end when that batch holds several records.
    Assigns `tps` to `consumer` (an aiokafka consumer without a group)."""
    listed = await consumer.end_offsets(tps)
    consumer.assign(tps)
    out: dict[Any, int] = {}
    pending = []
    for tp in tps:
        if listed[tp] <= 0:
            out[tp] = 0
        else:
            consumer.seek(tp, listed[tp] - 1)
            pending.append(tp)
    async with asyncio.timeout(timeout):
        while pending:
            await consumer.getmany(*pending, timeout_ms=200)
            for tp in list(pending):
                hw = consumer.highwater(tp)
                if hw is not None:
                    out[tp] = max(hw, listed[tp])
                    pending.remove(tp)
    return out


async def _read(bootstrap: str, prefix: str, since_ms: int,
                progress: bool) -> list[_Spill]:
    from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                client_id="leadstream-rules-diff")
    await consumer.start()
    try:
        await force_metadata_update(consumer)
        tps: list[Any] = []
        rank: dict[str, int] = {}
        for i, base in enumerate(TOPICS):
            name = prefix + base
            rank[name] = i
            tps += [TopicPartition(name, p)
                    for p in sorted(consumer.partitions_for_topic(name) or ())]
        if not tps:
            return []
        ends = await fetched_log_ends(consumer, tps)
        try:
            found = await consumer.offsets_for_times(dict.fromkeys(tps, since_ms))
            starts = {tp: (ends[tp] if found.get(tp) is None else found[tp].offset)
                      for tp in tps}
        except Exception:  # a broker without ListOffsets by time: read all, filter below
            starts = dict.fromkeys(tps, 0)
        for tp in tps:
            consumer.seek(tp, starts[tp])
        bar = _bar(sum(max(0, ends[tp] - starts[tp]) for tp in tps), progress)
        out = {tp: _Spill(rank[tp.topic], tp.topic, tp.partition) for tp in tps}
        pending = {tp for tp in tps if ends[tp] > starts[tp]}
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=500)
            for tp, recs in batch.items():
                keep = [r for r in recs if r.offset < ends[tp]]
                if bar is not None:
                    bar.update(len(keep))
                for r in keep:
                    if r.timestamp >= since_ms:
                        out[tp].add(r.timestamp, r.offset, _is_forward(r.headers), r.value)
            pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
        if bar is not None:
            bar.close()
        return list(out.values())
    finally:
        await consumer.stop()


def _is_forward(headers: Any) -> bool:
    return any(k == ORIGIN_HEADER for k, _ in headers or ())


def _bar(total: int, progress: bool) -> Any:
    if not progress or total < 1000 or not sys.stderr.isatty():
        return None
    from tqdm import tqdm  # type: ignore[import-untyped]

    return tqdm(total=total, unit="rec", desc="reading topics", file=sys.stderr)


def read_history(bootstrap: str, prefix: str, since: datetime, out: Path, *,
                 progress: bool = True) -> TopicHistory:
    """Write the records since `since`, merged by timestamp, to `out` as events lines."""
    spills = asyncio.run(_read(bootstrap, prefix, int(since.timestamp() * 1000), progress))
    hist = TopicHistory(per_topic=dict.fromkeys(TOPICS, 0))
    # tuples compare by (timestamp, topic rank, partition, offset): never reach the spill
    merged = heapq.merge(*(sp.records() for sp in spills))
    with out.open("wb") as fh:
        for _, _, _, _, spill, forward, raw in merged:
            if forward:
                hist.forwards_skipped += 1
                continue
            try:
                value = orjson.loads(raw)
            except orjson.JSONDecodeError:
                value = None
            if not isinstance(value, dict):
                hist.undecodable_skipped += 1
                continue
            base = spill.topic[len(prefix):]
            hist.per_topic[base] += 1
            hist.events += 1
            fh.write(orjson.dumps({"topic": base, "value": value},
                                  option=orjson.OPT_APPEND_NEWLINE))
    return hist
