"""Assignment agent: the one owner of each territory's state (CONTRACT §11).

Reads `leadstream-assignments`, keyed by territory id (the Kafka Streams repartition
pattern), so every request for one territory reaches one partition and one worker, which
decides them one at a time in arrival order: capacity holds exactly across all partitions
and workers. Table `territories`: territory id -> ``{"state": TerritoryState.to_json(),
"progress": {sender: [offset, i]}}``. Requests (JSON), from the processing agent
(core/assign_flow.py) and from this agent:

- ``assign`` {lead_id, party_id, tried, trigger, at, request}: `tried[0]` is this territory.
  A member under capacity takes the lead (smooth weighted round-robin); the decision goes
  back to the lead's party partition as an ASSIGNED lead event. All full: the request goes
  on to `tried[1]`'s partition; nothing left: the fallback.
- ``release`` {lead_id}: the lead closed, was deleted, reassigned or owned by hand.
- ``hold`` {lead_id, owner}: a closed lead opened again counts again.

Per request `core.assignment.territory_step`: a request at or below the territory's
progress for its sender (``src``, ``seq``) was applied already (a redelivery, or a sender
that crashed and sent it again) and is skipped. As in the other agents the outputs go out
before the state that says they were sent; state changes are by lead id, so even a request
applied twice would not count a load twice.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from agents.handler import TableHandler
from agents.runtime import Runtime
from core import assignment as asg
from ops import metrics
from streaming.codecs import dumps
from tables.batch import TableBatch
from tables.engine_internals import open_partition_dbs

log = logging.getLogger("leadstream.agents.assignment")


class AssignmentHandler(TableHandler):
    """Decides a territory's requests in arrival order; `table`: `territories`."""

    agent = "assignment"

    async def handle(self, message: Any, received: float) -> None:
        tid = (message.key or b"").decode(errors="replace")
        try:
            req = orjson.loads(message.value or b"")
        except orjson.JSONDecodeError:
            req = None
        error = asg.request_error(req, tid)
        if error is not None:
            await self.dead_letter(message, f"bad assignment request: {error}",
                                   "invalid_assignment_request")
            return
        rt = self.rt
        home = rt.home_partition(message.topic, tid)
        if home != message.partition:  # a producer that did not partition by key
            await rt.send(message.topic, message.key, message.value, partition=home)
            return
        key = tid.encode()
        raw = self.table.get(message.partition, key)
        step = asg.territory_step(tid, orjson.loads(raw) if raw else None, req,
                                  rt.holder.current,
                                  rt.source(message.topic, message.partition), message.offset)
        if step.stored is None:
            return  # applied already
        if step.forward is not None:
            await rt.send(self.names.assignments, step.forward[0].encode(),
                          dumps(step.forward[1]))
        if step.decided is not None:
            await rt.send(self.names.lead_events, step.decided.party_id.encode(),
                          dumps(step.decided.to_json()))
        self.table.put(message.partition, key, dumps(step.stored))
        for member, load in self.loads(tid, step.stored).items():
            metrics.MEMBER_LOAD.labels(territory=tid, member=member).set(load)

    def loads(self, tid: str, stored: dict[str, Any]) -> dict[str, int]:
        """Open load of the territory's configured members (0 for those without leads)."""
        territory = asg.compiled(self.rt.holder.current).by_id.get(tid)
        if territory is None:
            return {}
        state = asg.TerritoryState.from_json(stored.get("state"))
        return {m.resource: state.load(m.resource) for m in territory.members}


def register(rt: Runtime) -> Any:
    handler = AssignmentHandler(rt, TableBatch(rt.tables.territories))
    return handler.declare(rt.topics.assignments, "leadstream.assignment")


def local_territories(rt: Runtime) -> dict[str, dict[str, int]]:
    """Open leads per member of the territories of this worker's partitions (for
    `GET /territories`; lead ids stay inside)."""
    out: dict[str, dict[str, int]] = {}
    topic = rt.topics.names.assignments
    try:  # the partitions this worker owns, not its standby copies
        mine = {tp.partition for tp in rt.app.consumer.assignment() if tp.topic == topic}
    except Exception:
        mine = None
    for partition, db in open_partition_dbs(rt.tables.territories.data).items():
        if mine is not None and partition not in mine:
            continue
        try:
            it = db.iter()
            it.seek_to_first()
            while it.valid():
                doc = orjson.loads(bytes(it.value()))
                if isinstance(doc, dict):  # not Faust's own offset key
                    out[bytes(it.key()).decode()] = asg.result(
                        asg.TerritoryState.from_json(doc.get("state")))
                it.next()
        except Exception:  # closed by a rebalance meanwhile: what was read
            continue
    return out
