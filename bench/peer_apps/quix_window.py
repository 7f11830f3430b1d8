"""Quix Streams peer of leadstream's window: per party, a 30-day tumbling event-time window
summing each interaction type's default score, emitting a window when its sum reaches 20.

Runs in the peers' venv (bench/peers.py). env: PEER_BOOTSTRAP, PEER_GROUP, PEER_STATE_DIR,
PEER_EXPECT (records to see), PEER_MARKER (JSON written at the N-th record: wall-clock first
and last, CPU seconds between), PEER_SCORES (JSON type -> score), PEER_ALERTS (output topic).
The app stops itself after the N-th record; its final checkpoint flushes state and changelog.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from typing import Any

from peer_progress import Progress
from quixstreams import Application

ENV = os.environ
SCORES: dict[str, int] = json.loads(ENV["PEER_SCORES"])
THRESHOLD = 20

app = Application(
    broker_address=ENV["PEER_BOOTSTRAP"], consumer_group=ENV["PEER_GROUP"],
    auto_offset_reset="earliest", state_dir=ENV["PEER_STATE_DIR"], loglevel="WARNING",
    commit_interval=5.0, processing_guarantee="at-least-once",
    # as the Faust baselines (session 10 s, heartbeat 1 s): librdkafka's defaults make a
    # group join on the embedded broker take 20+ s; its rebalance timeout is max.poll
    consumer_extra_config={"session.timeout.ms": 10000, "heartbeat.interval.ms": 1000,
                           "max.poll.interval.ms": 10000},
)

PROGRESS = Progress()


def tick(_value: Any) -> None:
    if PROGRESS.seen():
        app.stop()


def event_time(value: Any, headers: Any, timestamp: int, timestamp_type: Any) -> int:
    return int(datetime.fromisoformat(value["occurred_at"]).timestamp() * 1000)


# bytes keys: with str keys Quix 3.28.1's after_update trigger fails in delete_window
# (the raw key is used as a bytes prefix: TypeError str + bytes)
topic = app.topic("interactions", key_deserializer="bytes", value_deserializer="json",
                  timestamp_extractor=event_time)
alerts = app.topic(ENV["PEER_ALERTS"], value_serializer="json")
sdf = app.dataframe(topic)
sdf = sdf.update(tick)
sdf = sdf.apply(lambda v: SCORES.get(v["type"], 0))
sdf = sdf.tumbling_window(timedelta(days=30),
                          after_update=lambda agg, v, k, ts, h: agg >= THRESHOLD).sum().final()
sdf = sdf.filter(lambda w: w["value"] >= THRESHOLD)
sdf.to_topic(alerts)

if __name__ == "__main__":
    app.run()
