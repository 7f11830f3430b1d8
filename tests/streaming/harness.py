"""A reusable harness for tests of the streaming job against the real (embedded) broker.

    job = Job(broker, tmp_path, rules_path=...)          # unique TOPIC_PREFIX per Job
    w = job.start_worker("w1")                           # `python app.py worker` subprocess
    w.wait_ready()                                       # /healthz 200
    job.produce("interactions", records)                 # keyed by party_id, in order
    job.wait_idle()                                      # group caught up on every input
    out = job.outputs()                                  # Finals: leads, links, outcomes...
    sim = simulate(rules_path, interactions=..., leads=..., imports=...)
    assert out.comparable() == sim.comparable()
    w.stop()

Synchronous on purpose (each call runs its own event loop), so module-scoped fixtures can
share one worker between tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from offline.topic_history import fetched_log_ends
from streaming.broker import EmbeddedBroker, free_port
from streaming.kafka_broker import KafkaBroker
from streaming.topics import TopicNames
from tables.engine_internals import force_metadata_update

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable

#: Worker settings for tests: fast group join on Tansu (it answers the first JoinGroup after
#: session_timeout / 2) and frequent commits (idle detection reads committed offsets).
TEST_ENV = {
    "BROKER_SESSION_TIMEOUT": "4",
    "BROKER_HEARTBEAT_INTERVAL": "0.5",
    "BROKER_REBALANCE_TIMEOUT": "3",
    "BROKER_COMMIT_INTERVAL": "0.5",
    "LOG_LEVEL": "INFO",
    "PYTHONUNBUFFERED": "1",
}

#: Per broker kind, the embedded-broker workarounds the tests need: they reach Tansu by
#: BROKER_URL, so they set them themselves. Real Kafka gets none: the worker runs there
#: exactly as in production.
BROKER_ENV: dict[str, dict[str, str]] = {
    # Tansu under-reports ListOffsets ends (engine_internals log end probe) and holds an idle
    # fetch for the whole wait: 500 ms, the wait these tests have always run with (the
    # mid-stream stops are timed against it; the embedded default is 50)
    "tansu": {"BROKER_LOG_END_PROBE": "true", "CONSUMER_FETCH_MAX_WAIT_MS": "500"},
    "kafka": {},
}


def broker_kind(broker: Any) -> str:
    """``tansu`` or ``kafka`` (`EmbeddedBroker.kind`, `KafkaBroker.kind`)."""
    return str(getattr(broker, "kind", "tansu"))


AnyBroker = EmbeddedBroker | KafkaBroker
Record = dict[str, Any]  # topic, partition, offset, key, value, headers


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# ---------------------------------------------------------------------------- worker process
@dataclass
class WorkerProc:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    web_port: int
    data_dir: Path
    spawned: float = field(default_factory=time.monotonic)
    ready_after: float | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.web_port}{path}"

    def get(self, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.url(path), timeout=timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except (urllib.error.URLError, OSError):
            return 0, b""

    def log_tail(self, n: int = 6000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def wait_log(self, pattern: re.Pattern[str], timeout: float = 15.0,
                 tail: int = 400_000) -> tuple[str, ...]:
        """The groups of `pattern`'s first match in the log, once the worker has written it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = pattern.search(self.log_tail(tail))
            if m:
                return m.groups()
            time.sleep(0.1)
        raise AssertionError(f"no {pattern.pattern!r} in the log:\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_ready(self, timeout: float = 60.0) -> float:
        """Poll /healthz until 200; returns seconds since spawn."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise AssertionError(f"worker {self.name} exited ({self.proc.returncode}):\n"
                                     f"{self.log_tail()}")
            status, _ = self.get("/healthz", timeout=1.0)
            if status == 200:
                self.ready_after = time.monotonic() - self.spawned
                return self.ready_after
            time.sleep(0.1)
        raise AssertionError(f"worker {self.name} not ready in {timeout}s:\n{self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> float:
        """Signal the worker's process group; SIGKILL after `timeout`. Seconds taken."""
        t0 = time.monotonic()
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        return time.monotonic() - t0


# ---------------------------------------------------------------------------- the job
class Job:
    """One streaming job under test: its own TOPIC_PREFIX (so its own topics, consumer group
    and changelogs) on the shared broker."""

    def __init__(self, broker: AnyBroker, tmp_path: Path, *, rules_path: Path | str,
                 prefix: str | None = None, partitions: int = 4,
                 env: Mapping[str, str] | None = None) -> None:
        self.broker = broker
        self.kind = broker_kind(broker)
        self.tmp_path = tmp_path
        self.rules_path = Path(rules_path)
        self.prefix = prefix or f"t{uuid.uuid4().hex[:10]}."
        self.partitions = partitions
        self.names = TopicNames.with_prefix(self.prefix)
        self.group = f"{self.prefix}leadstream"
        self.env = dict(env or {})
        self.workers: list[WorkerProc] = []

    # ---------------------------------------------------------------- workers
    def start_worker(self, name: str = "w1", data_dir: Path | None = None,
                     **env: str) -> WorkerProc:
        data_dir = data_dir or self.tmp_path / f"state-{name}"
        data_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        log_path = self.tmp_path / f"{name}.log"
        full_env = {
            **{k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "ADMIN_TOKEN")},
            **TEST_ENV,
            **BROKER_ENV[self.kind],
            "BROKER_URL": self.broker.url,
            "TOPIC_PREFIX": self.prefix,
            "TOPIC_PARTITIONS": str(self.partitions),
            "DATA_DIR": str(data_dir),
            "WEB_PORT": str(port),
            "RULES_PATH": str(self.rules_path),
            "WORKER_ID": name,
            **self.env,
            **env,
        }
        log = open(log_path, "ab")  # noqa: SIM115 - owned by the child
        try:
            proc = subprocess.Popen(
                [PYTHON, str(ROOT / "app.py"), "worker"], cwd=ROOT, env=full_env,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        w = WorkerProc(name, proc, log_path, port, data_dir)
        self.workers.append(w)
        return w

    def stop_all(self) -> None:
        for w in self.workers:
            w.stop()

    # ---------------------------------------------------------------- topics
    def topic(self, base: str) -> str:
        """Full name of a topic given its contract name (``interactions``...)."""
        return self.prefix + base

    def input_topics(self) -> list[str]:
        n = self.names
        return [n.interactions, n.feed_callcenter, n.feed_web, n.lead_updates, n.lead_imports,
                n.party_imports, n.lead_events, n.lead_owners, n.assignments]

    def produce(self, base: str, records: Iterable[bytes | str | Mapping[str, Any]],
                key: str | Callable[[Any], bytes | None] | None = "party_id",
                partition: int | None = None,
                headers: list[tuple[str, bytes]] | None = None) -> int:
        """Send records in order to topic `base` (prefixed); `key` names the field to key by
        (or computes the key). Returns how many were sent."""
        return int(run(self._produce(self.topic(base), list(records), key, partition, headers)))

    async def _produce(self, topic: str, records: list[Any], key: Any, partition: int | None,
                       headers: list[tuple[str, bytes]] | None) -> int:
        producer = AIOKafkaProducer(bootstrap_servers=self.broker.bootstrap, linger_ms=5,
                                    acks="all")
        await producer.start()
        try:
            for r in records:
                value = _as_bytes(r)
                k = key(r) if callable(key) else _key_of(r, key)
                await producer.send(topic, value, key=k, partition=partition, headers=headers)
            await producer.flush()
        finally:
            await producer.stop()
        return len(records)

    # ---------------------------------------------------------------- offsets
    def end_offsets(self, topics: Iterable[str]) -> dict[TopicPartition, int]:
        return dict(run(self._end_offsets(list(topics))))

    async def _end_offsets(self, topics: list[str]) -> dict[TopicPartition, int]:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.broker.bootstrap,
                                    enable_auto_commit=False)
        await consumer.start()
        try:
            tps = await _partitions(consumer, topics)
            return await true_end_offsets(consumer, tps, exact=self.kind == "kafka")
        finally:
            await consumer.stop()

    def committed(self, tps: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        return dict(run(self._committed(list(tps))))

    async def _committed(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.broker.bootstrap)
        await admin.start()
        try:  # Tansu answers OffsetFetch for explicit partitions only
            got = await admin.list_consumer_group_offsets(self.group, partitions=tps)
        finally:
            await admin.close()
        return {tp: om.offset for tp, om in got.items() if om is not None and om.offset >= 0}

    def lag(self) -> dict[TopicPartition, int]:
        """Records not yet committed by the group, per input partition (only those > 0).
        Committed offsets are read before end offsets (see `wait_idle`)."""
        tps = list(self.end_offsets(self.input_topics()))
        committed = self.committed(tps)
        ends = self.end_offsets(self.input_topics())
        return {tp: end - committed.get(tp, 0) for tp, end in ends.items()
                if end - committed.get(tp, 0) > 0}

    def wait_idle(self, timeout: float = 60.0, stable: float = 0.6) -> float:
        """Wait until the group has committed every input record, twice `stable` s apart
        (outputs are flushed before commits, so they are all in their topics then)."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        ok_since: float | None = None
        last: dict[TopicPartition, int] = {}
        while time.monotonic() < deadline:
            for w in self.workers:
                if w.proc.returncode is None and not w.alive():
                    raise AssertionError(f"worker {w.name} died:\n{w.log_tail()}")
            try:
                last = self.lag()
            except KafkaError as exc:  # e.g. the coordinator not known yet after an outage
                if not exc.retriable:
                    raise
                ok_since = None
                time.sleep(0.5)
                continue
            if not last:
                if ok_since is None:
                    ok_since = time.monotonic()
                elif time.monotonic() - ok_since >= stable:
                    return time.monotonic() - t0
            else:
                ok_since = None
            time.sleep(0.2)
        logs = "\n".join(f"--- {w.name}\n{w.log_tail(3000)}" for w in self.workers)
        raise AssertionError(f"not idle after {timeout}s, lag {last}\n{logs}")

    def reset_offsets(self, base_topics: Iterable[str], offset: int = 0) -> None:
        """Commit `offset` for every partition of the topics, for the job's group (its
        workers must be stopped: the group must be empty)."""
        run(self._reset([self.topic(b) for b in base_topics], offset))

    async def _reset(self, topics: list[str], offset: int) -> None:
        # Tansu refuses commits from outside the group (UnknownMemberId) and keeps the group's
        # protocol ("faust"): join it as a member speaking that protocol name, take every
        # partition of `topics`, commit, leave. (Works the same on Kafka.)
        consumer = AIOKafkaConsumer(
            *topics, bootstrap_servers=self.broker.bootstrap, group_id=self.group,
            enable_auto_commit=False, session_timeout_ms=2000, heartbeat_interval_ms=300,
            partition_assignment_strategy=(_AsFaust,),
        )
        await consumer.start()
        try:
            async with asyncio.timeout(40):
                while True:
                    await consumer.getmany(timeout_ms=100, max_records=1)
                    wanted = {TopicPartition(t, p) for t in topics
                              for p in consumer.partitions_for_topic(t) or ()}
                    if wanted and consumer.assignment() >= wanted:
                        break
            await consumer.commit({tp: OffsetAndMetadata(offset, "") for tp in wanted})
        finally:
            await consumer.stop()

    # ---------------------------------------------------------------- reading
    def read(self, base: str, start: Mapping[TopicPartition, int] | None = None) -> list[Record]:
        """Every record of topic `base` from `start` (default: the beginning) to its end now."""
        return list(run(self._read(self.topic(base), start or {})))

    async def _read(self, topic: str, start: Mapping[TopicPartition, int]) -> list[Record]:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.broker.bootstrap,
                                    enable_auto_commit=False, auto_offset_reset="earliest")
        await consumer.start()
        out: list[Record] = []
        try:
            tps = await _partitions(consumer, [topic])
            if not tps:
                return out
            ends = await true_end_offsets(consumer, tps, exact=self.kind == "kafka")
            for tp in tps:
                consumer.seek(tp, start.get(tp, 0))
            pending = {tp for tp in tps if ends[tp] > start.get(tp, 0)}
            async with asyncio.timeout(30):
                while pending:
                    batch = await consumer.getmany(*pending, timeout_ms=300)
                    for tp, recs in batch.items():
                        for r in recs:
                            if r.offset < ends[tp]:
                                out.append({
                                    "topic": r.topic, "partition": r.partition,
                                    "offset": r.offset, "key": r.key, "value": r.value,
                                    "headers": {k: v.decode("utf-8", "replace")
                                                for k, v in (r.headers or ())},
                                })
                    pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
        finally:
            await consumer.stop()
        out.sort(key=lambda r: (r["partition"], r["offset"]))
        return out

    def output_ends(self) -> dict[TopicPartition, int]:
        n = self.names
        return self.end_offsets([n.leads, n.interaction_leads, n.interaction_outcomes,
                                 n.dead_letters, n.lead_import_results])

    def outputs(self) -> Finals:
        return Finals.from_stream(
            leads=self.read("leads"), links=self.read("interaction-leads"),
            outcomes=self.read("interaction-outcomes"),
            import_results=self.read("lead-import-results"),
        )


class _AsFaust(RoundRobinPartitionAssignor):
    name = "faust"  # the protocol name Faust's workers join with


# ---------------------------------------------------------------------------- offsets
async def _partitions(consumer: AIOKafkaConsumer, topics: list[str]) -> list[TopicPartition]:
    tps = []
    for t in topics:
        parts = consumer.partitions_for_topic(t)
        if not parts:
            await force_metadata_update(consumer)
            parts = consumer.partitions_for_topic(t) or set()
        tps += [TopicPartition(t, p) for p in sorted(parts)]
    return tps


async def true_end_offsets(consumer: AIOKafkaConsumer, tps: list[TopicPartition], *,
                           exact: bool = False) -> dict[TopicPartition, int]:
    """Log end offsets; `exact`: the broker's ListOffsets answer is right (real Kafka), else
    from Fetch high watermarks (assigns `tps` to `consumer`).

    Tansu (v0.6) answers ListOffsets(latest) with the base offset of the partition's last
    record batch + 1, not the log end: wrong whenever that batch holds several records. The
    high watermark in its Fetch responses is right, so: seek just before the reported end
    (a partition reported empty is empty), fetch once, read the high watermark.
    """
    if not tps:
        return {}
    if exact:
        listed = await consumer.end_offsets(tps)
        consumer.assign(tps)
        return dict(listed)
    return await fetched_log_ends(consumer, tps, timeout=20.0)


# ---------------------------------------------------------------------------- comparison
def _as_bytes(r: bytes | str | Mapping[str, Any]) -> bytes:
    if isinstance(r, bytes):
        return r
    if isinstance(r, str):
        return r.encode()
    return json.dumps(r).encode()


def _key_of(r: Any, field_name: str | None) -> bytes | None:
    if field_name is None:
        return None
    doc = r
    if isinstance(r, bytes | str):
        try:
            doc = json.loads(r)
        except ValueError:
            return None
    if isinstance(doc, Mapping) and doc.get(field_name) is not None:
        return str(doc[field_name]).encode()
    return None


def canon(doc: Any) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))


def reduce_outcomes(outcomes: Iterable[Mapping[str, Any]]) -> list[str]:
    """Final outcomes as a sorted list: per interaction id, every DUPLICATE record, each
    distinct REJECTED record once (a rejected record is decided without state, so a crash
    before its offset commit sends the same REJECTED again), and the last of its other
    records (a PENDING later LINKED or EXPIRED is superseded)."""
    by_id: dict[Any, list[Mapping[str, Any]]] = defaultdict(list)
    out: list[str] = []
    rejected: set[str] = set()
    for o in outcomes:
        if o["outcome"] == "DUPLICATE":
            out.append(canon(o))
        elif o["outcome"] == "REJECTED":
            rejected.add(canon(o))
        else:
            by_id[o["interaction_id"]].append(o)
    out += [canon(v[-1]) for v in by_id.values()]
    return sorted(out + list(rejected))


@dataclass
class Finals:
    leads: dict[str, dict[str, Any]]  # lead_id -> last snapshot
    links: list[str]                  # sorted canonical link records (distinct)
    outcomes: list[str]               # reduce_outcomes
    import_results: list[str]         # sorted canonical, last per import_interface_id
    link_conflicts: list[str] = field(default_factory=list)

    @classmethod
    def from_stream(cls, *, leads: list[Record], links: list[Record], outcomes: list[Record],
                    import_results: list[Record]) -> Finals:
        last: dict[str, dict[str, Any]] = {}
        for r in leads:  # one lead's snapshots share a partition: offset order is their order
            if r["value"] is None:  # a deleted lead's tombstone (CONTRACT §10)
                last.pop(r["key"].decode(), None)
                continue
            doc = json.loads(r["value"])
            assert r["key"] == doc["lead_id"].encode(), r
            last[doc["lead_id"]] = doc
        by_link: dict[str, set[str]] = defaultdict(set)
        for r in links:
            doc = json.loads(r["value"])
            by_link[doc["interaction_lead_id"]].add(canon(doc))
        conflicts = [k for k, v in by_link.items() if len(v) > 1]
        outs = [json.loads(r["value"]) for r in outcomes]
        results: dict[Any, dict[str, Any]] = {}
        for i, r in enumerate(import_results):
            doc = json.loads(r["value"])
            results[doc.get("import_interface_id") or f"#{i}"] = doc
        return cls(last, sorted(set().union(*by_link.values())) if by_link else [],
                   reduce_outcomes(outs), sorted(canon(d) for d in results.values()), conflicts)

    def after_crash(self) -> Finals:
        """These finals with each distinct DUPLICATE outcome counted once, for runs with a
        hard kill: a DUPLICATE decision, like a REJECTED one, is sent before the state write
        that records its offset, so a SIGKILL in between makes the restarted worker send the
        same record again (at-least-once: identical bytes, same key). Apply to both sides."""
        dup = '"outcome":"DUPLICATE"'
        outcomes = sorted({o for o in self.outcomes if dup in o}
                          ) + [o for o in self.outcomes if dup not in o]
        return Finals(self.leads, self.links, sorted(outcomes), self.import_results,
                      self.link_conflicts)

    def comparable(self) -> dict[str, Any]:
        return {"leads": {k: canon(v) for k, v in sorted(self.leads.items())},
                "links": self.links, "outcomes": self.outcomes,
                "import_results": self.import_results}


def simulate(rules_path: Path, out_dir: Path, *, interactions: Path | None = None,
             leads: Path | None = None, imports: Path | None = None,
             events: Path | None = None) -> Finals:
    """`python app.py simulate` (in process: the same function) and its files as Finals."""
    from offline.simulate import run_simulation
    from rules.loader import load_rules_file

    run_simulation(load_rules_file(rules_path), out_dir, interactions=interactions, leads=leads,
                   imports=imports, events=events, progress=False, log=open(os.devnull, "w"))  # noqa: SIM115

    def rows(name: str) -> list[dict[str, Any]]:
        p = out_dir / name
        return [json.loads(x) for x in p.read_text().splitlines() if x.strip()]

    lead_docs = {d["lead_id"]: d for d in rows("leads.jsonl")}
    outcome_rows = [{k: v for k, v in d.items() if k != "line"} for d in rows("outcomes.jsonl")]
    results = [{k: v for k, v in d.items() if k != "line"} for d in rows("import_results.jsonl")]
    last_results = {d.get("import_interface_id") or f"#{i}": d for i, d in enumerate(results)}
    return Finals(lead_docs, sorted({canon(d) for d in rows("links.jsonl")}),
                  reduce_outcomes(outcome_rows),
                  sorted(canon(d) for d in last_results.values()))


def write_jsonl(path: Path, records: Iterable[bytes | str | Mapping[str, Any]]) -> Path:
    with path.open("wb") as fh:
        for r in records:
            fh.write(_as_bytes(r).replace(b"\n", b" ") + b"\n")
    return path


def diff(a: Finals, b: Finals) -> str:
    """A short human-readable difference of two Finals (for assertion messages)."""
    ca, cb = a.comparable(), b.comparable()
    lines = []
    for part in ca:
        x, y = ca[part], cb[part]
        if x == y:
            continue
        if isinstance(x, dict):
            for k in sorted(set(x) | set(y)):
                if x.get(k) != y.get(k):
                    lines.append(f"{part}[{k}]:\n  stream   {x.get(k)}\n  simulate {y.get(k)}")
        else:
            sx, sy = set(x), set(y)
            lines += [f"{part} only in stream:   {v}" for v in sorted(sx - sy)[:10]]
            lines += [f"{part} only in simulate: {v}" for v in sorted(sy - sx)[:10]]
            if sx == sy:
                cx, cy = Counter(x), Counter(y)
                lines.append(f"{part}: same set, different multiplicity")
                lines += [f"  x{cx[v]} in stream, x{cy[v]} in simulate: {v}"
                          for v in sorted(sx) if cx[v] != cy[v]][:10]
    return "\n".join(lines[:60])
