"""Baseline "naive": what a user writes first. JSON values, per event
``table[party] += score`` on a RocksDB table (score = the type's seeded default score).

    BENCH_...=... python -m faust -A bench.apps.naive worker -l warn
"""

from __future__ import annotations

import os

from bench.apps._common import Marker, make_app
from bench.data import DEFAULT_SCORES

app = make_app()
topic = app.topic(os.environ["BENCH_TOPIC"], key_type=str, value_serializer="json")
scores = app.Table("scores", default=int, partitions=4)
marker = Marker()


@app.agent(topic)
async def score(stream):  # type: ignore[no-untyped-def]
    async for value in stream:
        scores[value["party_id"]] += DEFAULT_SCORES.get(value["type"], 0)
        marker.tick()
