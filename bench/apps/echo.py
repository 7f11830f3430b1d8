"""Baseline "echo": a Faust agent that forwards every record unchanged to $BENCH_OUT
(`await topic.send` per event). Its latency is the floor of any Faust decision latency on
this broker with these settings (bench/throughput.py --only echo).

    BENCH_...=... python -m faust -A bench.apps.echo worker -l warn
"""

from __future__ import annotations

import os

from bench.apps._common import make_app

app = make_app()
source = app.topic(os.environ["BENCH_TOPIC"], key_type=bytes, value_type=bytes,
                   key_serializer="raw", value_serializer="raw")
out = app.topic(os.environ["BENCH_OUT"], key_type=bytes, value_type=bytes,
                key_serializer="raw", value_serializer="raw")


@app.agent(source)
async def echo(stream):  # type: ignore[no-untyped-def]
    async for event in stream.events():
        await out.send(key=event.key, value=event.value)
