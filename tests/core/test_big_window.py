"""Issue 7: a party with 100k interactions inside one window, with bounded memory and work
per event. No wall-clock timing: the bounds are on what the state reads and writes."""

from __future__ import annotations

import tracemalloc
from typing import Any

import pytest

from core.pipeline import Pipeline
from tests.builders import interaction, make_rules

N_BIG = 100_000
SPAN_DAYS = 20.0         # lookback 30 days: nothing expires while the window fills
HEADER_MAX = 4096        # bytes of the header, at every event
WRITE_MAX = 8192         # bytes written per event: header + part values
READS_MAX = 12           # part reads per event
BYTES_PER_PENDING = 600  # traced memory of the stored state per pending interaction
TRANSIENT_MAX = 256 * 1024  # traced memory an event holds above what it keeps
TRACED = range(50_000, 60_000)  # events run under tracemalloc (it slows everything down)


class CountingParts(dict[bytes, bytes]):
    """The pipeline's part store, counting reads through the getter."""

    reads = 0

    def get(self, key: bytes, default: Any = None) -> Any:  # type: ignore[override]
        self.reads += 1
        return super().get(key, default)


@pytest.mark.slow
def test_party_with_100k_interactions_in_one_window() -> None:
    pipe = Pipeline(make_rules(interaction_score_threshold=10**9))
    parts = CountingParts()
    pipe.parts.data = parts
    written: list[int] = []
    store = pipe.states.store

    def measured_store(party_id: str, state: Any) -> None:
        w = state.part_writes()
        written.append(sum(len(v) for v in w.values() if v is not None)
                       + len(state.committed().to_bytes()))
        store(party_id, state)

    pipe.states.store = measured_store  # type: ignore[method-assign]

    def feed(i: int, at: float, type_: str = "WEB_AD_VISIT") -> Any:
        before = parts.reads
        out = pipe.interaction(interaction(f"i{i:06d}", party="BIG", type=type_, at=at))
        return out, parts.reads - before

    grown = transient = 0
    max_reads = max_header = 0
    for i in range(N_BIG):
        if i == TRACED.start:
            tracemalloc.start()
        out, reads = feed(i, i * SPAN_DAYS / N_BIG)
        assert out.outcomes[0].outcome.value == "PENDING"
        max_reads = max(max_reads, reads)
        max_header = max(max_header, len(pipe.headers.data[b"BIG"]))
        if i + 1 == TRACED.stop:
            current, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            grown, transient = current // len(TRACED), peak - current
    figures = (f"max header {max_header} B, max written {max(written)} B/event, "
               f"max reads {max_reads}/event, memory {grown} B/event kept and "
               f"{transient} B transient, parts {len(parts)}")
    print(figures)
    assert max_header <= HEADER_MAX, figures
    assert max(written) <= WRITE_MAX, figures
    assert max_reads <= READS_MAX, figures
    # memory grows linearly, with a small constant (the stored bytes of each pending one)
    assert grown <= BYTES_PER_PENDING and transient <= TRANSIENT_MAX, figures
    state = pipe.parties["BIG"]
    assert state.wcount == N_BIG and not state.is_empty

    # The clock moves past the lookback: the oldest leave as EXPIRED, amortized over events.
    reads0, n_written = parts.reads, len(written)
    expired = 0
    step = 1_000
    later = 30 + SPAN_DAYS / 2  # the first half of the window falls out of the lookback
    out, _ = feed(N_BIG, later)
    expired += sum(o.outcome.value == "EXPIRED" for o in out.outcomes)
    for j in range(1, step):
        out, _ = feed(N_BIG + j, later)
        expired += sum(o.outcome.value == "EXPIRED" for o in out.outcomes)
    assert expired == N_BIG // 2
    total_reads = parts.reads - reads0
    total_written = sum(written[n_written:])
    # each expired one is read once (its record) and each index page once: O(1) apiece
    assert total_reads <= 2 * expired + READS_MAX * step, (total_reads, expired)
    assert total_written <= 200 * expired + WRITE_MAX * step, (total_written, expired)
    remaining = pipe.parties["BIG"].wcount
    assert remaining == N_BIG - expired + step

    # A threshold crossing turns the whole window into one lead.
    pipe.rules = make_rules(interaction_score_threshold=1)
    out, _ = feed(N_BIG + step, later)
    [lead] = [lk for lk in pipe.leads.values()]
    assert len(lead.interaction_ids) == remaining + 1
    assert lead.interaction_ids[-1] == f"i{N_BIG + step:06d}"
    assert pipe.parties["BIG"].wcount == 0
    assert sum(o.outcome.value == "LINKED" for o in out.outcomes) == remaining + 1
