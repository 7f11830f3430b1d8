"""The decisions alone, as a ceiling: `simulate`'s code (the core plus JSON in and out; no
broker, no Faust, no RocksDB) over a JSONL file of interactions, timed in-process after
start-up, with the worker's garbage-collector settings (ops/gc_tuning.py).

    .venv/bin/python -m bench.core_only FILE [--rules config/rules.yaml]

Prints ONE JSON line: {"n", "seconds", "eps"}. bench/throughput.py runs it as subject `core`
on the same interactions as the others.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from bench.common import ROOT
from offline.simulate import run_simulation
from ops.gc_tuning import tune_gc
from rules.loader import load_rules_file


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("interactions", type=Path)
    ap.add_argument("--rules", type=Path, default=ROOT / "config" / "rules.yaml")
    args = ap.parse_args(argv)
    rules = load_rules_file(args.rules)
    tune_gc()
    with tempfile.TemporaryDirectory(prefix="leadstream-core-") as out, \
            open(os.devnull, "w") as quiet:
        t0 = time.perf_counter()
        report = run_simulation(rules, Path(out), interactions=args.interactions,
                                progress=False, log=quiet)
        seconds = time.perf_counter() - t0
    n = int(report["total"]["interactions"])
    print(json.dumps({"n": n, "seconds": round(seconds, 2), "eps": round(n / seconds)}))


if __name__ == "__main__":
    main()
