"""PartyState codec, its indexes, its stored part values (shadows: what a worker killed
between a batch's part writes and its headers leaves readable), and the cheap pending check
the metrics scan relies on."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import orjson
import pytest

from state.party import (
    LeadRef,
    PartyState,
    PendingEntry,
    ScoreSum,
    lost_part_repairs,
    part_key,
    party_prefix,
    shadow_content,
    shadow_old,
    shadow_value,
)
from state.store import PartyStore
from tests.state.backends import BACKENDS

ENTRY = PendingEntry("i1", "2026-01-01T00:00:00Z", 1.0, 0, 3, "seeded", "v1",
                     attributes={"a": [1, 2]})
LEAD = LeadRef("L-1", "NEW", "2026-01-01T00:00:00Z", 1.0)
PAD = [0, None, None, "L-" + "x" * 3000, None]  # a linked id's record, big enough to spill


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
            d.put("r", "pad", PAD)
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
    d.put("r", "pad", PAD)
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


# --------------------------------------------------------------------------- shadows

class BatchStore:
    """One party ("P1") stored by the matching agent's `PartyStore` over a back end: a batch's
    writes stay in the tables' overlays; `end()` stores them in the write phases,
    `end(killed=True)`: the worker dies after the first (the part puts)."""

    def __init__(self, backend: str) -> None:
        self.headers, self.parts = BACKENDS[backend]()
        self.party = PartyStore(self.headers, self.parts)

    def load(self) -> PartyState:
        return self.party.load("P1")

    def store(self, st: PartyState) -> None:
        self.party.store("P1", st)

    def end(self, killed: bool = False) -> None:
        self.party.end_batch(killed=killed)

    def change(self, edit: Any) -> PartyState:
        """One record's change in the running batch: load, edit, store."""
        d = self.load().edit("P1")
        edit(d)
        st = d.freeze()
        self.store(st)
        return st

    def stored(self, kind: str, ident: str | int) -> Any:
        raw = self.parts.get(part_key("P1", kind, ident))
        return None if raw is None else orjson.loads(raw)


class NoDropped:
    """A part table without the `dropped` hook (what the state would lose without it)."""

    def __init__(self, kv: Any) -> None:
        self._kv = kv

    def __getattr__(self, name: str) -> Any:
        return getattr(self._kv, name)

    def dropped(self, key: bytes) -> bytes | None:
        return None


def _spilled(store: BatchStore, seen: list[tuple[str, float]]) -> PartyState:
    """A stored party whose parts live under their own keys, with these seen ids."""
    def edit(d: Any) -> None:
        d.put("r", "pad", PAD)
        for iid, t in seen:
            d.remember(iid, t, 100.0)

    store.change(edit)
    store.end()
    st = store.load()
    assert st.inline is None and st.batch_base == st.version
    return st


def _view(st: PartyState, ids: list[str]) -> Any:
    return (st.seen, [i for i in ids if st.knows(i)],
            [e.to_list() for e in st.window_entries()] if st.wcount else [],
            st.wcount, st.stree[2])


@pytest.mark.parametrize(("old", "new"), [
    ([0, [[1.0, 0, "a"]]], [0, [[1.0, 0, "a"], [2.0, 1, "b"]]]),               # append
    ([0, [[1.0, 0, "a"], [2.0, 1, "b"], [3.0, 2, "c"]]], [0, [[3.0, 2, "c"]]]),  # pop
    ([0, [[1.0, 0, "a"], [3.0, 2, "c"]]], [0, [[1.0, 0, "a"], [2.0, 1, "b"], [3.0, 2, "c"]]]),
    ([1, [[1.0, 0, 4], [5.0, 3, 7]]], [1, [[1.0, 0, 4]]]),                     # split above
    ([0, [[1.0, 0, "a"], [1.0, 1, "a"]]], [0, [[1.0, 1, "a"]]]),               # repeated keys
    ([0, [[1.0, 0, "a"]]], [0, [[1.0, 0, "a"]]]),                               # unchanged
    ([0, []], [0, [[1.0, 0, "a"]]]),
    ([1, [[1.0, 0, 4]]], [0, [[1.0, 0, 4]]]),                                   # levels differ
    (None, [0, [[1.0, 0, "a"]]]),                                               # a new page
])
def test_a_page_value_keeps_its_old_items(old: list[Any] | None, new: list[Any]) -> None:
    """A page's content at the batch base is kept as a diff of its items: a few keys."""
    stored = orjson.loads(orjson.dumps(shadow_value("p", 7, new, old)))
    assert shadow_old("p", stored) == old
    assert shadow_content("p", stored, 7) == shadow_content("p", stored, 8) == new
    assert shadow_content("p", stored, 6) == old
    if old is not None and old[0] == new[0]:
        assert len(stored) == 6 and len(orjson.dumps(stored[3:])) <= len(orjson.dumps(old)) + 4


def test_a_record_value_keeps_the_layout_from_before_plus_its_old_content() -> None:
    rec = [3, 1.0, 0, "L-1", None]
    assert shadow_value("r", 7, rec, None) == [7, 1.0, 0, "L-1", None]
    stored = shadow_value("r", 7, rec, [2, 1.0, 0, None, ["e"]])
    assert stored == [7, 1.0, 0, "L-1", None, [2, 1.0, 0, None, ["e"]]]
    assert shadow_content("r", stored, 7) == [7, 1.0, 0, "L-1", None]
    assert shadow_content("r", stored, 6) == [2, 1.0, 0, None, ["e"]]
    assert shadow_content("r", stored[:5], 6) is None


def test_state_stored_before_these_values_reads_as_before() -> None:
    """Records had this layout already (their version: the change that created them); a
    page was a plain `[level, items]`, read as stored for good. Written again, a page gets
    its old content."""
    parts = {part_key("P1", "r", "a"): orjson.dumps([3, 1.0, 0, None, None]),
             part_key("P1", "r", "b"): orjson.dumps([4, 2.0, 1, "L-1", None]),
             part_key("P1", "r", "z"): orjson.dumps([9, 3.0, 2, None, None]),  # ahead
             part_key("P1", "p", 1): orjson.dumps([0, [[1.0, 0, "a"]]])}
    header = orjson.dumps({"n": 0, "p": "P1", "v": 5, "q": 2, "m": 2.0, "o": {}, "l": [],
                           "st": [1, 0, 1, 1.0], "np": 1, "x": 1})
    st = PartyState.from_bytes(header, parts.get)
    assert st.seen == {"a": 1.0} and st.knows("b") and not st.knows("z")
    d = st.edit("P1")
    d.remember("c", 3.0, 100.0)
    written = d.freeze().part_writes()
    assert orjson.loads(written[part_key("P1", "p", 1)]) == \
        [6, 0, [[1.0, 0, "a"], [3.0, 2, "c"]], 1, 0, []]


def test_part_values_carry_their_tag_and_content_at_the_batch_base(backend: str) -> None:
    """A part new since the batch base reads as absent for an older header; a record
    changed keeps the record at the base, a page the diff to its items at the base."""
    store = BatchStore(backend)
    st = _spilled(store, [("a", 1.0), ("b", 2.0)])
    v0 = st.version
    page = st.stree[0]
    assert store.stored("r", "a") == [v0, 1.0, 0, None, None]
    seen_page = store.stored("p", page)
    assert seen_page == [v0, 0, [[1.0, 0, "a"], [2.0, 1, "b"]]]

    def edit(d: Any) -> None:
        d.mark_linked("a", "L-1", pending=False)
        d.remember("c", 3.0, 100.0)

    store.change(edit)
    rec = store.stored("r", "a")
    assert rec == [v0 + 1, 1.0, 0, "L-1", None, [v0, 1.0, 0, None, None]]
    assert shadow_content("r", rec, v0) == [v0, 1.0, 0, None, None]
    assert store.stored("r", "c") == [v0 + 1, 3.0, 2, None, None]
    assert shadow_content("r", store.stored("r", "c"), v0) is None
    assert store.stored("p", page) == [v0 + 1, 0, [*seen_page[2], [3.0, 2, "c"]], 2, 0, []]
    assert shadow_content("p", store.stored("p", page), v0) == seen_page[1:]


def test_header_carries_the_batch_base_only_while_its_batch_runs(backend: str) -> None:
    store = BatchStore(backend)
    st = _spilled(store, [("a", 1.0)])
    new = store.change(lambda d: d.remember("b", 2.0, 100.0))
    assert new.batch_base == st.version == new.version - 1
    assert orjson.loads(store.headers.get(b"P1") or b"")["c"] == st.version
    assert "c" not in orjson.loads(new.committed().to_bytes())
    assert store.load().batch_base == st.version  # loaded within the batch
    store.end()
    assert store.load().batch_base == st.version + 1  # stored for good: its own version


def test_a_batch_keeps_the_content_at_its_base_however_often_it_rewrites_a_part(
        backend: str) -> None:
    """Two changes of one batch rewrite the same page and record: the stored value keeps
    the content before the batch, not the one between the changes."""
    store = BatchStore(backend)
    st = _spilled(store, [("a", 1.0), ("b", 2.0)])
    v0, page = st.version, st.stree[0]
    before = store.stored("p", page)[1:]
    store.change(lambda d: d.remember("c", 3.0, 100.0))
    store.change(lambda d: d.mark_linked("a", "L-1"))
    store.change(lambda d: (d.remember("d", 4.0, 100.0), d.mark_linked("a", "L-2")))
    assert store.stored("p", page)[0] == v0 + 3
    assert shadow_content("p", store.stored("p", page), v0) == before
    assert store.stored("r", "a") == [v0 + 3, 1.0, 0, "L-2", None, [v0, 1.0, 0, None, None]]


def test_parts_of_a_lost_batch_read_as_their_header_says_until_written_again(backend: str) -> None:
    """A kill between the phases: the batch's part writes are stored, its header is not.
    The stored header reads as before (window, seen ids, known ids), the same changes made
    again in batches of other sizes give the state of a run that was never killed."""
    ids = ["a", "b", "c", "d", "e", "w1", "w2", "w3", "w4"]
    entries = [PendingEntry(f"w{i}", "", 10.0 + i, 0, 1, "s", "v") for i in range(1, 5)]

    def changes() -> list[Any]:
        def pend(e: PendingEntry) -> Any:
            def edit(d: Any) -> None:
                e2 = PendingEntry(e.interaction_id, "", e.ts, d.seq, 1, "s", "v")
                d.window_insert(e2)
                d.remember(e.interaction_id, e.ts, 100.0, entry=e2)
            return edit

        def fire(d: Any) -> None:  # the window becomes a lead
            for e in d.window_take_all():
                d.mark_linked(e.interaction_id, "L-1", pending=False)
            d.remember("e", 20.0, 100.0, lead_id="L-1")

        return [pend(entries[0]), pend(entries[1]), lambda d: d.remember("d", 15.0, 100.0),
                pend(entries[2]), fire, pend(entries[3]),
                lambda d: d.remember("x", 150.0, 100.0)]  # prunes a, b, c, d

    def run(batches: list[int], kill: int | None) -> tuple[BatchStore, list[Any]]:
        store = BatchStore(backend)
        _spilled(store, [("a", 1.0), ("b", 2.0), ("c", 3.0)])
        todo, views, n = changes(), [], 0
        for size in batches:
            before = _view(store.load(), ids)  # as stored before the batch
            for edit in todo[n:n + size]:
                store.change(edit)
            if kill is not None and n == kill:
                store.end(killed=True)
                kill = None
                assert _view(store.load(), ids) == before, "read as its header says"
                continue
            store.end()
            n += size
            views.append(_view(store.load(), ids))
        return store, views

    want, _ = run([1] * 7, None)
    for batches, kill in [([3, 1, 2, 1, 3], 0), ([2, 5, 1, 4], 2), ([4, 7, 3], 0),
                          ([7, 2, 2, 2, 1], 0), ([5, 5, 2], 0), ([2, 2, 3, 3], 4)]:
        store, _ = run(batches, kill)
        assert _view(store.load(), ids) == _view(want.load(), ids), (batches, kill)
        assert store.load().to_bytes() == want.load().to_bytes()


def test_a_part_deleted_and_written_again_in_one_batch_keeps_its_content_at_the_base(
        backend: str) -> None:
    """A seen id forgotten (its record deleted) and sent again within one batch: its new
    record's old content comes from the value stored before the batch (`dropped`)."""
    store = BatchStore(backend)
    st = _spilled(store, [("a", 1.0)])
    v0 = st.version
    store.change(lambda d: d.remember("b", 150.0, 100.0))  # a leaves the lookback
    gone = part_key("P1", "r", "a")
    assert store.parts.written(gone) and store.parts.get(gone) is None
    store.change(lambda d: d.remember("a", 151.0, 100.0))
    assert shadow_content("r", store.stored("r", "a"), v0) == [v0, 1.0, 0, None, None]
    store.end(killed=True)
    again = store.load()
    assert again.knows("a") and not again.knows("b") and again.seen == {"a": 1.0}
    # without the hook the old content would be lost: the id would read as unknown
    lost = BatchStore(backend)
    _spilled(lost, [("a", 1.0)])
    lost.party.parts = NoDropped(lost.parts)
    lost.change(lambda d: d.remember("b", 150.0, 100.0))
    lost.change(lambda d: d.remember("a", 151.0, 100.0))
    lost.end(killed=True)
    assert not lost.load().knows("a")


def _stored(kind: str, tag: int, content: list[Any], old: Any) -> bytes:
    return orjson.dumps(shadow_value(kind, tag, content, old))


REC_OLD = [2, 1.0, 0, None, ["e"]]
REC_NEW = [9, 1.0, 0, "L-1", None]
PAGE_OLD = [0, [[1.0, 0, "a"]]]
PAGE_NEW = [0, [[1.0, 0, "a"], [2.0, 1, "b"]]]


@pytest.mark.parametrize(("header_version", "kind", "stored", "want"), [
    # written by a lost batch (tag above the header): its content at that batch's base
    (5, "r", _stored("r", 6, REC_NEW, REC_OLD), REC_OLD),
    (5, "p", _stored("p", 7, PAGE_NEW, PAGE_OLD), [5, *PAGE_OLD]),
    # ... which did not exist then: deleted
    (5, "r", _stored("r", 6, REC_NEW, None), None),
    (5, "p", _stored("p", 6, PAGE_NEW, None), None),
    (0, "r", _stored("r", 1, REC_NEW, None), None),  # a party whose first batch was lost
    # stored for good (tag up to the header): left alone
    (6, "r", _stored("r", 6, REC_NEW, REC_OLD), "keep"),
    (9, "p", _stored("p", 7, PAGE_NEW, PAGE_OLD), "keep"),
    (3, "p", orjson.dumps(PAGE_OLD), "keep"),  # a plain page, from before tags
])
def test_lost_part_repairs_set_back_what_a_lost_batch_wrote(
        header_version: int, kind: str, stored: bytes, want: Any) -> None:
    header = PartyState.from_bytes(orjson.dumps({"n": 0, "p": "P", "v": header_version}))
    raw = header.to_bytes() if header_version else None
    key = part_key("P", kind, 7 if kind == "p" else "i1")
    repairs = lost_part_repairs(raw, [(key, stored)])
    if want == "keep":
        assert repairs == {}
        return
    assert list(repairs) == [key]
    value = repairs[key]
    assert (None if value is None else orjson.loads(value)) == want
    # what a reader of the header saw before the repair, it sees after it
    before = shadow_content(kind, orjson.loads(stored), header_version)
    after = None if value is None else shadow_content(kind, orjson.loads(value),
                                                      header_version)
    assert after == before
    # and a header that later passes the lost tag no longer sees the lost content
    if value is not None:
        assert shadow_content(kind, orjson.loads(value), 100) == before


def test_party_prefix_starts_every_part_key_of_the_party_only() -> None:
    prefix = party_prefix("P1")
    assert part_key("P1", "r", "x").startswith(prefix)
    assert part_key("P1", "p", 3).startswith(prefix)
    assert not part_key("P10", "r", "x").startswith(prefix)
    assert not part_key("P", "r", "1x").startswith(prefix)


def test_the_repair_epoch_is_kept_in_the_header() -> None:
    st = PartyState(window=(ENTRY,)).with_epoch(12345)
    again = PartyState.from_bytes(st.to_bytes())
    assert again.epoch == 12345 and PartyState.has_pending(st.to_bytes())
    assert PartyState.from_bytes(PartyState().to_bytes()).epoch == 0


def test_copy_carries_every_slot() -> None:
    st = PartyState(window=(ENTRY,), leads=(LEAD,), progress={"i0": 3}).with_epoch(7)
    for i, name in enumerate(PartyState.__slots__):
        object.__setattr__(st, name, ("marker", i))
    copied = st._copy()
    assert copied is not st
    assert [getattr(copied, n) for n in PartyState.__slots__] == [
        ("marker", i) for i in range(len(PartyState.__slots__))]
