"""Baseline "empty": a Faust agent that does nothing with raw bytes (Faust's own ceiling).

    BENCH_...=... python -m faust -A bench.apps.empty worker -l warn
"""

from __future__ import annotations

import os

from bench.apps._common import Marker, make_app

app = make_app()
topic = app.topic(os.environ["BENCH_TOPIC"], key_type=bytes, value_type=bytes,
                  key_serializer="raw", value_serializer="raw")
marker = Marker()


@app.agent(topic)
async def nothing(stream):  # type: ignore[no-untyped-def]
    async for _ in stream:
        marker.tick()
