"""What the agent handler tests run on instead of a worker: plain messages, a Runtime whose
sends are recorded (outside a batch `Runtime.send` goes straight to `app.producer`), and
tables that are real `TableBatch`es over RocksDB in a temporary directory
(tests/state/backends.py). `commit` ends a batch as `Runtime.consume` does, phase by phase,
so what a later record reads is what a committed batch stored."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import orjson

from agents.handler import AgentHandler
from agents.runtime import Runtime
from rules.compiled import Rules
from rules.holder import RulesHolder
from streaming.codecs import header
from streaming.settings import load_settings
from streaming.topics import TopicNames
from tables.batch import TableBatch
from tests.builders import make_rules
from tests.state.backends import FakeTable

NAMES = TopicNames.with_prefix("")


@dataclass
class Message:
    """A consumed record as an agent sees it (`event.message`)."""

    topic: str
    value: bytes | None
    key: bytes | None = None
    partition: int = 0
    offset: int = 0
    headers: list[tuple[str, bytes]] = field(default_factory=list)


def message(topic: str, doc: Any, key: str | None = None, offset: int = 0,
            partition: int = 0, headers: list[tuple[str, bytes]] | None = None) -> Message:
    """A record whose value is `doc` as JSON (bytes and None as they are)."""
    value = doc if doc is None or isinstance(doc, bytes) else orjson.dumps(doc)
    return Message(topic, value, key.encode() if key is not None else None, partition,
                   offset, list(headers or []))


@dataclass
class Sent:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    partition: int | None

    def json(self) -> Any:
        return orjson.loads(self.value) if self.value is not None else None

    def header(self, name: str) -> str | None:
        return header(self.headers, name)


class Producer:
    """Stands for `app.producer`: records every send."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []

    async def send(self, topic: str, key: bytes | None, value: bytes | None,
                   partition: int | None, timestamp: None,
                   headers: list[tuple[str, bytes]] | None) -> None:
        self.sent.append(Sent(topic, key, value, list(headers or []), partition))

    def to(self, topic: str) -> list[Sent]:
        return [s for s in self.sent if s.topic == topic]

    def topics(self) -> list[str]:
        return [s.topic for s in self.sent]

    def clear(self) -> None:
        self.sent.clear()


def runtime(rules: Rules | None = None, partitions: int = 1) -> tuple[Runtime, Producer]:
    """A Runtime over `rules` (default: the shipped config) whose topics have `partitions`
    partitions, and the producer that records its sends."""
    producer = Producer()
    rt = Runtime(app=SimpleNamespace(producer=producer),
                 settings=load_settings({"TOPIC_PARTITIONS": str(partitions)}),
                 holder=RulesHolder(rules or make_rules()),
                 topics=SimpleNamespace(names=NAMES),  # type: ignore[arg-type]
                 tables=None)  # type: ignore[arg-type]
    return rt, producer


def table(name: str) -> TableBatch:
    """A table's batch over real RocksDB instances in a temporary directory."""
    return TableBatch(FakeTable(name))


def commit(handler: AgentHandler) -> None:
    """End the running batch: its table writes go to RocksDB in its phases' order."""
    for phase in handler.phases():
        for batch, puts, deletes in phase:
            batch.drain(puts, deletes)


def dead_letter_code(sent: Sent) -> str | None:
    return sent.header("dl-reason-code")
