"""What every agent shares: the app, settings, rules holder, topics, tables, and how to send.

Agents handle records in batches (`Stream.take_events`: up to `BATCH_MAX` records, or what
arrived within `BATCH_WITHIN_MS`). While a batch runs, `send` only queues the record in the
batch's outbox and table writes stay in `TableBatch`es; at the end of the batch the outbox and
the table writes go out as record batches in phases (`consume`), then Faust acks the batch's
events. Faust flushes the producer before it commits source offsets
(faust/transport/consumer.py `_commit_offsets`), so everything a batch sent and wrote is in
Kafka before its offsets are committed; a batch that cannot be sent stops the worker
(`exit_worker`).

Origin headers: a record an agent forwards to another input of the job (feeds ->
interactions, imports -> party-imports, a re-keyed record) carries ``ls-origin`` (source
code + partition, e.g. ``fc2``) and ``ls-origin-offset``. The matching agent keeps progress
for the origin too, so a forward repeated after a crash is recognised and changes nothing.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agents.outbox import send_records
from agents.report_state import (
    COUNTING_AGENTS,
    ReportShares,
    funnel_of,
    stored_counts,
    stored_leads,
)
from core import report as rep
from models.records import Link, Outcome
from ops import metrics
from rules.holder import RulesHolder
from streaming.codecs import dumps, encode_key, header
from streaming.deadletter import dead_letter_headers, headers_list
from streaming.murmur2 import murmur2
from streaming.settings import Settings
from streaming.topics import Topics
from tables.batch import Record, TableBatch
from tables.definitions import Tables
from tables.engine_internals import BatchIntake, install_intake, kafka_producer

log = logging.getLogger("leadstream.agents")

ORIGIN = "ls-origin"
ORIGIN_OFFSET = "ls-origin-offset"


# An agent's per-record step: (message, receipt time from perf_counter) -> None.
Handler = Callable[[Any, float], Awaitable[None]]

#: table writes to send at the end of a batch: (table, its puts?, its deletions?)
Drain = tuple[TableBatch, bool, bool]
#: exit status of a worker that stopped itself because a batch's results could not be sent
EXIT_UNSENT = 70


def exit_worker(agent: str, exc: BaseException) -> None:
    """Fail-stop: a batch whose outputs or table writes could not be sent must not be acked
    (Faust's `take_events` acks a batch's events however its consumer ends, and a restarted
    agent would go on without them). Exiting at once leaves the offsets uncommitted and the
    ``worker.running`` marker behind, so the next start rebuilds the local tables from the
    changelogs and the batch is delivered again (job/worker.py)."""
    log.critical("agent %s could not send a batch's results (%s: %s); stopping the worker "
                 "so the batch is delivered again", agent, type(exc).__name__, exc,
                 exc_info=exc)
    from streaming.shutdown import record_exit

    record_exit("fail_stop")
    logging.shutdown()
    os._exit(EXIT_UNSENT)


def _traceback_without_values(exc: BaseException) -> str:
    """The stack of `exc` without exception messages, which may quote a record's values."""
    import traceback

    frames = "".join(traceback.format_tb(exc.__traceback__))
    return f"Traceback (most recent call last):\n{frames}{type(exc).__name__} (message withheld)"


#: the running batch's outbox (records queued by `Runtime.send`); None outside a batch
_OUTBOX: contextvars.ContextVar[list[Record] | None] = contextvars.ContextVar(
    "leadstream_outbox", default=None)
#: the report counts the running record goes into (agents/report_state.py); None: not counted
#: (outside a batch, or a record its partition's share already counted)
_COUNTS: contextvars.ContextVar[rep.Report | None] = contextvars.ContextVar(
    "leadstream_report_counts", default=None)


@dataclass
class Runtime:
    app: Any
    settings: Settings
    holder: RulesHolder
    topics: Topics
    tables: Tables
    ready: bool = False
    started_at: float = field(default_factory=time.monotonic)
    #: last offset handled per (topic, partition) of the input topics (consumer lag gauge)
    positions: dict[tuple[str, int], int] = field(default_factory=dict)
    #: called when a batch fails after its records were handled (`exit_worker`; tests swap it)
    fail_stop: Callable[[str, BaseException], None] = exit_worker
    #: repair epoch (state/party.py): drawn at start and at every partition assignment
    epoch: int = field(default_factory=lambda: secrets.randbits(48) | 1)
    #: each agent's durable report shares (the `reports` table)
    shares: dict[str, ReportShares] = field(default_factory=dict)

    def new_epoch(self) -> None:
        self.epoch = secrets.randbits(48) | 1

    # ------------------------------------------------------------------ partitions
    def partitions_of(self, topic: str) -> int:
        n = None
        try:
            n = self.app.consumer.topic_partitions(topic)
        except Exception:  # consumer not started (tests) or metadata not fetched yet
            n = None
        return int(n) if n else self.settings.topic_partitions

    def home_partition(self, topic: str, key: str) -> int:
        """The partition Kafka's default partitioner (murmur2, as Java and aiokafka) picks."""
        return _key_hash(key) % self.partitions_of(topic)

    async def sent_home(self, message: Any, key: str) -> bool:
        """Whether the record was re-sent to its key's home partition (its key does not place
        it on this one: a producer that keys or partitions differently); then it is handled
        there, not here."""
        home = self.home_partition(message.topic, key)
        if home == message.partition:
            return False
        await self.forward(message.topic, key, message, partition=home)
        return True

    def source(self, topic: str, partition: int) -> str:
        """Progress key of a topic partition: ``i0``, ``u3``, ``fc1``..."""
        return f"{self.topics.names.code(topic)}{partition}"

    # ------------------------------------------------------------------ sending
    async def send(self, topic: str, key: bytes | None, value: bytes | None,
                   headers: list[tuple[str, bytes]] | None = None,
                   partition: int | None = None) -> None:
        outbox = _OUTBOX.get()
        if outbox is not None:
            outbox.append((topic, key, value, headers, partition))
        else:
            await self.app.producer.send(topic, key, value, partition, None, headers)

    async def _send_outbox(self, tables: Sequence[Drain], wait: bool) -> None:
        """Send the batch's queued records and `tables`' drained changelog records; with
        `wait`, until the broker has them all."""
        queued: list[Record] = list(_OUTBOX.get() or [])
        _OUTBOX.set(None)
        for batch, puts, deletes in tables:
            queued.extend(batch.drain(puts, deletes))
        if not queued:
            return
        sent, futures = await send_records(kafka_producer(self.app), queued)
        for batch, _puts, _deletes in tables:
            batch.note_sent(sent)
        if wait:
            await asyncio.gather(*futures)

    async def send_outcomes(self, outcomes: Iterable[Outcome]) -> None:
        topic = self.topics.names.interaction_outcomes
        for o in outcomes:
            await self.send(topic, encode_key(o.interaction_id), dumps(o.to_json()))
            metrics.interactions_counter(o.outcome.value).inc()
        counts = _COUNTS.get()
        if counts is not None:
            rep.agg_all(counts, outcomes)

    async def send_links(self, links: Iterable[Link]) -> None:
        topic = self.topics.names.interaction_leads
        for lk in links:
            await self.send(topic, lk.interaction_lead_id.encode(), dumps(lk.to_json()))
            metrics.LINKS.inc()
            counts = _COUNTS.get()
            if counts is not None:
                rep.agg_link(counts, lk)

    def count_import(self, result: dict[str, Any]) -> None:
        """Count an import result sent by the running record (in its batch and `batch_id`)."""
        counts = _COUNTS.get()
        if counts is not None:
            rep.agg_import(counts, result)

    # ------------------------------------------------------------------ the report
    def active_partitions(self) -> set[int]:
        """Partition numbers this worker owns (every input topic, and so every table, is
        partitioned alike)."""
        try:
            assigned = self.app.consumer.assignment()
        except Exception:
            return set()
        n = self.topics.names
        inputs = {n.interactions, n.lead_updates, n.party_imports, n.feed_callcenter,
                  n.feed_web, n.lead_imports, n.lead_events}
        return {tp.partition for tp in assigned if tp.topic in inputs}

    async def report_share(self) -> dict[str, Any]:
        """This worker's share of the Lead Linking Report: the stored counts of its active
        partitions and the funnel of its leads (ops/web.py sums the workers' shares).
        `complete` is false while the worker recovers or rebalances (its partitions' tables
        may not be whole yet). The leads are scanned in slices, yielding to the event loop."""
        parts = sorted(self.active_partitions())
        complete = bool(self.ready) and not getattr(self.app, "rebalancing", False)
        counts = (stored_counts(self.tables.reports, parts) if self.tables.reports is not None
                  else rep.initialize())
        doc: dict[str, Any] = rep.counts_of(counts)
        leads: list[dict[str, Any] | None] = []
        try:
            for n, lead in enumerate(stored_leads(self.tables.leads, parts), start=1):
                leads.append(lead)
                if n % 2000 == 0:
                    await asyncio.sleep(0)
        except Exception as exc:  # a partition closed by a rebalance meanwhile
            log.info("report: leads scan stopped (%s); share marked incomplete",
                     type(exc).__name__)
            complete = False
        doc["funnel"] = funnel_of(leads, self.holder.current)
        doc["partitions"] = parts
        doc["complete"] = complete
        return doc

    async def dead_letter(self, message: Any, reason: str, code: str, agent: str) -> None:
        headers = dead_letter_headers(
            topic=message.topic, partition=message.partition, offset=message.offset,
            reason=reason, code=code, agent=agent, original=headers_list(message.headers),
        )
        await self.send(self.topics.names.dead_letters, message.key, message.value or b"",
                        headers)
        # the reason may quote a value of the record: it goes in the dead letter's headers,
        # the log names the record and the code only (CONTRACT §9)
        log.info("dead letter from %s[%s]@%s: %s", message.topic, message.partition,
                 message.offset, code)

    async def forward(self, topic: str, key: str, message: Any, value: bytes | None = None,
                      partition: int | None = None,
                      extra: list[tuple[str, bytes]] | None = None) -> None:
        """Send `value` (default: the message's bytes) on to another input of the job, with
        origin headers (kept from the message when it has them) and `extra` headers."""
        origin = header(message.headers, ORIGIN)
        if origin is not None and header(message.headers, ORIGIN_OFFSET) is not None:
            headers = [(k, v if isinstance(v, bytes) else str(v).encode())
                       for k, v in headers_list(message.headers)]
        else:
            headers = [
                (ORIGIN, self.source(message.topic, message.partition).encode()),
                (ORIGIN_OFFSET, str(message.offset).encode()),
            ]
        if extra:
            names = {k for k, _ in extra}
            headers = [h for h in headers if h[0] not in names] + list(extra)
        await self.send(topic, key.encode(), message.value if value is None else value,
                        headers, partition)

    def note_position(self, message: Any) -> None:
        self.positions[(message.topic, message.partition)] = message.offset

    async def consume(self, stream: Any, handle: Handler, agent: str,
                      phases: Sequence[Sequence[Drain]] = ()) -> None:
        """The loop every agent runs: batches of records (module docstring), each record
        handled in arrival order; an exception in one record is logged and dead-lettered,
        never allowed to stop the partition (NOTES-stack).

        End of a batch: `phases` of table writes, each sent only once the broker has every
        record of the phase before (the last one is not awaited); the batch's outputs go with
        the first phase. An agent's commit point (a party header, a lead) is a later phase
        than its outputs, so a state that says a record was applied is never in Kafka without
        that record's outputs, with one broker or several; what the commit point stops using
        (a big party's deleted parts) is deleted in a phase after it.

        `take_events` acks a batch's events when the loop moves on, even if the loop was
        cancelled (a worker stopping), so a batch is finished under `asyncio.shield` before a
        cancellation is let through. A batch that fails after its records were handled (its
        results could not be sent) stops the worker: `fail_stop`."""
        max_n, within = self.settings.batch_max, self.settings.batch_within_ms / 1000.0
        async for events in stream.take_events(max_n, within):
            await self._finish(self._run_batch([e.message for e in events], handle, agent,
                                               phases), agent)

    def intake(self, topics: Iterable[str]) -> BatchIntake | None:
        """With INTAKE=batch, the `BatchIntake` that hands `topics`' fetched records to
        `consume_intake` (installed before the app starts); None: take them as events."""
        if self.settings.intake != "batch":
            return None
        return install_intake(self.app, topics, self.settings.batch_max)

    async def consume_intake(self, intake: BatchIntake, handle: Handler, agent: str,
                             phases: Sequence[Sequence[Drain]] = ()) -> None:
        """`consume` over the batches of a `BatchIntake` (the lists the fetch returned, no
        Event per record): the same handling and phases; a batch's records are acked only once
        its phases are done, so Faust commits past them only then."""
        while True:
            messages = await intake.take()
            await self._finish(self._run_batch(messages, handle, agent, phases,
                                               done=intake.done), agent)

    async def _finish(self, batch: Awaitable[None], agent: str) -> None:
        """Run a batch to its end even when the loop is cancelled (see `consume`)."""
        task = asyncio.ensure_future(batch)
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            await asyncio.wait([task])
            if not task.cancelled() and task.exception() is not None:
                self.fail_stop(agent, task.exception())  # type: ignore[arg-type]
            raise
        except Exception as exc:  # a record's own failure is dead-lettered in the batch
            self.fail_stop(agent, exc)
            raise

    async def _run_batch(self, messages: list[Any], handle: Handler, agent: str,
                         phases: Sequence[Sequence[Drain]],
                         done: Callable[[list[Any]], None] | None = None) -> None:
        log = logging.getLogger(f"leadstream.agents.{agent}")
        _OUTBOX.set([])  # this task's own (the batch runs in a task of its own)
        shares = self._shares(agent)
        for message in messages:
            if shares is not None:
                _COUNTS.set(shares.counts_for(
                    message.partition, self.source(message.topic, message.partition),
                    message.offset))
            try:
                await handle(message, time.perf_counter())
            except Exception as exc:
                log.error("record %s[%s]@%s failed: %s\n%s", message.topic,
                          message.partition, message.offset, type(exc).__name__,
                          _traceback_without_values(exc))
                await self.dead_letter(message, f"{type(exc).__name__}: {exc}", "error", agent)
            self.note_position(message)
        _COUNTS.set(None)
        steps = [list(p) for p in phases] or [[]]
        if shares is not None:  # the counts go with the outputs (agents/report_state.py)
            shares.end_batch()
            steps[0].append((shares.batch, True, True))
        for i, tables in enumerate(steps):
            await self._send_outbox(tables, wait=i + 1 < len(steps))
        if done is not None:
            done(messages)
        metrics.BATCH_SIZE.labels(agent=agent).observe(len(messages))


    def _shares(self, agent: str) -> ReportShares | None:
        if getattr(self.tables, "reports", None) is None or agent not in COUNTING_AGENTS:
            return None
        shares = self.shares.get(agent)
        if shares is None:
            shares = self.shares[agent] = ReportShares(self.tables.reports, agent)
        return shares


@functools.lru_cache(maxsize=65536)
def _key_hash(key: str) -> int:
    """murmur2 (Kafka's default partitioner hash) of a party key, positive; cached, since a
    busy party's records all ask for it."""
    return int(murmur2(key.encode()) & 0x7FFFFFFF)


def origin_of(message: Any) -> tuple[str, int] | None:
    """(origin source, origin offset) from the message headers, or None."""
    origin = header(message.headers, ORIGIN)
    raw_offset = header(message.headers, ORIGIN_OFFSET)
    if origin is None or raw_offset is None:
        return None
    try:
        return origin, int(raw_offset)
    except ValueError:
        return None
