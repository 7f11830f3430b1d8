"""EXPERIMENT (bench only): the leadstream worker with aiokafka's `fetch_max_wait_ms` forced
to $BENCH_FETCH_MAX_WAIT_MS for every consumer it creates.

Faust's aiokafka driver hard-codes ``fetch_max_wait_ms=1500``
(faust/transport/drivers/aiokafka.py). Real Kafka answers a fetch as soon as data arrives;
Tansu (the embedded broker) holds it for the full wait, so on Tansu that constant becomes
decision latency. `bench/throughput.py --fetch-wait-ms N` runs this launcher instead of
`app.py worker` to measure what a setting for it would give. The worker code is unchanged;
the patch is `tables.engine_internals.force_consumer_fetch_wait`.

    BENCH_FETCH_MAX_WAIT_MS=10 python bench/apps/leadstream_fetchwait.py worker
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))

from tables.engine_internals import force_consumer_fetch_wait  # noqa: E402

force_consumer_fetch_wait(int(os.environ.get("BENCH_FETCH_MAX_WAIT_MS", "1500")))

if __name__ == "__main__":
    from app import main

    main()
