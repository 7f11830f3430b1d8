"""The one module that touches faust-streaming, mode and aiokafka internals: their private
attributes and the patches to their classes. A Faust (or aiokafka, mode) upgrade reviews this
file and no other; tests/test_engine_boundary.py fails when another production module reads
a private attribute of an object or assigns to an engine class.

Made and tested for faust-streaming==0.15.3 (pyproject pins it; job/worker.py refuses
another release; `apply` installs nothing on another). It sits in `tables/`, the lowest layer
that needs an engine (TableBatch opens RocksDB per partition), so every layer above it
(streaming, agents, job, ops, offline, bench) uses it.

Sections: private-attribute accessors; the stop-signal hook (streaming/shutdown.py);
consumer-state reads for the debug dump (streaming/diagnostics.py); the Faust fixes and their
options (`PatchOptions`, `apply`, `broker_workarounds_active`), described below; the bench's
fetch-wait experiment (`force_consumer_fetch_wait`).

The Faust fixes (for 0.15.3, applied by `job.app.create_app`). First fix, faust issue #596
(open): after a recovery that read changelogs, `Recovery.on_recovery_completed` resumes the
stream partitions *before* it seeks them to their committed offsets, while the
Fetcher is already running. Records fetched in between are processed and acked, then fetched
again after the seek and dropped as already read; the acked list loses its head and Faust never
commits that partition again (its lag grows forever; every restart replays it). Seen here on
every restart after a crash (local tables rebuilt from the changelogs) and on rebalances that
move a table partition.

The replacement below is the 0.15.3 method with the seek moved before the resume: no record
of a stream partition can be fetched until its position is the committed offset.

Second fix (records fetched and silently dropped, found with tests/streaming/test_job_restart.py
under CPU load): `Consumer.getmany` hands its *live* set of active partitions to the consumer
thread, where aiokafka's `fetched_records(partitions, timeout=1)` waits for data and re-reads
that set on every wake-up; an *empty* set means "every partition" there. The main thread
mutates the set meanwhile (recovery pauses the changelogs when it is done: the set is empty
until the stream partitions are resumed). A fetch started during recovery could so return
records of stream partitions that were not active: aiokafka advanced their positions, Faust's
getmany skipped them (not active), and if the seek to the committed offsets had already run
they were never fetched again: the worker said "Worker ready" and sat on a lag that never
drained (no record processed, nothing committed). `_getmany` below passes a copy of the set
(and does not fetch with an empty one), and rewinds any partition whose records come back
after it stopped being active, so a record is never skipped without being fetched again.

Third fix (real Kafka only; found by the benchmarks on Kafka: 2 of 6 fresh jobs
stalled): Faust creates its topics at start (`Transport._really_create_topic`) and returns as
soon as the controller answers CreateTopics, then joins the group. Kafka's metadata can lag
that answer by a moment; when the group leader's metadata does not show a topic yet, Faust's
assignor logs "Ignoring missing topic" and assigns none of its partitions, and nothing asks
for a new assignment until the consumer's metadata ages out (aiokafka: 5 minutes). A fresh
deployment so left `leadstream-lead-events` unconsumed (leads never processed) for minutes.
`_really_create_topic` below waits, bounded, until the broker's metadata lists the new topic
with a leader for every partition before it returns.

Options (`PatchOptions`, from streaming/settings.py; `apply(options)`):

- ``log_end_probe`` (BROKER_LOG_END_PROBE): Tansu answers ListOffsets(latest) with the base
  offset of the partition's last record batch + 1, not the log end, so aiokafka's
  `end_offsets` (Faust's `consumer.highwaters`, the changelog ends of table recovery) is low
  whenever that batch holds several records: recovery stops early, or refuses a kept DATA_DIR
  (ConsistencyError). `_highwaters` below asks a short-lived group-less consumer to fetch from
  each reported end - 1 (the last batch) and takes the Fetch response's high watermark (right
  on Tansu) or the last offset seen + 1. Correct on any Kafka; it costs one connection per
  recovery.
- ``fetch_max_wait_ms`` (CONSUMER_FETCH_MAX_WAIT_MS): Faust hard-codes
  ``fetch_max_wait_ms=1500`` for its worker consumer; Tansu answers a fetch with no new data
  only when that expires, which becomes decision latency. `_create_worker_consumer` sets it.
  Real Kafka answers a waiting fetch as soon as data arrives, so by default (``BROKER_URL``
  set, the variable unset) nothing is patched there.

Both are installed only while on (`apply`): with a real Kafka the worker runs Faust's own
`_highwaters` and `_create_worker_consumer` (`broker_workarounds_active`, logged at start).
- ``drain_fast_path`` (CONSUMER_DRAIN_FAST_PATH): `Consumer._drain_messages` awaits
  ``wait_first(callback(message), suspend_flow.wait())`` per message (four tasks and an
  `asyncio.wait` each), so that a rebalance (suspend_flow) aborts a callback blocked on flow
  control or a full stream queue. `_drain_messages` below awaits the callback directly when it
  cannot block: flow not suspended, the app's flow control active, the producer buffer below
  its limit, the conductor not re-indexing, and every stream queue subscribed to the message's
  partition with room. Otherwise it takes the original path.

Batch intake (INTAKE=batch; `BatchIntake`, `install_intake`): the drain hands the records of
an agent's source topics (the matching agent's three, the processing agent's lead events) to
that agent in the lists the fetch returned, per partition, with no Event or stream built for
them (one intake per agent, `batch_intakes`). Faust keeps the rest: a handed record is tracked
(`Consumer.track_message`) when it is queued and acked (`Consumer.ack`) by `BatchIntake.done`
once its batch's outputs and table writes are in Kafka, so Faust's commit never passes a
record whose batch is not finished, and a rebalance's `wait_empty` waits for the running batch.
The queue is a `FlowControlQueue` of ``app.flow_control``: a rebalance clears it (like Faust's
stream queues; the cleared records are untracked, never acked, and fetched again from the
committed offsets), and the drain waits while it is full (fetching paused). Batches fetched in
an older consumer generation are dropped when taken.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

log = logging.getLogger("leadstream.engine_internals")

#: the Faust releases the fixes below were made for
PATCHED_VERSIONS = {"0.15.3"}


# ---------------------------------------------------------------------------- accessors
def db_for_partition(store: Any, partition: int) -> Any:
    """The rocksdict instance of one partition of a Faust RocksDB table store
    (`faust.stores.rocksdb.Store`, opened on first use)."""
    return store._db_for_partition(partition)


def open_partition_dbs(store: Any) -> dict[int, Any]:
    """The rocksdict instances a Faust RocksDB table store has open, by partition (a copy:
    a rebalance may close them meanwhile); empty for a store that is not RocksDB."""
    return dict(getattr(store, "_dbs", {}))


def kafka_producer(app: Any) -> Any:
    """The aiokafka producer under a Faust app's producer (started)."""
    return app.producer._ensure_producer()


def partitioner(producer: Any) -> Any:
    """An aiokafka producer's partitioner: `(key, all, available) -> partition`."""
    return producer._partitioner


async def wait_on_metadata(producer: Any, topic: str) -> Any:
    """An aiokafka producer's partitions of `topic`, once its metadata is there."""
    return await producer.client._wait_on_metadata(topic)


async def force_metadata_update(consumer: Any) -> None:
    """Refresh an aiokafka consumer's cluster metadata now."""
    await consumer._client.force_metadata_update()


def committed_offset(consumer: Any, tp: Any) -> Any:
    """The group's committed offset of `tp` as a Faust consumer last read it (None: unknown)."""
    return getattr(consumer, "_committed_offset", {}).get(tp)


# ---------------------------------------------------------------------------- stop signal
def on_stop_signal(hook: Callable[[], None]) -> None:
    """Run `hook` when mode's worker schedules its stop on a signal (SIGTERM/SIGINT), before
    the orderly stop begins. Installed once per process; later calls do nothing."""
    from mode.worker import Worker

    if getattr(Worker._schedule_shutdown, "_leadstream", False):
        return
    original = Worker._schedule_shutdown

    def _schedule_shutdown(self: Any, signal: Any) -> None:
        hook()
        original(self, signal)

    _schedule_shutdown._leadstream = True  # type: ignore[attr-defined]
    Worker._schedule_shutdown = _schedule_shutdown  # type: ignore[method-assign]


# ---------------------------------------------------------------------------- diagnostics
def partition_sets(consumer: Any) -> dict[str, Any]:
    """A Faust consumer's active, paused and buffered partitions (None where it has none)."""
    return {name: getattr(consumer, f"_{name}_partitions", None)
            for name in ("active", "paused", "buffered")}


def aiokafka_consumer(consumer: Any) -> Any:
    """The aiokafka consumer in a Faust consumer's thread."""
    return consumer._thread._consumer


def fetch_position(ak: Any, tp: Any) -> int | None:
    """An aiokafka consumer's fetch position of `tp` (None: not valid yet)."""
    state = ak._subscription.subscription.assignment.state_value(tp)
    return state.position if state is not None and state.has_valid_position else None


def pending_pressure_drops(queue: Any) -> int:
    """How many back-pressure drop callbacks wait on a Faust stream queue."""
    return len(queue._pending_pressure_drop_callbacks)


# ---------------------------------------------------------------------------- Faust fixes
@dataclass(frozen=True)
class PatchOptions:
    """What the optional patches do (the three fixes above are always on)."""

    #: correct the changelog ends Faust reads (Tansu's ListOffsets under-reports them)
    log_end_probe: bool = False
    #: aiokafka ``fetch_max_wait_ms`` of Faust's worker consumer; None: Faust's own (1500)
    fetch_max_wait_ms: int | None = None
    #: await the per-message callback directly when it cannot block
    drain_fast_path: bool = False


OPTIONS = PatchOptions()


async def _on_recovery_completed(self: Any, generation_id: int = 0) -> None:
    """`faust.tables.recovery.Recovery.on_recovery_completed`, seek before resume."""
    consumer = self.app.consumer
    self.log.info("Restore complete!")
    await self.app.on_rebalance_complete.send()
    self._set_recovery_ended()
    callback_coros = [
        asyncio.ensure_future(
            table.on_recovery_completed(
                self.actives_for_table[table],
                self.standbys_for_table[table],
            )
        )
        for table in self.tables.values()
    ]
    if callback_coros:
        await asyncio.wait(callback_coros)
    assignment = consumer.assignment()
    if self.app.consumer_generation_id != generation_id:
        self.log.warning(
            f"Recovery rebalancing again app id "
            f"{self.app.consumer_generation_id} param {generation_id}"
        )
        return
    if assignment:  # moved up: seek while the stream partitions are still paused
        self.log.info("Seek stream partitions to committed offsets.")
        await self._wait(
            consumer.perform_seek(), timeout=self.app.conf.broker_request_timeout
        )
    consumer.resume_partitions({tp for tp in assignment if not self._is_changelog_tp(tp)})
    self.completed.set()
    self.log.dev("Resume stream partitions")
    self.app.flow_control.resume()
    consumer.resume_flow()
    await self.app._fetcher.maybe_start()
    self.tables.on_actives_ready()
    if not self.app.assignor.assigned_standbys():
        self.tables.on_standbys_ready()
    self.app.on_rebalance_end()
    self.log.info("Worker ready")


async def _getmany(self: Any, active_partitions: Any, timeout: float) -> Any:
    """`ThreadDelegateConsumer._getmany` with a snapshot of the active partitions."""
    if active_partitions is not None:
        active_partitions = frozenset(active_partitions)
        if not active_partitions:
            return {}
    records = await self._thread.getmany(active_partitions, timeout)
    if not records:
        return records
    live = self._active_partitions
    buffered = self._buffered_partitions
    stale = [tp for tp, recs in records.items()
             if recs and live is not None and tp not in live and tp not in buffered]
    for tp in stale:  # paused while we waited: getmany would skip these records
        first = records.pop(tp)[0].offset
        log.info("fetched records of %s[%s] after it was paused: rewinding it to %s",
                 tp.topic, tp.partition, first)
        try:
            await self.seek(tp, first)
        except Exception as exc:  # revoked meanwhile: the next assignment seeks it anyway
            log.info("rewind of %s[%s] skipped: %r", tp.topic, tp.partition, exc)
    return records


# ---------------------------------------------------------------------------- topic creation
_orig_really_create_topic: Any = None

#: how long a created topic may take to show in the broker's metadata before Faust goes on
TOPIC_METADATA_WAIT_S = 30.0


async def topic_in_metadata(client: Any, topic: str, partitions: int,
                            timeout: float = TOPIC_METADATA_WAIT_S) -> bool:
    """Poll the broker's metadata (`client.fetch_all_metadata()`) until `topic` has
    `partitions` partitions, each with a leader; False when `timeout` runs out."""
    from aiokafka import TopicPartition  # type: ignore[import-untyped]

    deadline = asyncio.get_running_loop().time() + timeout
    delay = 0.05
    while True:
        md = await client.fetch_all_metadata()
        parts = md.partitions_for_topic(topic) or set()
        if len(parts) >= partitions and all(
                (md.leader_for_partition(TopicPartition(topic, p)) or -1) >= 0 for p in parts):
            return True
        if asyncio.get_running_loop().time() + delay > deadline:
            return False
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)


async def _really_create_topic(self: Any, owner: Any, client: Any, topic: str,
                               partitions: int, replication: int, **kwargs: Any) -> None:
    """`Transport._really_create_topic` that returns once the topic is in the metadata."""
    await _orig_really_create_topic(self, owner, client, topic, partitions, replication,
                                    **kwargs)
    if getattr(owner, "should_stop", False):
        return
    try:
        seen = await topic_in_metadata(client, topic, partitions)
    except Exception as exc:  # no worse than before: Faust goes on as it did
        log.warning("topic %s: metadata check failed: %r", topic, exc)
        return
    if not seen:
        log.warning("topic %s not in the broker's metadata %.0f s after its creation",
                    topic, TOPIC_METADATA_WAIT_S)


# ---------------------------------------------------------------------------- log end probe
async def probe_log_ends(reported: Mapping[Any, int], client: Mapping[str, Any],
                         timeout: float = 10.0) -> dict[Any, int]:
    """True log end offsets of the partitions in `reported` (their ListOffsets(latest) ends).

    A partition reported empty (0) is empty. For the others a consumer without a group
    fetches from the reported end - 1, which lies in the last record batch; the end is the
    Fetch response's high watermark, or the last offset seen + 1 when larger, and never less
    than reported. `client`: AIOKafkaConsumer keyword arguments (bootstrap, auth...)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]

    out = dict(reported)
    wanted = {TopicPartition(tp[0], tp[1]): tp for tp, end in reported.items()
              if end is not None and end > 0}
    if not wanted:
        return out
    consumer = AIOKafkaConsumer(**client, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="latest", fetch_max_wait_ms=10)
    await consumer.start()
    try:
        consumer.assign(list(wanted))
        for atp, tp in wanted.items():
            consumer.seek(atp, reported[tp] - 1)
        pending = set(wanted)
        async with asyncio.timeout(timeout):
            while pending:
                batch = await consumer.getmany(*pending, timeout_ms=100)
                for atp in list(pending):
                    tp = wanted[atp]
                    recs = batch.get(atp) or []
                    if recs:
                        out[tp] = max(out[tp], recs[-1].offset + 1)
                    hw = consumer.highwater(atp)
                    if hw is not None:
                        out[tp] = max(out[tp], hw)
                        pending.discard(atp)
    finally:
        await consumer.stop()
    return out


def _probe_client(thread: Any) -> dict[str, Any]:
    """AIOKafkaConsumer connection arguments of a Faust consumer thread's app."""
    from faust.transport.drivers import aiokafka as drv

    conf = thread.app.conf
    transport = thread.transport
    kwargs: dict[str, Any] = {
        "bootstrap_servers": drv.server_list(transport.url, transport.default_port),
        "client_id": f"{conf.broker_client_id}-log-end-probe",
        "request_timeout_ms": int(conf.broker_request_timeout * 1000.0),
        **drv.credentials_to_aiokafka_auth(conf.broker_credentials, conf.ssl_context),
    }
    if getattr(drv, "_AIOKAFKA_HAS_API_VERSION", False):
        kwargs["api_version"] = conf.consumer_api_version
    return kwargs


_orig_highwaters: Any = None


async def _highwaters(self: Any, partitions: Any) -> Mapping[Any, int]:
    """`AIOKafkaConsumerThread._highwaters` (consumer thread) with true log ends."""
    reported = await _orig_highwaters(self, partitions)
    if not OPTIONS.log_end_probe or self.consumer.in_transaction:
        return cast(Mapping[Any, int], reported)
    try:
        ends = await probe_log_ends(reported, _probe_client(self),
                                    timeout=min(30.0, self.app.conf.broker_request_timeout))
    except Exception as exc:  # no worse than before: Faust gets ListOffsets' answer
        log.warning("log end probe failed, using ListOffsets' ends: %r", exc)
        return cast(Mapping[Any, int], reported)
    fixed = {tp: (reported[tp], end) for tp, end in ends.items() if end != reported[tp]}
    if fixed:
        log.info("log end probe corrected %d of %d end offsets: %s", len(fixed), len(ends),
                 ", ".join(f"{tp.topic}[{tp.partition}] {a}->{b}"
                           for tp, (a, b) in sorted(fixed.items())[:8]))
    return ends


# ---------------------------------------------------------------------------- fetch wait
_orig_create_worker_consumer: Any = None


def _create_worker_consumer(self: Any, transport: Any) -> Any:
    """`AIOKafkaConsumerThread._create_worker_consumer` with our ``fetch_max_wait_ms``."""
    consumer = _orig_create_worker_consumer(self, transport)
    wait = OPTIONS.fetch_max_wait_ms
    if wait is not None:
        if hasattr(consumer, "_fetch_max_wait_ms"):  # read by AIOKafkaConsumer.start()
            consumer._fetch_max_wait_ms = wait
        else:
            log.warning("aiokafka consumer has no _fetch_max_wait_ms: fetch wait %d ms not "
                        "applied", wait)
    return consumer


# ---------------------------------------------------------------------------- drain fast path
def can_deliver_now(consumer: Any, tp: Any) -> bool:
    """True when the conductor's callback for a message of `tp` cannot block now.

    Mirrors what `faust.transport.conductor.ConductorCompiler.build`'s ``on_message`` may wait
    for: the conductor's callback lock, `app.flow_control.acquire()`, the producer buffer's
    `wait_until_ebb()`, and a full stream queue (`chan.put`); plus what `wait_first` would
    abort on: suspended flow, the consumer stopping or crashed."""
    if (consumer.suspend_flow.is_set() or consumer._stopped.is_set()
            or consumer._crashed.is_set()):
        return False
    app = consumer.app
    if not app.flow_control.is_active():
        return False
    conductor = app.topics
    if conductor._tp_to_callback_lock.locked():
        return False
    buffer = app.producer.buffer
    if buffer.size > buffer.max_messages:
        return False
    channels = conductor._tp_index.get(tp)
    if channels:
        for chan in channels:
            if chan.queue.full():
                return False
    return True


async def _drain_messages(self: Any, fetcher: Any) -> None:  # pragma: no cover
    """`faust.transport.consumer.Consumer._drain_messages` of 0.15.3; only the callback call
    differs: directly awaited when `can_deliver_now` (see the module docstring)."""
    from faust.transport.consumer import CONSUMER_FETCHING

    callback = self.callback
    getmany = self.getmany
    consumer_should_stop = self._stopped.is_set
    fetcher_should_stop = fetcher._stopped.is_set

    get_read_offset = self._read_offset.__getitem__
    set_read_offset = self._read_offset.__setitem__
    flag_consumer_fetching = CONSUMER_FETCHING
    set_flag = self.diag.set_flag
    unset_flag = self.diag.unset_flag
    commit_every = self._commit_every
    acks_enabled_for = self.app.topics.acks_enabled_for
    fast_path = OPTIONS.drain_fast_path
    deliverable = can_deliver_now
    stats = DRAIN_STATS
    intake_of: dict[str, BatchIntake] = getattr(self.app, INTAKE_ATTR, None) or {}
    handed: dict[Any, list[Any]] = {}

    yield_every = 100
    num_since_yield = 0
    sleep = asyncio.sleep

    try:
        while not (consumer_should_stop() or fetcher_should_stop()):
            set_flag(flag_consumer_fetching)
            ait = getmany(timeout=1.0)

            # Sleeping because sometimes getmany is called in a loop
            # never releasing to the event loop
            await self.sleep(0)
            if not self.should_stop:
                async for tp, message in ait:
                    num_since_yield += 1
                    if num_since_yield > yield_every:
                        await sleep(0)
                        num_since_yield = 0

                    offset = message.offset
                    r_offset = get_read_offset(tp)
                    if r_offset is None or offset >= r_offset:
                        gap = offset - (r_offset or 0)
                        # We have a gap in income messages
                        if gap > 1 and r_offset:
                            acks_enabled = acks_enabled_for(message.topic)
                            if acks_enabled:
                                await self._add_gap(tp, r_offset + 1, offset)
                        if commit_every is not None and self._n_acked >= commit_every:
                            self._n_acked = 0
                            await self.commit()
                        if message.topic in intake_of:
                            taken = handed.get(tp)
                            if taken is None:
                                handed[tp] = [message]
                            else:
                                taken.append(message)
                        elif fast_path and deliverable(self, tp):
                            stats[0] += 1
                            await callback(message)
                        else:
                            stats[1] += 1
                            await self.wait_first(
                                callback(message), self.suspend_flow.wait()
                            )
                        set_read_offset(tp, offset)
                    else:
                        self.log.dev(
                            "DROPPED MESSAGE ROFF %r: k=%r v=%r",
                            offset,
                            message.key,
                            message.value,
                        )
                if handed:
                    batches, handed = handed, {}
                    for intake, fetched in _per_intake(intake_of, batches).items():
                        await intake.hand_over(self, fetched)
                unset_flag(flag_consumer_fetching)

    except self.consumer_stopped_errors:
        if self.transport.app.should_stop:
            # we're already stopping so ignore
            self.log.info("Broker stopped consumer, shutting down...")
            return
        raise
    except asyncio.CancelledError:
        if self.transport.app.should_stop:
            # we're already stopping so ignore
            self.log.info("Consumer shutting down for user cancel.")
            return
        raise
    except Exception as exc:
        self.log.exception("Drain messages raised: %r", exc)
        raise
    finally:
        unset_flag(flag_consumer_fetching)


#: messages delivered by [fast path, wait_first path] in this process (diagnostics, tests)
DRAIN_STATS = [0, 0]


# ---------------------------------------------------------------------------- batch intake
#: the app attribute the drain finds its intakes under: topic -> `BatchIntake`
INTAKE_ATTR = "_leadstream_intake"
#: lists of at most `batch_max` records the intake queue holds before the drain waits
INTAKE_QUEUE_LISTS = 8


class BatchIntake:
    """Fetched records of `topics` on their way from the drain to one agent loop, in lists
    (one partition's records of one fetch, at most `batch_max` each); module docstring."""

    def __init__(self, app: Any, topics: Iterable[str], batch_max: int,
                 maxsize: int = INTAKE_QUEUE_LISTS) -> None:
        self.app = app
        self.topics = frozenset(topics)
        self.batch_max = batch_max
        #: unbounded as a Queue (no putters a `clear` could wake); `hand_over` keeps the bound
        self.queue: asyncio.Queue[list[Any]] = asyncio.Queue()
        self.maxsize = maxsize
        self._room = asyncio.Event()
        #: [lists queued, records queued, waits on a full queue, records dropped unacked]
        self.stats = [0, 0, 0, 0]
        app.flow_control.manage_queue(self)  # cleared with Faust's stream queues

    # -- the drain's side
    async def hand_over(self, consumer: Any, fetched: Mapping[Any, list[Any]]) -> None:
        """Queue `fetched` (partition -> records in offset order), tracked, in lists of at
        most `batch_max`; waits while the queue is full. A rebalance that starts meanwhile
        drops what is not queued yet (untracked: fetched again from the committed offset)."""
        flow = self.app.flow_control
        suspended = consumer.suspend_flow
        step = self.batch_max
        for records in fetched.values():
            for i in range(0, len(records), step):
                if suspended.is_set() or not flow.is_active():
                    self.stats[3] += len(records) - i
                    return
                chunk = records[i:i + step]
                track = consumer.track_message
                for m in chunk:
                    m.tracked = True
                    track(m)
                if self.queue.qsize() >= self.maxsize:
                    self.stats[2] += 1
                    await consumer.wait_first(self._wait_room(), suspended.wait())
                    if suspended.is_set() or not flow.is_active() or consumer.should_stop:
                        self._untrack(chunk)
                        self.stats[3] += len(records) - i
                        return
                self.queue.put_nowait(chunk)
                self.stats[0] += 1
                self.stats[1] += len(chunk)

    async def _wait_room(self) -> None:
        while self.queue.qsize() >= self.maxsize:
            self._room.clear()
            await self._room.wait()

    def clear(self) -> None:
        """`FlowControlEvent.clear` (rebalance): drop the queued lists, untracked."""
        while not self.queue.empty():
            chunk = self.queue.get_nowait()
            self._untrack(chunk)
            self.stats[3] += len(chunk)
        self._room.set()

    def _untrack(self, records: Iterable[Any]) -> None:
        unacked = self.app.consumer._unacked_messages
        for m in records:
            m.tracked = False
            unacked.discard(m)

    # -- the agent's side
    async def take(self) -> list[Any]:
        """The next batch: the queued lists (at least one; more while they are below
        `batch_max` together) of the current consumer generation, in queue order."""
        while True:
            batch = list(await self.queue.get())
            while len(batch) < self.batch_max and not self.queue.empty():
                batch.extend(self.queue.get_nowait())
            self._room.set()
            generation = self.app.consumer_generation_id
            if not self.app.flow_control.is_active():
                stale = batch
            else:
                stale = [m for m in batch if m.generation_id != generation]
            if not stale:
                return batch
            self._untrack(stale)
            self.stats[3] += len(stale)
            if len(stale) < len(batch):
                return [m for m in batch if m.generation_id == generation]

    def done(self, batch: Iterable[Any]) -> None:
        """Ack a finished batch's records: Faust may commit past them now."""
        ack = self.app.consumer.ack
        for m in batch:
            ack(m)


def _per_intake(intake_of: Mapping[str, BatchIntake],
                fetched: dict[Any, list[Any]]) -> dict[BatchIntake, dict[Any, list[Any]]]:
    """One fetch's handed records (partition -> records) split by the intake of their topic."""
    out: dict[BatchIntake, dict[Any, list[Any]]] = {}
    for tp, records in fetched.items():
        intake = intake_of[tp.topic]
        per = out.get(intake)
        if per is None:
            out[intake] = {tp: records}
        else:
            per[tp] = records
    return out


def install_intake(app: Any, topics: Iterable[str], batch_max: int) -> BatchIntake:
    """Hand `topics`' records to a `BatchIntake` instead of Faust's streams (the agent that
    subscribes to them then takes its batches from the intake, never from its stream). One
    intake per agent; a topic belongs to one."""
    intake_of: dict[str, BatchIntake] = getattr(app, INTAKE_ATTR, None) or {}
    topics = frozenset(topics)
    taken = topics & intake_of.keys()
    if taken:
        raise ValueError(f"batch intake: {', '.join(sorted(taken))} already taken")
    intake = BatchIntake(app, topics, batch_max)
    intake_of.update(dict.fromkeys(intake.topics, intake))
    setattr(app, INTAKE_ATTR, intake_of)
    log.info("batch intake (INTAKE=batch) for %s, batches of up to %d records",
             ", ".join(sorted(intake.topics)), batch_max)
    return intake

_applied = False


def apply(options: PatchOptions | None = None) -> bool:
    """Install the fixes once and set `OPTIONS` (when given); False (and a warning) on a
    Faust version they were not made for.

    The two broker workarounds (`_highwaters` for the log end probe, `_create_worker_consumer`
    for the fetch wait) are installed only while their option is on: with them off (real
    Kafka, by default) Faust's own methods run, untouched."""
    global _applied, OPTIONS, _orig_highwaters, _orig_create_worker_consumer
    global _orig_really_create_topic
    import faust

    if faust.__version__ not in PATCHED_VERSIONS:
        log.warning("faust %s: fixes in tables/engine_internals.py made for %s, not applied",
                    faust.__version__, sorted(PATCHED_VERSIONS))
        return False
    if options is not None:
        OPTIONS = options
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Transport

    if not _applied:
        from faust.tables.recovery import Recovery
        from faust.transport.consumer import Consumer, ThreadDelegateConsumer

        Recovery.on_recovery_completed = _on_recovery_completed  # type: ignore[method-assign]
        ThreadDelegateConsumer._getmany = _getmany  # type: ignore[method-assign]
        _orig_highwaters = AIOKafkaConsumerThread._highwaters
        _orig_create_worker_consumer = AIOKafkaConsumerThread._create_worker_consumer
        Consumer._drain_messages = _drain_messages  # type: ignore[method-assign]
        _orig_really_create_topic = Transport._really_create_topic
        Transport._really_create_topic = _really_create_topic  # type: ignore[method-assign]
        _applied = True
    AIOKafkaConsumerThread._highwaters = (  # type: ignore[method-assign]
        _highwaters if OPTIONS.log_end_probe else _orig_highwaters)
    AIOKafkaConsumerThread._create_worker_consumer = (  # type: ignore[method-assign]
        _create_worker_consumer if OPTIONS.fetch_max_wait_ms is not None
        else _orig_create_worker_consumer)
    return True


def batch_intakes(app: Any) -> list[BatchIntake]:
    """The app's batch intakes, one per agent that takes its records in batches."""
    intake_of: dict[str, BatchIntake] = getattr(app, INTAKE_ATTR, None) or {}
    return list(dict.fromkeys(intake_of.values()))


def broker_workarounds_active() -> dict[str, bool]:
    """Which embedded-broker workarounds are installed in this process (logged at start)."""
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    return {"log_end_probe": AIOKafkaConsumerThread._highwaters is _highwaters,
            "fetch_wait": AIOKafkaConsumerThread._create_worker_consumer
            is _create_worker_consumer}


# ---------------------------------------------------------------------------- bench only
def force_consumer_fetch_wait(wait_ms: int) -> None:
    """Make every aiokafka consumer this process creates use ``fetch_max_wait_ms=wait_ms``
    (bench/apps/leadstream_fetchwait.py: what a setting for it would give on Tansu)."""
    import aiokafka  # type: ignore[import-untyped]

    original = aiokafka.AIOKafkaConsumer.__init__

    def _init(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs["fetch_max_wait_ms"] = wait_ms
        original(self, *args, **kwargs)

    aiokafka.AIOKafkaConsumer.__init__ = _init  # type: ignore[method-assign]
