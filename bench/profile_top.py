"""Top frames of a py-spy profile in collapsed form (`py-spy record --format raw`).

    .venv/bin/python -m bench.profile_top /tmp/prof/leadstream.txt [--top 25] [--grep faust]
    .venv/bin/python -m bench.profile_top FILE --under "handle (agents/matching.py)" --depth 2

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
    args = ap.parse_args(argv)
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
