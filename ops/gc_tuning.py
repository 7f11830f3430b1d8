"""Garbage-collector settings for long runs (the worker, `simulate`).

CPython starts a young-generation collection every 700 net container allocations and a full
one whenever the long-lived objects grew by a quarter. Deciding an interaction allocates a few
hundred short-lived containers (parsed JSON, drafts, records), almost none of them in cycles,
so with the defaults the collector runs thousands of times a second and keeps walking the
long-lived objects (modules, the Faust app, rules, `simulate`'s state): about a third of
`simulate`'s time (docs/BENCH.md). A larger first threshold and `gc.freeze()` of what exists
at start keep cyclic garbage collected, only less often and without rescanning startup
objects. Memory: at most `gen0` more container objects wait for their collection.
"""

from __future__ import annotations

import gc

#: young-generation threshold applied by `tune_gc` (CPython's default: 700)
GEN0 = 50_000
GEN1, GEN2 = 20, 100


def tune_gc(gen0: int = GEN0) -> None:
    """Freeze the objects alive now (startup) and collect less often. `gen0` 0: leave
    CPython's defaults."""
    if gen0 <= 0:
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(gen0, GEN1, GEN2)
