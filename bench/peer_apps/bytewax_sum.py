"""Bytewax peer (optional subject `bytewax`): per party, a running sum of each interaction
type's default score (`stateful_map`), every new sum sent to Kafka, with recovery snapshots
(bench/peers.py passes `-r DIR`). Run: `python -m bytewax.run bytewax_sum:flow`.

env: PEER_BOOTSTRAP, PEER_EXPECT, PEER_MARKER, PEER_SCORES, PEER_OUT (output topic).
Kafka input: librdkafka, one reader per partition, no group, from the beginning, stops at
the end (tail=False).
"""

from __future__ import annotations

import json
import os
import resource
import time
from pathlib import Path
from typing import Any

import bytewax.operators as op
import orjson
from bytewax.connectors.kafka import KafkaSinkMessage
from bytewax.connectors.kafka import operators as kop
from bytewax.dataflow import Dataflow
from confluent_kafka import OFFSET_BEGINNING

ENV = os.environ
EXPECT = int(ENV["PEER_EXPECT"])
MARKER = Path(ENV["PEER_MARKER"])
SCORES: dict[str, int] = json.loads(ENV["PEER_SCORES"])
_count = 0
_first = 0.0
_cpu0 = 0.0


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def add(total: int | None, value: dict[str, Any]) -> tuple[int, int]:
    global _count, _first, _cpu0
    total = (total or 0) + SCORES.get(value["type"], 0)
    _count += 1
    if _count == 1:
        _first, _cpu0 = time.time(), _cpu()
    if _count == EXPECT:
        tmp = MARKER.with_suffix(".tmp")
        tmp.write_text(json.dumps({"first": _first, "last": time.time(), "count": _count,
                                   "cpu_s": _cpu() - _cpu0}))
        tmp.rename(MARKER)
    return total, total


flow = Dataflow("peer_bytewax")
src = kop.input("in", flow, brokers=[ENV["PEER_BOOTSTRAP"]], topics=["interactions"],
                tail=False, starting_offset=OFFSET_BEGINNING, batch_size=1000)
pairs = op.map("kv", src.oks, lambda m: (m.key.decode(), orjson.loads(m.value)))
sums = op.stateful_map("sum", pairs, add)
msgs = op.map("ser", sums, lambda kv: KafkaSinkMessage(kv[0].encode(), b"%d" % kv[1]))
kop.output("out", msgs, brokers=[ENV["PEER_BOOTSTRAP"]], topic=ENV["PEER_OUT"],
           add_config={"linger.ms": "5"})
