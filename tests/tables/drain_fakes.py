"""A consumer for `tables.engine_internals._drain_messages` without a broker: a real mode
`Service` (wait_first, _stopped, _crashed) with the attributes the drain reads, whose one
fetch yields `fetched` and then stops the drain loop. Tests subclass it for the callback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

from faust.types import TP
from mode import Service


class FakeDrainConsumer(Service):
    consumer_stopped_errors = ()

    def __init__(self, app: Any, partitions: Iterable[TP]) -> None:
        super().__init__()
        self.app = app
        self.transport = SimpleNamespace(app=app)
        self.suspend_flow = asyncio.Event()
        self._read_offset: dict[TP, int | None] = dict.fromkeys(partitions)
        self.diag = SimpleNamespace(set_flag=lambda f: None, unset_flag=lambda f: None)
        self._commit_every = None
        self.fetcher = SimpleNamespace(_stopped=asyncio.Event())
        #: what the one fetch returns: (partition, message) in fetch order
        self.fetched: list[tuple[TP, Any]] = []

    async def callback(self, message: Any) -> None:
        raise NotImplementedError

    async def getmany(self, timeout: float) -> Any:
        for tp, m in self.fetched:
            yield tp, m
        self.fetcher._stopped.set()  # one fetch, then the drain loop ends
