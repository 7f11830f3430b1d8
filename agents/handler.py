"""What an agent is: a handler object with a per-record step, run by `Runtime.consume`.

Each agent module defines one handler class (its record step `handle(message, received)`
and the helpers it uses, as methods) and a `register(rt)` that builds the handler and
declares its Faust agent. The step is a plain coroutine over a message with ``topic``,
``partition``, ``offset``, ``key``, ``value`` and ``headers``, so it is unit-tested with plain
objects and a Runtime whose sends are recorded (tests/agents/), while the broker-backed
tests run the same object under Faust.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from agents.runtime import Drain, Runtime
from streaming.codecs import dumps
from tables.batch import TableBatch

if TYPE_CHECKING:
    from tables.engine_internals import BatchIntake


class AgentHandler:
    """One agent's record step (`handle`) and the table writes that end its batches
    (`phases`)."""

    #: the agent's name in logs, dead letters and report shares (`Runtime.consume`)
    agent: ClassVar[str]
    #: INTAKE=batch: where the agent takes its records from instead of its Faust stream
    intake: BatchIntake | None = None

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.names = rt.topics.names

    async def handle(self, message: Any, received: float) -> None:
        """Decide one record (`received`: its receipt time, from `time.perf_counter`)."""
        raise NotImplementedError

    def phases(self) -> Sequence[Sequence[Drain]]:
        """The table writes sent at the end of a batch, phase by phase (`Runtime.consume`):
        none by default (a stateless agent)."""
        return ()

    async def dead_letter(self, message: Any, reason: str, code: str) -> None:
        await self.rt.dead_letter(message, reason, code, self.agent)

    async def send_import_result(self, result: dict[str, Any]) -> None:
        """An import's result to `lead-import-results` (keyed by its import_interface_id),
        counted in the report."""
        key = result.get("import_interface_id")
        await self.rt.send(self.names.lead_import_results, key.encode() if key else None,
                           dumps(result))
        self.rt.count_import(result)

    async def run(self, stream: Any) -> None:
        if self.intake is not None:
            await self.rt.consume_intake(self.intake, self.handle, self.agent,
                                         phases=self.phases())
        else:
            await self.rt.consume(stream, self.handle, self.agent, phases=self.phases())

    def declare(self, topic: Any, name: str) -> Any:
        """The Faust agent that runs this handler over `topic`: one per worker
        (concurrency 1), so a partition's records are decided one at a time, in order."""
        return self.rt.app.agent(topic, name=name, concurrency=1)(self.run)


class TableHandler(AgentHandler):
    """An agent that keeps one table (`table`, a `TableBatch`). Its writes go in a phase after
    the batch's outputs, once the broker has those: a stored value that says a record was
    handled never stands for outputs that were lost."""

    def __init__(self, rt: Runtime, table: TableBatch) -> None:
        super().__init__(rt)
        self.table = table

    def phases(self) -> Sequence[Sequence[Drain]]:
        return [(), [(self.table, True, True)]]
