"""PartyState codec and the cheap pending check the metrics scan relies on."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest

from models.state import LeadRef, PartyState, PendingEntry, ScoreSum, part_key

ENTRY = PendingEntry("i1", "2026-01-01T00:00:00Z", 1.0, 0, 3, "seeded", "v1",
                     attributes={"a": [1, 2]})
LEAD = LeadRef("L-1", "NEW", "2026-01-01T00:00:00Z", 1.0)


@pytest.mark.parametrize(("state", "pending"), [
    (PartyState(), False),
    (PartyState(leads=(LEAD,), seen={"i0": 1.0}), False),
    (PartyState(leads=(LEAD,), linked={"i0": "L-1"}), False),
    (PartyState(window=(ENTRY,)), True),
    (PartyState(window=(ENTRY,), leads=(LEAD,), progress={"t:0": 7}), True),
])
def test_has_pending_agrees_with_decoded_state(state: PartyState, pending: bool) -> None:
    raw = state.to_bytes()
    assert PartyState.has_pending(raw) is pending
    assert bool(PartyState.from_bytes(raw).window) is pending


def test_round_trip_keeps_everything() -> None:
    state = PartyState(window=(ENTRY,), leads=(LEAD,), seen={"i0": 1.0}, watermark=1.0, seq=2,
                       progress={"interactions:0": 41}, linked={"i9": "L-1"})
    back = PartyState.from_bytes(state.to_bytes())
    assert back == state
    assert back.window == (ENTRY,) and back.seen == {"i0": 1.0} and back.leads == (LEAD,)
    assert all(back.knows(i) for i in ("i0", "i1", "i9")) and not back.knows("i2")
    assert PartyState.from_bytes(None) == PartyState()


def test_applied_progress() -> None:
    s = PartyState().with_progress("interactions:0", 5)
    assert s.applied("interactions:0", 5) and s.applied("interactions:0", 4)
    assert not s.applied("interactions:0", 6) and not s.applied("lead-updates:0", 1)


def test_part_keys_sort_by_party_and_never_collide() -> None:
    a = part_key("P1", "r", "x")
    assert a == b"\x00\x02P1rx"
    # without the length prefix, party "P" + "1rx" and party "P1" + "rx" would collide
    assert part_key("P", "1", "rx") != part_key("P1", "r", "x")
    assert part_key("P1", "p", 5) == b"\x00\x02P1p" + (5).to_bytes(8, "big")
    keys = sorted(part_key(p, k, i) for p in ("A", "AB", "B") for k, i in (("r", "z"), ("p", 1)))
    parties = [k[2:2 + int.from_bytes(k[:2], "big")] for k in keys]
    runs = [p for i, p in enumerate(parties) if i == 0 or parties[i - 1] != p]
    assert len(runs) == 3, "a party's parts are contiguous in key order"


def _store() -> tuple[dict[bytes, bytes], Any]:
    parts: dict[bytes, bytes] = {}

    def commit(st: PartyState) -> PartyState:
        for k, v in st.part_writes().items():
            if v is None:
                parts.pop(k, None)
            else:
                parts[k] = v
        return PartyState.from_bytes(st.committed().to_bytes(), parts.get)

    return parts, commit


# (name, keys inserted as (ts, seq), cutoffs popped one after the other)
TREE_CASES: list[tuple[str, list[tuple[float, int]], list[float]]] = [
    ("in order, one pop", [(float(i), i) for i in range(500)], [250.0]),
    ("reverse order", [(float(500 - i), i) for i in range(500)], [100.0, 100.0, 499.5]),
    ("equal ts, seq breaks ties", [(7.0, i) for i in range(300)], [7.0, 7.5]),
    ("interleaved", [(float((i * 37) % 401), i) for i in range(401)], [3, 50, 51, 200, 1e9]),
    ("pop all then reuse", [(float(i), i) for i in range(200)], [1e9, 0.0]),
]


@pytest.mark.parametrize(("keys", "cutoffs"), [c[1:] for c in TREE_CASES],
                         ids=[c[0] for c in TREE_CASES])
def test_index_pops_exactly_the_keys_before_the_cutoff(
        keys: list[tuple[float, int]], cutoffs: list[float]) -> None:
    """The B+-tree behind the window and seen indexes, against a sorted list, through bytes."""
    parts, commit = _store()
    st = PartyState.from_bytes(None, parts.get)
    model: list[tuple[float, int]] = []
    for ts, seq in keys:
        d = st.edit("P1")
        d.stree = d.tree_insert(d.stree, [ts, seq, f"id{seq}"])
        st = commit(d.freeze())
        model.append((ts, seq))
    model.sort()
    assert [(k[0], k[1]) for k in st.reader().tree_keys(st.stree)] == model
    assert st.stree[2] == len(model) and st.stree[3] == model[0][0]
    assert parts, "this many keys spill out of the header"
    for cutoff in cutoffs:
        d = st.edit("P1")
        d.stree, popped = d.tree_pop_before(d.stree, cutoff)
        st = commit(d.freeze())
        assert [(k[0], k[1]) for k in popped] == [k for k in model if k[0] < cutoff]
        model = [k for k in model if k[0] >= cutoff]
        assert [(k[0], k[1]) for k in st.reader().tree_keys(st.stree)] == model
        assert st.stree[2] == len(model)
        assert st.stree[3] == (model[0][0] if model else None)
    if not model:
        assert not parts, "an empty index leaves no pages behind"


# (name, events: (id, ts) remembered in order, lookback, ids that are DUPLICATE after)
SEEN_CASES: list[tuple[str, list[tuple[str, float]], float, set[str]]] = [
    ("all within the lookback", [("a", 0), ("b", 5), ("c", 10)], 30, {"a", "b", "c"}),
    ("old ones forgotten", [("a", 0), ("b", 15), ("c", 40)], 30, {"b", "c"}),
    ("boundary kept", [("a", 10), ("b", 40)], 30, {"a", "b"}),
    ("late arrival kept until the next", [("a", 100), ("late", 1)], 30, {"a", "late"}),
    ("late arrival then forgotten", [("a", 100), ("late", 1), ("b", 101)], 30, {"a", "b"}),
]


@pytest.mark.parametrize(("events", "lookback", "known"), [c[1:] for c in SEEN_CASES],
                         ids=[c[0] for c in SEEN_CASES])
def test_seen_store_matches_the_lookback_rule(events: list[tuple[str, float]], lookback: float,
                                              known: set[str]) -> None:
    """Seen ids: kept while ts >= watermark - lookback (the latest arrival always), as the
    dict the state used to hold; forgotten ones leave no record behind."""
    parts, commit = _store()
    for spill in (False, True):
        st = PartyState.from_bytes(None, parts.get)
        if spill:  # the same through parts under their own keys
            d = st.edit("P1")
            d.put("r", "pad", [0, None, None, "L", ["x" * 3000]])
            st = commit(d.freeze())
            assert st.inline is None
        for iid, t in events:
            d = st.edit("P1")
            d.remember(iid, t, lookback)
            st = commit(d.freeze())
        assert {i for i, _ in events if st.knows(i)} == known
        assert set(st.seen) == known


def test_record_ahead_of_its_header_is_ignored() -> None:
    """Parts are stored before their header: after a crash in between, a record created by
    the lost change does not make its id a DUPLICATE."""
    parts, commit = _store()
    st = PartyState.from_bytes(None, parts.get)
    d = st.edit("P1")
    d.put("r", "pad", [0, None, None, "L", ["x" * 3000]])
    st = commit(d.freeze())
    header = st.to_bytes()
    d = st.edit("P1")
    d.remember("a", 1.0, 30)
    lost = d.freeze()
    for k, v in lost.part_writes().items():  # parts stored, header not
        if v is not None:
            parts[k] = v
    again = PartyState.from_bytes(header, parts.get)
    assert not again.knows("a")
    assert PartyState.from_bytes(lost.committed().to_bytes(), parts.get).knows("a")


def test_exact_sum_decides_like_left_to_right_sum() -> None:
    """Float scores: the kept sum decides as `sum()` over the window in arrival order does."""
    import random

    rnd = random.Random(7)
    for _ in range(2000):
        scores: list[int | float] = [rnd.choice([0.1, 0.2, 0.3, 1, 2, -0.1, 1e-9, 0.7])
                                     for _ in range(rnd.randint(1, 12))]
        ltr = sum(scores, 0)
        for threshold in (ltr, 1.0, 0.3, 0.6, 2, ltr + 1e-15, ltr - 1e-15):
            acc = ScoreSum()
            for sc in scores:
                acc = acc.add(sc)
            assert acc.reaches(threshold, len(scores), lambda s=scores: sum(s, 0)) \
                is (ltr >= threshold)
    acc = ScoreSum().add(0.1).add(0.2).add(0.1, -1)
    assert acc.exact() == Fraction(0.2) and acc.floats == 1
