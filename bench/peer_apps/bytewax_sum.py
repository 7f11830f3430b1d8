"""Bytewax peer (optional subject `bytewax`): per party, a running sum of each interaction
type's default score (`stateful_map`), every new sum sent to Kafka, with recovery snapshots
(bench/peers.py passes `-r DIR`). Run: `python -m bytewax.run bytewax_sum:flow`.

env: PEER_BOOTSTRAP, PEER_EXPECT and PEER_MARKER (peer_progress.py), PEER_SCORES, PEER_OUT
(output topic).
Kafka input: librdkafka, one reader per partition, no group, from the beginning, stops at
the end (tail=False).
"""

from __future__ import annotations

import json
import os
from typing import Any

import bytewax.operators as op
import orjson
from bytewax.connectors.kafka import KafkaSinkMessage
from bytewax.connectors.kafka import operators as kop
from bytewax.dataflow import Dataflow
from confluent_kafka import OFFSET_BEGINNING
from peer_progress import Progress

ENV = os.environ
SCORES: dict[str, int] = json.loads(ENV["PEER_SCORES"])
PROGRESS = Progress()


def add(total: int | None, value: dict[str, Any]) -> tuple[int, int]:
    total = (total or 0) + SCORES.get(value["type"], 0)
    PROGRESS.seen()
    return total, total


flow = Dataflow("peer_bytewax")
src = kop.input("in", flow, brokers=[ENV["PEER_BOOTSTRAP"]], topics=["interactions"],
                tail=False, starting_offset=OFFSET_BEGINNING, batch_size=1000)
pairs = op.map("kv", src.oks, lambda m: (m.key.decode(), orjson.loads(m.value)))
sums = op.stateful_map("sum", pairs, add)
msgs = op.map("ser", sums, lambda kv: KafkaSinkMessage(kv[0].encode(), b"%d" % kv[1]))
kop.output("out", msgs, brokers=[ENV["PEER_BOOTSTRAP"]], topic=ENV["PEER_OUT"],
           add_config={"linger.ms": "5"})
