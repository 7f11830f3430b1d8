"""Fixes for faust-streaming 0.15.3, applied by `streaming.app.create_app`.

faust issue #596 (open): after a recovery that read changelogs, `Recovery.on_recovery_completed`
resumes the stream partitions *before* it seeks them to their committed offsets, while the
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
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger("leadstream.faust_patches")

PATCHED_VERSIONS = {"0.15.3"}


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


_applied = False


def apply() -> bool:
    """Install the fix once; False (and a warning) on a Faust version it was not made for."""
    global _applied
    if _applied:
        return True
    import faust
    from faust.tables.recovery import Recovery

    if faust.__version__ not in PATCHED_VERSIONS:
        log.warning("faust %s: recovery fix (faust #596) made for %s, not applied",
                    faust.__version__, sorted(PATCHED_VERSIONS))
        return False
    from faust.transport.consumer import ThreadDelegateConsumer

    Recovery.on_recovery_completed = _on_recovery_completed  # type: ignore[method-assign]
    ThreadDelegateConsumer._getmany = _getmany  # type: ignore[method-assign]
    _applied = True
    return True
