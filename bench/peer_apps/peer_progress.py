"""How a benchmark subject says it is done: count the records seen and, at the expected one,
write a marker file atomically with the wall-clock time of the first and of that record and
the CPU seconds between them. Stdlib only: the peer apps run it in the peers' venv
(bench/peers.py; PEER_EXPECT, PEER_MARKER), the Faust baselines in the project's
(bench/apps/_common.py; BENCH_EXPECT, BENCH_MARKER)."""

from __future__ import annotations

import json
import os
import resource
import time
from pathlib import Path


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Progress:
    """Records seen; `seen()` is True once, for the `expect`-th (the marker is written then).
    By default `expect` and `marker` come from PEER_EXPECT and PEER_MARKER."""

    def __init__(self, expect: int | None = None, marker: Path | None = None) -> None:
        self.expect = int(os.environ["PEER_EXPECT"]) if expect is None else expect
        self.marker = Path(os.environ["PEER_MARKER"]) if marker is None else marker
        self.count = 0
        self.first = 0.0
        self.cpu0 = 0.0

    def seen(self) -> bool:
        self.count += 1
        if self.count == 1:
            self.first, self.cpu0 = time.time(), _cpu()
        if self.count != self.expect:
            return False
        tmp = self.marker.with_suffix(".tmp")
        tmp.write_text(json.dumps({"first": self.first, "last": time.time(),
                                   "count": self.count, "cpu_s": _cpu() - self.cpu0}))
        tmp.rename(self.marker)
        return True
