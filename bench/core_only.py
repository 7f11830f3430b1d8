"""The decisions alone, as a ceiling: `simulate`'s code (the core plus JSON in and out; no
broker, no Faust, no RocksDB) over a JSONL file of interactions, timed in-process after
start-up, with the worker's garbage-collector settings (ops/gc_tuning.py).

    .venv/bin/python -m bench.core_only FILE [--rules config/rules.yaml]
    .venv/bin/python -m bench.core_only FILE --cprofile OUT.pstats [--top 30]

Prints ONE JSON line: {"n", "seconds", "eps", "cpu_seconds", "cpu_eps"} (CPU time of the
process: steadier than wall time on a shared machine, for A/B). bench/throughput.py runs it
as subject `core` on the same interactions as the others. `--cprofile`: the same run under
cProfile (slower: its figures are for shares, not for eps), the stats saved to OUT and the
top functions by own time printed on stderr in microseconds per interaction.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
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
    ap.add_argument("--cprofile", type=Path, default=None, metavar="OUT")
    ap.add_argument("--top", type=int, default=30)
    args = ap.parse_args(argv)
    rules = load_rules_file(args.rules)
    tune_gc()
    with tempfile.TemporaryDirectory(prefix="leadstream-core-") as out, \
            open(os.devnull, "w") as quiet:
        prof = cProfile.Profile() if args.cprofile else None
        t0, c0 = time.perf_counter(), time.process_time()
        if prof is not None:
            prof.enable()
        report = run_simulation(rules, Path(out), interactions=args.interactions,
                                progress=False, log=quiet)
        if prof is not None:
            prof.disable()
        seconds = time.perf_counter() - t0
        cpu = time.process_time() - c0
    n = int(report["total"]["interactions"])
    if prof is not None:
        prof.dump_stats(args.cprofile)
        print_per_record(pstats.Stats(str(args.cprofile)), n, args.top)
    print(json.dumps({"n": n, "seconds": round(seconds, 2), "eps": round(n / seconds),
                      "cpu_seconds": round(cpu, 2), "cpu_eps": round(n / cpu)}))


def print_per_record(stats: pstats.Stats, n: int, top: int) -> None:
    """Own and cumulative time per interaction (us) of the `top` functions by own time."""
    rows = []
    for (path, line, fn), (_cc, calls, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = path.replace(str(ROOT) + os.sep, "")
        rows.append((tt, ct, calls, f"{fn} ({where}:{line})"))
    total = sum(r[0] for r in rows)
    print(f"{'own us/rec':>10} {'cum us/rec':>10} {'calls/rec':>9}  function "
          f"(total {1e6 * total / n:.1f} us/rec under cProfile)", file=sys.stderr)
    for tt, ct, calls, name in sorted(rows, reverse=True)[:top]:
        print(f"{1e6 * tt / n:10.2f} {1e6 * ct / n:10.2f} {calls / n:9.2f}  {name}",
              file=sys.stderr)


if __name__ == "__main__":
    main()
