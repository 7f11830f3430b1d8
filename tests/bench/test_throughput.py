"""bench/throughput.py's latency summary: outcomes never received must not make the
figures look better than they are."""

from __future__ import annotations

from bench.throughput import latency_stats

MS = 1_000_000  # ns


def _run(n: int, lat_ms: list[float], received: int) -> dict[str, object]:
    sent = {f"i{k}": k * 10 * MS for k in range(n)}
    got = {f"i{k}": sent[f"i{k}"] + int(lat_ms[k] * MS) for k in range(received)}
    sent_wall = {f"i{k}": 1_000 + k * 10 for k in range(n)}
    decided = {i: sent_wall[i] + 1 for i in got}
    gave_up = sent[f"i{n - 1}"] + 60_000 * MS  # 60 s after the last send
    return latency_stats(sent, got, decided, sent_wall, gave_up)


def test_all_received() -> None:
    stats = _run(100, [float(k) for k in range(100)], 100)
    assert stats["complete"] is True and stats["received"] == 100
    assert stats["p50_ms"] == 50.0 and stats["p99_ms"] == 98.0 and stats["max_ms"] == 99.0
    assert stats["p50_ms_first_quarter"] == 12.0 and stats["p50_ms_last_quarter"] == 87.0
    assert stats["decided_p50_ms"] == 1.0


def test_missing_outcomes_count_as_received_when_the_bench_gave_up() -> None:
    # 90 fast outcomes, the last 10 never came: p99 must not be a fast one's
    stats = _run(100, [5.0] * 100, 90)
    assert stats["complete"] is False and stats["received"] == 90
    assert stats["p50_ms"] == 5.0
    assert stats["p99_ms"] >= 60_000          # a lower bound: at least the wait
    assert stats["p50_ms_last_quarter"] >= 5.0
    assert stats["max_ms"] >= 60_000
    # the decision figures are over the received ones only (no decision time otherwise)
    assert stats["decided_p99_ms"] == 1.0


def test_derived_ratios_and_bounds() -> None:
    from bench.throughput import derived

    out = {"raw_eps": 300_000, "empty_eps": 15_000, "naive_eps": 3_000, "core_eps": 20_000,
           "quix_window_eps": 16_000, "leadstream_eps": 2_400}
    d = derived(out)
    assert d["bound_eps"] == round(1 / (1 / 15_000 + 1 / 20_000)) == 8_571
    assert d["intake_bound_eps"] == 18_750
    assert d["leadstream_over_naive"] == 0.8 and d["leadstream_over_empty"] == 0.16
    assert d["leadstream_over_quix_window"] == 0.15 and d["core_over_quix_window"] == 1.25
    assert d["bound_over_quix_window"] == 0.54 and d["intake_bound_over_quix_window"] == 1.17
    assert d["bound_over_naive"] == 2.86 and d["bound_over_empty"] == 0.57


def test_derived_leaves_out_what_a_missing_subject_would_need() -> None:
    from bench.throughput import derived

    d = derived({"core_eps": 20_000, "empty_eps": 15_000, "leadstream_eps": None})
    assert set(d) == {"bound_eps", "bound_over_empty"}
