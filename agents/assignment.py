"""Assignment agent: the one owner of each territory's state (CONTRACT §11).

Reads `leadstream-assignments`, keyed by territory id (the Kafka Streams repartition
pattern), so every request for one territory reaches one partition and one worker, which
decides them one at a time in arrival order: capacity holds exactly across all partitions
and workers. Table `territories`: territory id -> ``{"state": TerritoryState.to_json(),
"progress": {sender: [offset, i]}}``. Requests (JSON), sent by the processing agent and by
this agent:

- ``assign`` {lead_id, party_id, tried, trigger, at, request}: `tried[0]` is this territory.
  A member under capacity takes the lead (smooth weighted round-robin, core/assignment.py);
  the decision goes back to the lead's party partition as an ASSIGNED lead event. All full:
  the request goes on to `tried[1]`'s partition; nothing left: the fallback.
- ``release`` {lead_id}: the lead closed, was deleted, reassigned or owned by hand.
- ``hold`` {lead_id, owner}: a closed lead opened again counts again.

Every request carries its sender (``src``: the sender's input partition, ``le3``, ``as1``)
and ``seq`` ([the sender's input offset, index]); requests of one sender reach a territory in
that order, so a request at or below the territory's progress for its sender was applied
already (a redelivery, or a sender that crashed and sent it again) and is skipped. As in the
other agents, outputs go out before the state that says they were sent; state changes are by
lead id, so even a request applied twice would not count a load twice.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from agents.runtime import Runtime
from core import assignment as asg
from models.records import LeadEvent, LeadEventKind
from ops import metrics
from streaming.codecs import dumps
from tables.batch import TableBatch

log = logging.getLogger("leadstream.agents.assignment")

AGENT = "assignment"
OPS = ("assign", "release", "hold")


def register(rt: Runtime) -> Any:
    names = rt.topics.names
    territories = TableBatch(rt.tables.territories)

    async def handle(message: Any, received: float) -> None:
        try:
            req = orjson.loads(message.value or b"")
            tid = (message.key or b"").decode()
            if not isinstance(req, dict) or req.get("op") not in OPS or not tid \
                    or not isinstance(req.get("lead_id"), str):
                raise ValueError("needs op, lead_id and a territory key")
            if req["op"] == "assign" and not (isinstance(req.get("tried"), list)
                                              and req["tried"][:1] == [tid]
                                              and isinstance(req.get("party_id"), str)):
                raise ValueError("assign needs party_id and tried starting with the key")
        except Exception as exc:
            await rt.dead_letter(message, f"bad assignment request: {type(exc).__name__}: "
                                 f"{exc}", "invalid_assignment_request", AGENT)
            return
        home = rt.home_partition(message.topic, tid)
        if home != message.partition:  # a producer that did not partition by key
            await rt.send(message.topic, message.key, message.value, partition=home)
            return
        key = tid.encode()
        raw = territories.get(message.partition, key)
        stored: dict[str, Any] = orjson.loads(raw) if raw else {}
        progress: dict[str, Any] = stored.get("progress") or {}
        src, seq = req.get("src"), req.get("seq")
        if isinstance(src, str) and isinstance(seq, list):
            if src in progress and list(progress[src]) >= seq:
                return  # applied already
            progress[src] = seq
        state = asg.TerritoryState.from_json(stored.get("state"))
        rules = rt.holder.current
        comp = asg.compiled(rules)
        territory = comp.by_id.get(tid)
        lead_id = req["lead_id"]
        if req["op"] == "assign":
            owner = state.assign(territory, lead_id) if territory is not None else None
            rest = [str(t) for t in req["tried"][1:]]
            if owner is None and rest:
                nxt = {**req, "tried": rest, "seq": [message.offset, 0],
                       "src": rt.source(message.topic, message.partition)}
                await rt.send(names.assignments, rest[0].encode(), dumps(nxt))
            else:
                decided = (tid, owner) if owner is not None else (None, comp.fallback)
                ev = LeadEvent(LeadEventKind.ASSIGNED, lead_id, req["party_id"],
                               str(req.get("at")), rules.version, assignment={
                                   "territory_id": decided[0], "owner": decided[1],
                                   "trigger": req.get("trigger"),
                                   "request": req.get("request")})
                await rt.send(names.lead_events, req["party_id"].encode(),
                              dumps(ev.to_json()))
        elif req["op"] == "release":
            state.release(lead_id)
        elif territory is not None and territory.member(str(req.get("owner"))) is not None:
            state.hold(str(req["owner"]), lead_id)
        territories.put(message.partition, key,
                        dumps({"state": state.to_json(), "progress": progress}))
        if territory is not None:
            for m in territory.members:
                metrics.MEMBER_LOAD.labels(territory=tid, member=m.resource).set(
                    state.load(m.resource))

    @rt.app.agent(rt.topics.assignments, name="leadstream.assignment", concurrency=1)
    async def assignment(stream: Any) -> None:
        await rt.consume(stream, handle, AGENT, phases=[(), [(territories, True, True)]])

    return assignment


def local_territories(rt: Runtime) -> dict[str, dict[str, int]]:
    """Open leads per member of the territories of this worker's partitions (for
    `GET /territories`; lead ids stay inside)."""
    out: dict[str, dict[str, int]] = {}
    topic = rt.topics.names.assignments
    try:  # the partitions this worker owns, not its standby copies
        mine = {tp.partition for tp in rt.app.consumer.assignment() if tp.topic == topic}
    except Exception:
        mine = None
    for partition, db in list(getattr(rt.tables.territories.data, "_dbs", {}).items()):
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
