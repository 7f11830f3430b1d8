"""The streaming job's durable Lead Linking Report counts (CONTRACT §12).

Each agent keeps, per input partition, its share of the report's count sections in the
`reports` table (key: the agent's name, in that partition), together with the offset of
the last record of each source topic partition it counted: ``{"o": {source: offset},
"c": counts}``. The table is changelogged, so the counts survive restarts and `kill -9`
(the local store is rebuilt from the changelog after an unclean stop) and move with their
partition on a rebalance; a worker's report is the sum over its active partitions, and
`/reports/lead-linking` sums the workers (ops/web.py).

Why the counts do not double when a batch is delivered again (at-least-once): a record whose
offset is not above the share's progress for its source is not counted again. The share is
written with the batch's outputs, in the first phase of the batch's end, before the commit
points (party headers, lead snapshots) of the later phases (agents/runtime.py):
- lost before it reached the changelog: its records come again, are decided again (from
  state that does not show them either) and counted again, once;
- stored, but the commit point lost (a kill between the phases): the records come again, the
  agent decides them again from the old state, sends the same outputs (ids derive from input
  ids) and the share, which already counted them, skips them;
- both stored: the agent skips the records (its state shows them) and so does the share.
Stateless decisions (REJECTED records, import ERRORs, dead letters) are covered the same way.
Left open: a record decided otherwise the second time (rules reloaded between the kill and the
redelivery) keeps the counts of its first decision.

The funnel is not counted here: it is computed from the final lead snapshots of the `leads`
table when the report is asked for (`funnel_of`), so it is exact by construction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from core import report as rep
from tables.batch import TableBatch
from tables.engine_internals import db_for_partition

Share = dict[str, Any]
#: the agents whose decisions the report counts (processing's leads are read, not counted)
COUNTING_AGENTS = frozenset({"feeds", "matching", "imports"})


class ReportShares:
    """One agent's report shares, read and written through a `TableBatch` of `reports`."""

    def __init__(self, table: Any, agent: str) -> None:
        self.batch = TableBatch(table)
        self.key = agent.encode()
        self._open: dict[int, Share] = {}  # partition -> its share, changed by this batch

    def _load(self, partition: int) -> Share:
        share = self._open.get(partition)
        if share is None:
            share = decode(self.batch.get(partition, self.key))
            self._open[partition] = share
        return share

    def counts_for(self, partition: int, source: str, offset: int) -> rep.Report | None:
        """The counts a record goes into, or None when its share already counted it."""
        share = self._load(partition)
        last = share["o"].get(source)
        if last is not None and offset <= last:
            return None
        share["o"][source] = offset
        counts: rep.Report = share["c"]
        return counts

    def end_batch(self) -> None:
        """Queue the changed shares as table writes (sent with the batch's outputs)."""
        for partition, share in self._open.items():
            self.batch.put(partition, self.key, orjson.dumps(share))
        self._open = {}


def decode(raw: bytes | None) -> Share:
    if not raw:
        return {"o": {}, "c": rep.initialize()}
    doc = orjson.loads(raw)
    return {"o": dict(doc.get("o") or {}), "c": rep.merge(rep.initialize(), doc.get("c") or {})}


def stored_counts(table: Any, partitions: Iterable[int]) -> rep.Report:
    """The sum of every agent's stored share in `partitions` (this worker's active ones)."""
    total = rep.initialize()
    store = table.data
    for p in partitions:
        db = db_for_partition(store, p)
        for agent in sorted(COUNTING_AGENTS):
            raw = db.get(agent.encode())
            if raw is not None:
                total = rep.merge(total, decode(bytes(raw))["c"])
    return total


def stored_leads(table: Any, partitions: Iterable[int]) -> Iterator[dict[str, Any] | None]:
    """The lead snapshots of the `leads` table in `partitions` (None: unreadable/deleted)."""
    store = table.data
    for p in partitions:
        db = db_for_partition(store, p)
        it = db.iter()
        it.seek_to_first()
        while it.valid():
            if bytes(it.key()).startswith(b"__faust"):  # Faust's own offset key
                it.next()
                continue
            raw = it.value()
            try:
                doc = orjson.loads(bytes(raw)) if raw else None
            except orjson.JSONDecodeError:
                doc = None
            lead = doc.get("lead") if isinstance(doc, dict) else None
            deleted = isinstance(doc, dict) and bool(doc.get("deleted"))
            yield lead if isinstance(lead, dict) and not deleted else None
            it.next()


def funnel_of(leads: Iterable[dict[str, Any] | None], rules: Any) -> dict[str, Any]:
    statuses = rules.config.lead_statuses
    return rep.funnel(leads, [s.code for s in statuses if s.open],
                      [s.code for s in statuses if s.won])
