"""Top frames of a py-spy profile in collapsed form (`py-spy record --format raw`).

    .venv/bin/python -m bench.profile_top /tmp/prof/leadstream.txt [--top 25] [--grep faust]
    .venv/bin/python -m bench.profile_top FILE --under "handle (matching.py)" --depth 2
    .venv/bin/python -m bench.profile_top FILE --summary     # where a Faust worker's time goes

Prints the share of samples in which each function is on the stack (inclusive) and at the
top of the stack (self), aggregated over line numbers. bench/throughput.py --profile DIR
writes one such file per Faust subject.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter

_LINE = re.compile(r"^(.*) (\d+)$")
_FRAME = re.compile(r"^(?P<fn>.*?) \((?P<file>.*?)(?::\d+)?\)$")


def short(frame: str) -> str:
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m["file"]
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{m['fn']} ({path})"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--grep", default="", help="only functions whose name/file contain this")
    ap.add_argument("--under", default="", help="break down the callees of this frame")
    ap.add_argument("--depth", type=int, default=1, help="callee path length for --under")
    ap.add_argument("--summary", action="store_true", help="samples per cost category")
    args = ap.parse_args(argv)
    if args.summary:
        return summary(args.path)
    if args.under:
        return under(args.path, args.under, args.depth, args.top)
    incl: Counter[str] = Counter()
    self_: Counter[str] = Counter()
    total = 0
    with open(args.path) as f:
        for line in f:
            m = _LINE.match(line.rstrip("\n"))
            if not m:
                continue
            stack, count = m[1], int(m[2])
            frames = [short(x) for x in stack.split(";") if x]
            total += count
            for fr in set(frames):
                incl[fr] += count
            if frames:
                self_[frames[-1]] += count
    print(f"{total} samples")
    for title, counter in (("inclusive", incl), ("self", self_)):
        print(f"--- {title}")
        shown = 0
        for fr, c in counter.most_common():
            if args.grep and args.grep not in fr:
                continue
            print(f"{100 * c / total:5.1f}%  {fr}")
            shown += 1
            if shown >= args.top:
                break


# (category, frame substrings): the first category with a frame on the stack wins, so the
# order goes from the most specific (our code) to the most general (the event loop).
CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("consumer thread (aiokafka fetches, own loop)", ("WorkerThread.run",)),
    ("core decisions (core/)", ("handle_interaction (", "apply_lead_event (")),
    ("table read (RocksDB get via Table.get)", ("load_state (", "Mapping.get (")),
    ("table write (RocksDB put + changelog enqueue)", ("ManagedUserDict.__setitem__",
                                                     "Table.__setitem__")),
    ("agent output sends (Runtime.send -> producer)", ("Runtime.send", "Runtime.dead_letter")),
    ("agent body, rest (decode, metrics, progress)", ("register.<locals>.handle",
                                                      "register.<locals>.score")),
    ("Faust stream iteration (events(), _c_aiter, acks)", ("Stream.events", "Stream._c_aiter",
                                                          "Stream.__aiter__")),
    ("Faust changelog buffer (ProducerBuffer)", ("ProducerBuffer",)),
    ("aiokafka producer I/O (sender, encode, socket)", ("Sender.", "AIOKafkaConnection",
                                                        "SendProduceReqHandler")),
    ("Faust consumer drain / conductor", ("_drain_messages", "Conductor.", "Fetcher._fetcher")),
    ("Faust commit", ("Consumer.commit", "_commit_handler")),
    ("agent loop, rest", ("Agent._execute_actor",)),
    ("event loop idle (select)", ("EpollSelector.select",)),
    ("event loop, other", ("_run_once", "run_forever")),
]


def summary(path: str) -> None:
    counts: Counter[str] = Counter()
    total = 0
    with open(path) as f:
        for line in f:
            m = _LINE.match(line.rstrip("\n"))
            if not m:
                continue
            stack, count = m[1], int(m[2])
            total += count
            cat = next((name for name, keys in CATEGORIES if any(k in stack for k in keys)),
                       "other")
            counts[cat] += count
    print(f"{total} samples")
    for name, _ in [*CATEGORIES, ("other", ())]:
        if counts[name]:
            print(f"{100 * counts[name] / total:5.1f}%  {name}")


def under(path: str, target: str, depth: int, top: int) -> None:
    """Share of all samples per callee path (`depth` frames) below the first `target`."""
    paths: Counter[str] = Counter()
    total = inside = 0
    with open(path) as f:
        for line in f:
            m = _LINE.match(line.rstrip("\n"))
            if not m:
                continue
            frames = [short(x) for x in m[1].split(";") if x]
            count = int(m[2])
            total += count
            hit = next((i for i, fr in enumerate(frames) if target in fr), None)
            if hit is None:
                continue
            inside += count
            paths[" > ".join(frames[hit + 1: hit + 1 + depth]) or "(self)"] += count
    print(f"{target}: {100 * inside / max(total, 1):.1f}% of {total} samples")
    for p, c in paths.most_common(top):
        print(f"{100 * c / total:5.1f}%  {p}")


if __name__ == "__main__":
    main()
