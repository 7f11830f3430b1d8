"""Consumer-state diagnostics for stall hunting, on only when ``LEADSTREAM_DIAG`` is set.

Every ``LEADSTREAM_DIAG`` seconds (e.g. ``LEADSTREAM_DIAG=2``) the worker logs, at WARNING so
it shows at any level: Faust's active / paused / buffered partitions of the input topics, the
aiokafka consumer's own paused set and positions, flow control and rebalance flags, and the
agents' queue sizes. The test harness passes the variable through to its workers.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from tables.engine_internals import (
    aiokafka_consumer,
    batch_intakes,
    committed_offset,
    fetch_position,
    partition_sets,
    pending_pressure_drops,
)

log = logging.getLogger("leadstream.diag")


def interval() -> float | None:
    raw = os.environ.get("LEADSTREAM_DIAG")
    if not raw:
        return None
    try:
        return max(0.2, float(raw))
    except ValueError:
        return 2.0


def _short(tps: Any, inputs: set[str]) -> str:
    out: dict[str, list[int]] = {}
    for tp in tps or ():
        if tp.topic in inputs:
            out.setdefault(tp.topic.rsplit(".", 1)[-1], []).append(tp.partition)
    return " ".join(f"{t}:{sorted(p)}" for t, p in sorted(out.items())) or "-"


def snapshot(app: Any, inputs: set[str]) -> str:
    c = app.consumer
    parts = [f"flow_active={getattr(c, 'flow_active', '?')}",
             f"flow_control={'suspended' if app.flow_control.is_active() is False else 'on'}",
             f"rebalancing={app.rebalancing}", f"in_recovery={app.in_recovery}",
             f"gen={app.consumer_generation_id}"]
    parts += [f"{name}[{_short(tps, inputs)}]" for name, tps in partition_sets(c).items()]
    try:
        ak = aiokafka_consumer(c)
        parts.append(f"ak_paused[{_short(ak.paused(), inputs)}]")
        pos = []
        for tp in sorted(ak.assignment(), key=lambda t: (t.topic, t.partition)):
            if tp.topic in inputs:
                pos.append(f"{tp.topic.rsplit('.', 1)[-1]}/{tp.partition}@"
                           f"{fetch_position(ak, tp)}/hw{ak.highwater(tp)}"
                           f"/c{committed_offset(c, tp)}")
        parts.append("pos[" + " ".join(pos) + "]")
    except Exception as exc:  # diagnostics only
        parts.append(f"ak=?({exc!r})")
    try:
        qs = []
        for agent in app.agents.values():
            q = getattr(agent.channel, "queue", None)
            if q is not None:
                qs.append(f"{agent.name.rsplit('.', 1)[-1]}={q.qsize()}"
                          f"/p{pending_pressure_drops(q)}")
        parts.append("queues[" + " ".join(qs) + "]")
    except Exception as exc:
        parts.append(f"queues=?({exc!r})")
    for intake in batch_intakes(app):  # lists queued now; lists, records, full waits, dropped
        lists, records, waits, dropped = intake.stats
        parts.append(f"intake[{min(intake.topics)} q={intake.queue.qsize()} lists={lists} "
                     f"records={records} waits={waits} dropped={dropped}]")
    return " ".join(parts)


def install(app: Any, inputs: set[str]) -> None:
    every = interval()
    if every is None:
        return

    @app.timer(every, name="leadstream.diag")
    async def diag() -> None:
        try:
            log.warning("diag %s", snapshot(app, inputs))
        except Exception:
            log.exception("diag failed")
