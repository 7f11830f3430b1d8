"""A fix for faust-streaming 0.15.3, applied by `streaming.app.create_app`.

faust issue #596 (open): after a recovery that read changelogs, `Recovery.on_recovery_completed`
resumes the stream partitions *before* it seeks them to their committed offsets, while the
Fetcher is already running. Records fetched in between are processed and acked, then fetched
again after the seek and dropped as already read; the acked list loses its head and Faust never
commits that partition again (its lag grows forever; every restart replays it). Seen here on
every restart after a crash (local tables rebuilt from the changelogs) and on rebalances that
move a table partition.

The replacement below is the 0.15.3 method with the seek moved before the resume: no record
of a stream partition can be fetched until its position is the committed offset.
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
    Recovery.on_recovery_completed = _on_recovery_completed  # type: ignore[method-assign]
    _applied = True
    return True
