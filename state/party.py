"""Per-party state: a small header plus parts read on demand.

The streaming job keeps the header in the `parties` table (`PartyState.to_bytes()`) and the
parts in `party-parts` (`PartyState.part_writes()`); `simulate` keeps both in dicts. A party's
work per event and the bytes it writes per event do not grow with its window.

**Header** (one orjson object, bounded: it never holds window entries or interaction ids of
a big party): `n` window size (first, for `has_pending`), `p` party id, `v` version (+1 per
change), `q` arrivals, `m` watermark, `o` source progress, `l` leads (without interaction
ids), `ws` the window's exact score sum, `wn` the window's newest `occurred_at`, `wt` / `st`
the roots of the window and seen indexes, `np` the next page number, either `i` (the
parts, inline, while they are small) or `x: 1` (the parts live under their own keys), and
`e` the repair epoch (below).

**Parts** (orjson values under `part_key(party_id, kind, ident)`):
- `r` + interaction id: the id's record `[version, ts, seq, lead_id, entry]`.
  Its presence makes the id a DUPLICATE. `entry` (a PendingEntry as a list) is set while
  the interaction is pending; `lead_id` once it is linked (then the record is kept for good).
- `p` + 8-byte page number: a page of one of two B+-tree indexes of `[ts, seq, id]` keys,
  `[level, items]` (level 0: keys; above: `[ts, seq, child page]` separators).
  The *window* index holds the pending interactions; expiry by event time pops its prefix.
  The *seen* index holds the other remembered ids (not pending, not linked), pruned when they
  leave the lookback behind the watermark. Pages are split by size (PAGE_BYTES).
Small parties keep every part inline in the header (one key written per event); a party
whose parts outgrow INLINE_BYTES moves them to their own keys once and for good.

**Stored part values keep their content at the batch base.** The streaming job stores a
batch's part writes (phase 1) before its headers (phase 2), and parts are rewritten in
place, so a worker killed in between leaves in the changelog parts that are ahead of their
header. So a stored value also keeps the content the part had at its party's *batch base*
(`batch_base`: the version of the header last stored for good before the batch that wrote
the value; header field `c` in the headers that batch writes), and the version of the
change that wrote it last, its tag:
- a record: `[tag, ts, seq, lead_id, entry]` (the part did not exist at the batch base:
  the layout from before this scheme, whose version was the one that created the record),
  or `[tag, ts, seq, lead_id, entry, old]`, `old` the record at the batch base;
- a page: `[tag, level, items]` (it did not exist), `[tag, level, items, i, j, middle]`:
  its items at the batch base were `items[:i] + middle + items[len - j:]` (a change edits a
  page in one place: a few keys rather than a copy), or `[tag, level, items, old]`. A page
  stored as plain `[level, items]` (before this scheme) reads as stored for good.
A reader whose header has version `v` takes the content if `tag <= v`, else the old one
(`shadow_content`). A writer takes as the old content: the old content of a value its own
batch wrote (`batch_base < tag`), the content of a value stored for good before the batch
(`tag <= batch_base`), the old content of a value a lost batch wrote (ahead of the header),
and, for a part its batch deleted and writes again, what the value stored before the batch
(`dropped`) says for the batch base.
Why a reader gets the content its header (version `v`) stands for: a value with
`tag > v` was written by a batch that was lost (no stored header covers its changes) and had
started from a header `v0 <= v` stored for good; its old content is the content at `v0`.
The lost batch's records are delivered again and decided again from the same state in the
same order: the same changes with the same version numbers, whatever the batch boundaries.
So a change that wrote the part in the lost batch writes it again before a header reaches
its number, and the changes `v0+1..v` did not write it (the value would be theirs): its
content at `v` is the one at `v0`. The same holds for a writer meeting such a value. This
needs the records delivered again to be decided as before (per party: same order, same
rules), which a rules reload between the kill and the redelivery, or a party's records of
several topics interleaved otherwise, can break: a part the lost batch wrote and the new
decisions do not write again would show once a header passes its tag. So the worker
repairs a party the first time it loads it in a new *repair epoch* (a number drawn at
every start and partition assignment; header field `e`, the epoch of the worker that
stored it): every stored part whose tag is above the header's version was written by a
lost batch, and is written back as its old content (`lost_part_repairs`; absent: deleted).
Deletions are stored after the headers (phase 3), so a part that a lost batch deleted
still has its earlier value.
State stored before this scheme reads as before (a plain page counts as stored for good);
each of its parts keeps its old content from the next time it is written.

The core never mutates a state it was given: it works on a `Draft` (a private copy of the
header with a write overlay) and returns a new `PartyState` carrying the pending part writes.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from operator import itemgetter
from typing import Any

import orjson

from models.records import JSON, Score

#: Reads one part of a party's state (window segments, seen ids) by part key; None if absent.
#: The streaming job reads the `party-parts` table, `simulate` an in-memory dict.
PartGetter = Callable[[bytes], bytes | None]

REC, PAGE = "r", "p"
PAGE_BYTES = 2048     # a page is split when its estimated encoding exceeds this
PAGE_MAX = 128        # ... or when it has more items than this
INLINE_BYTES = 2048   # parts kept inside the header up to this size (encoded)
_KEY_COST, _SEP_COST = 30, 40  # estimated encoded bytes of an index key / separator


def part_key(party_id: str, kind: str, ident: str | int) -> bytes:
    """The key of one part: 2-byte length + utf-8 party id, the kind byte, the ident (utf-8
    interaction id, or an 8-byte page number). Keys of a party sort together and never
    collide with another party's."""
    p = party_id.encode()
    if len(p) > 0xFFFF:
        raise ValueError("party id longer than 65535 bytes")
    ib = ident.to_bytes(8, "big") if isinstance(ident, int) else ident.encode()
    return len(p).to_bytes(2, "big") + p + kind.encode() + ib


@dataclass(slots=True, unsafe_hash=True)  # never mutated; not frozen: a frozen __init__ costs ~4x
class PendingEntry:
    """An interaction waiting in the party's window."""

    interaction_id: str
    occurred_at: str
    ts: float
    seq: int  # arrival order within the party, breaks occurred_at ties
    score: Score
    rule_set_id: str
    rules_version: str
    contact_id: str | None = None
    country: str | None = None
    source_code: str | None = None
    attributes: JSON = field(default_factory=dict)
    type: str | None = None  # for the link's attribution (CONTRACT §5); absent in old states

    def to_list(self) -> list[Any]:
        out = [
            self.interaction_id, self.occurred_at, self.ts, self.seq, self.score,
            self.rule_set_id, self.rules_version, self.contact_id, self.country,
            self.source_code, self.attributes or None,
        ]
        if self.type is not None:
            out.append(self.type)
        return out

    @classmethod
    def from_list(cls, v: list[Any]) -> PendingEntry:
        return cls(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10] or {},
                   v[11] if len(v) > 11 else None)


@dataclass(slots=True, unsafe_hash=True)  # never mutated; not frozen: a frozen __init__ costs ~4x
class LeadRef:
    """What matching and import dedupe need to know of a party's lead. The interactions
    linked to it are marked in their id records (a part each), not kept here."""

    lead_id: str
    status: str
    created_at: str
    created_ts: float
    contact_id: str | None = None
    source_code: str | None = None
    country: str | None = None
    attributes: JSON = field(default_factory=dict)
    updated_at: str | None = None

    def value_of(self, name: str) -> Any:
        """A lead field, or (absent or null) an attribute: the same lookup as conditions."""
        own = {"source_code": self.source_code, "country": self.country,
               "contact_id": self.contact_id, "status": self.status}
        v = own.get(name)
        return self.attributes.get(name) if v is None else v

    def to_list(self) -> list[Any]:
        return [
            self.lead_id, self.status, self.created_at, self.created_ts, self.contact_id,
            self.source_code, self.country, self.attributes or None, self.updated_at,
        ]

    @classmethod
    def from_list(cls, v: list[Any]) -> LeadRef:
        return cls(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7] or {}, v[8])


# --------------------------------------------------------------------------- exact sums

def _grow(partials: tuple[float, ...], x: float) -> tuple[float, ...]:
    """Shewchuk's exact float expansion (as math.fsum): partials + x, exactly."""
    out: list[float] = []
    for y in partials:
        if abs(x) < abs(y):
            x, y = y, x
        hi = x + y
        lo = y - (hi - x)
        if lo:
            out.append(lo)
        x = hi
    if x:
        out.append(x)
    return tuple(out)


@dataclass(slots=True, unsafe_hash=True)  # never mutated; not frozen: a frozen __init__ costs ~4x
class ScoreSum:
    """The window's score sum, kept exact under additions and removals in any order: the
    int scores as an int, the float scores as an exact expansion (`partials`), plus the
    exact sum of absolute values to bound the rounding of a left-to-right `sum()`."""

    ints: int = 0
    partials: tuple[float, ...] = ()
    floats: int = 0  # how many float scores are in
    abs_partials: tuple[float, ...] = ()

    def add(self, score: Score, sign: int = 1) -> ScoreSum:
        if isinstance(score, int):
            a = float(sign * abs(score))
            ap = self.abs_partials
            if not ap:
                return ScoreSum(self.ints + sign * score, self.partials, self.floats,
                                (a,) if a else ())
            if len(ap) == 1:  # `_grow` of one partial, spelled out (the usual case)
                x, y = (ap[0], a) if abs(a) < abs(ap[0]) else (a, ap[0])
                hi = x + y
                lo = y - (hi - x)
                grown: tuple[float, ...] = (lo, hi) if lo else (hi,) if hi else ()
            else:
                grown = _grow(ap, a)
            return ScoreSum(self.ints + sign * score, self.partials, self.floats, grown)
        return ScoreSum(self.ints, _grow(self.partials, sign * score), self.floats + sign,
                        _grow(self.abs_partials, sign * abs(score)))

    def exact(self) -> Fraction:
        return Fraction(self.ints) + sum((Fraction(p) for p in self.partials), Fraction(0))

    def to_list(self) -> list[Any]:
        return [self.ints, list(self.partials), self.floats, list(self.abs_partials)]

    @classmethod
    def from_list(cls, v: list[Any] | None) -> ScoreSum:
        if not v:
            return cls()
        return cls(v[0], tuple(v[1]), v[2], tuple(v[3]))

    def reaches(self, threshold: Score, n: int, ltr_sum: Callable[[], Score]) -> bool:
        """Whether a left-to-right `sum()` of the n scores is >= threshold. Exact for int
        scores; with floats, the exact sum decides unless it lies within the worst-case
        rounding error of the threshold, and then `ltr_sum()` (O(n)) is asked."""
        if not self.floats:
            return self.ints >= threshold
        margin = self.exact() - Fraction(threshold)
        bound = Fraction(math.fsum(self.abs_partials)) * (n + 2) * Fraction(1, 2**50)
        if abs(margin) > bound:
            return margin >= 0
        return ltr_sum() >= threshold


# --------------------------------------------------------------------------- the state

_EMPTY_TREE: tuple[int | None, int, int, float | None] = (None, 0, 0, None)
Tree = tuple[int | None, int, int, float | None]  # root page, height, keys, smallest ts


class PartyState:
    """A party's header (leads, clocks, window totals, index roots) and access to its parts.

    Immutable: every change goes through `edit()` and gives a new state. `part_writes()` are
    the parts changed since the state was loaded (or `committed()`); the caller stores them
    with the header (`to_bytes()`) and continues with `committed()`.
    """

    __slots__ = ("party_id", "version", "seq", "watermark", "progress", "leads", "wcount",
                 "wsum", "wnewest", "wtree", "stree", "next_page", "inline", "batch_base",
                 "epoch", "_get",
                 "_dropped", "_writes", "_olds", "_cache")

    party_id: str | None
    version: int
    seq: int
    watermark: float | None
    progress: dict[str, int]
    leads: tuple[LeadRef, ...]
    wcount: int
    wsum: ScoreSum
    wnewest: float | None
    wtree: Tree
    stree: Tree
    next_page: int
    inline: dict[str, Any] | None  # None: the parts live under their own keys
    batch_base: int                # version of the header last stored for good
    epoch: int                     # repair epoch of the worker that stored it (0: none)
    _get: PartGetter | None
    _dropped: PartGetter | None    # stored value, before the batch, of a part it deleted
    _writes: dict[str, Any]        # part name -> new content (None: delete), not yet stored
    _olds: dict[str, Any]          # part name -> content at `batch_base` (None: absent)
    _cache: dict[str, Any]         # part name -> stored value as read (None: absent)

    def __init__(self, window: tuple[PendingEntry, ...] = (), leads: tuple[LeadRef, ...] = (),
                 seen: dict[str, float] | None = None, watermark: float | None = None,
                 seq: int = 0, progress: dict[str, int] | None = None,
                 linked: dict[str, str] | None = None) -> None:
        """A state built from its logical content (tests, tools): pending `window` entries,
        `leads`, `seen` ids (id -> occurred ts), `linked` ids (id -> lead id)."""
        self._set_defaults()
        if window or seen or linked:
            d = Draft(self, None)
            for e in window:
                d.put(REC, e.interaction_id, [0, e.ts, e.seq, None, e.to_list()])
                d.window_insert(e)
            for i, (iid, t) in enumerate((seen or {}).items()):
                if d.record(iid) is None:
                    s = -len(seen or {}) + i  # before any real arrival
                    d.put(REC, iid, [0, t, s, None, None])
                    d.stree = d.tree_insert(d.stree, [t, s, iid])
            for iid, lead_id in (linked or {}).items():
                d.mark_linked(iid, lead_id)
            built = d.freeze()
            for name in self.__slots__:
                object.__setattr__(self, name, getattr(built, name))
            self.batch_base = self.version  # as if stored
        self.leads = tuple(leads)
        self.watermark = watermark
        self.seq = seq
        self.progress = dict(progress or {})

    def _set_defaults(self) -> None:
        self.party_id = None
        self.version = 0
        self.seq = 0
        self.watermark = None
        self.progress = {}
        self.leads = ()
        self.wcount = 0
        self.wsum = ScoreSum()
        self.wnewest = None
        self.wtree = _EMPTY_TREE
        self.stree = _EMPTY_TREE
        self.next_page = 0
        self.inline = {}
        self.batch_base = 0
        self.epoch = 0
        self._get = None
        self._dropped = None
        self._writes = {}
        self._olds = {}
        self._cache = {}

    @classmethod
    def _blank(cls) -> PartyState:
        st = cls.__new__(cls)
        st._set_defaults()
        return st

    def _copy(self) -> PartyState:
        st = _with_header_of(self)
        st.epoch = self.epoch
        st._get = self._get
        st._dropped = self._dropped
        st._writes = self._writes
        st._olds = self._olds
        st._cache = self._cache
        return st

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PartyState):
            return NotImplemented
        return self.to_bytes() == other.to_bytes() and self._writes == other._writes

    def __hash__(self) -> int:  # pragma: no cover - states are not dict keys
        return hash(self.to_bytes())

    def __repr__(self) -> str:
        return f"PartyState({self._header()!r})"

    # -- streaming progress ------------------------------------------------------------
    def applied(self, source: str, offset: int) -> bool:
        """Whether the record at `offset` of `source` was already applied to this state."""
        last = self.progress.get(source)
        return last is not None and offset <= last

    def with_progress(self, source: str, offset: int) -> PartyState:
        st = self._copy()
        st.progress = {**self.progress, source: offset}
        return st

    def with_epoch(self, epoch: int) -> PartyState:
        """The state as stored by a worker in repair epoch `epoch` (module docstring)."""
        st = self._copy()
        st.epoch = epoch
        return st

    # -- reading -------------------------------------------------------------------------
    @property
    def is_empty(self) -> bool:
        return not (self.wcount or self.leads or self.stree[2])

    def lead(self, lead_id: str) -> LeadRef | None:
        return next((lr for lr in self.leads if lr.lead_id == lead_id), None)

    def edit(self, party_id: str | None) -> Draft:
        """A private, mutable copy to change; `Draft.freeze()` gives the new state."""
        return Draft(self, party_id)

    def reader(self) -> Draft:
        """Read access to the parts, sharing this state's buffers: never write through it."""
        return Draft(self, self.party_id, readonly=True)

    def knows(self, interaction_id: str) -> bool:
        """Whether the id is seen within the lookback, pending, or linked to a lead: it has a
        record (one part read)."""
        if self.inline is not None:  # a small party: its records are in the header
            return REC + interaction_id in self.inline
        return self.reader().record(interaction_id) is not None

    def window_entries(self) -> list[PendingEntry]:
        """The pending interactions in arrival order (reads every window part: O(n))."""
        d = self.reader()
        entries = [PendingEntry.from_list(d.record(k[2])[4])  # type: ignore[index]
                   for k in d.tree_keys(self.wtree)]
        return sorted(entries, key=lambda e: e.seq)

    @property
    def window(self) -> tuple[PendingEntry, ...]:
        """`window_entries()` as a tuple (O(n): for tests and tools)."""
        return tuple(self.window_entries()) if self.wcount else ()

    @property
    def seen(self) -> dict[str, float]:
        """The seen index: remembered ids neither pending nor linked, still in the lookback
        (the latest arrival even if older), id -> occurred ts (O(n): for tests and tools).
        Pending and linked ids are DUPLICATE through their records as well."""
        return {k[2]: k[0] for k in self.reader().tree_keys(self.stree)}

    @property
    def seen_count(self) -> int:
        return self.stree[2] + self.wcount

    # -- encoding ------------------------------------------------------------------------
    def _header(self) -> dict[str, Any]:
        h: dict[str, Any] = {
            "n": self.wcount, "p": self.party_id, "v": self.version, "q": self.seq,
            "m": self.watermark, "o": self.progress,
            "l": [lr.to_list() for lr in self.leads],
        }
        if self.wcount:
            h["ws"] = self.wsum.to_list()
            h["wn"] = self.wnewest
            h["wt"] = list(self.wtree)
        if self.stree[0] is not None:
            h["st"] = list(self.stree)
        if self.next_page:
            h["np"] = self.next_page
        if self.inline is None:
            h["x"] = 1
        elif self.inline:
            h["i"] = self.inline
        if self.batch_base != self.version:
            h["c"] = self.batch_base
        if self.epoch:
            h["e"] = self.epoch
        return h

    def to_bytes(self) -> bytes:
        """The header: bounded, whatever the window size or the number of linked ids."""
        return orjson.dumps(self._header())

    @staticmethod
    def has_pending(raw: bytes | None) -> bool:
        """Whether an encoded header has a non-empty window, without decoding it (metrics scan
        every local party; the header always starts with the window size)."""
        return bool(raw) and not raw.startswith(b'{"n":0,')  # type: ignore[union-attr]

    def part_writes(self) -> dict[bytes, bytes | None]:
        """Parts changed since this state was loaded or committed: key -> value (None: delete),
        values as shadows (module docstring). The caller stores them (with `to_bytes()`, the
        header) and then uses `committed()`."""
        if not self._writes:
            return {}
        assert self.party_id is not None
        out: dict[bytes, bytes | None] = {}
        for name, v in self._writes.items():
            key = part_key(self.party_id, name[0], _ident(name))
            out[key] = None if v is None else orjson.dumps(
                shadow_value(name[0], self.version, v, self._olds.get(name)))
        return out

    def committed(self, *, in_batch: bool = False) -> PartyState:
        """This state once its `part_writes()` are stored: nothing pending. `in_batch`: its
        header is not stored for good yet either (the matching agent, until the end of its
        batch): the state keeps its batch base."""
        st = self._copy()
        st._writes, st._olds, st._cache = {}, {}, {}
        if not in_batch:
            st.batch_base = st.version
        return st

    @classmethod
    def from_bytes(cls, raw: bytes | None, parts: PartGetter | None = None, *,
                   in_batch: bool = False, dropped: PartGetter | None = None) -> PartyState:
        """The header value `raw` (None: a new party); `parts` reads the rest on demand.

        In a batch that stores its writes at its end (the matching agent, `Pipeline` in batch
        mode): `in_batch` says `raw` was written by the running batch (not stored for good,
        it carries the batch base); `dropped(key)` is the value the store had before the
        batch for a key the batch deleted (None for any other key)."""
        st = cls._blank()
        st._get = parts
        st._dropped = dropped
        if not raw:
            return st
        h = orjson.loads(raw)
        st.party_id = h.get("p")
        st.version = h.get("v", 0)
        st.batch_base = h.get("c", st.version) if in_batch else st.version
        st.seq = h.get("q", 0)
        st.watermark = h.get("m")
        st.progress = dict(h.get("o") or {})
        st.leads = tuple(LeadRef.from_list(v) for v in h.get("l", ()))
        st.wcount = h.get("n", 0)
        if st.wcount:
            st.wsum = ScoreSum.from_list(h.get("ws"))
            st.wnewest = h.get("wn")
            st.wtree = _tree(h.get("wt"))
        st.stree = _tree(h.get("st"))
        st.next_page = h.get("np", 0)
        st.inline = None if h.get("x") else dict(h.get("i") or {})
        st.epoch = h.get("e", 0)
        return st


def _with_header_of(src: PartyState | Draft) -> PartyState:
    """A new state with the header fields of a state or a draft. Every slot spelled out: a
    loop over __slots__ costs nine times as much, and states are copied several times per
    event (tests/state/test_party.py checks that a copy carries every slot)."""
    st: PartyState = _new(PartyState)
    st.party_id = src.party_id
    st.version = src.version
    st.seq = src.seq
    st.watermark = src.watermark
    st.progress = src.progress
    st.leads = src.leads
    st.wcount = src.wcount
    st.wsum = src.wsum
    st.wnewest = src.wnewest
    st.wtree = src.wtree
    st.stree = src.stree
    st.next_page = src.next_page
    st.inline = src.inline
    st.batch_base = src.batch_base
    return st


def expiry_cutoff(newest: float, lookback_s: float) -> float:
    """The event-time boundary of the lookback (CONTRACT §2): behind the newest `occurred_at`
    of the party, an entry or seen id with `ts < cutoff` is out, `ts >= cutoff` is kept. The
    window (core/window.py) and the seen ids (`Draft.remember`) both use it."""
    return newest - lookback_s


def party_prefix(party_id: str) -> bytes:
    """What every part key of the party starts with (`part_key`)."""
    p = party_id.encode()
    return len(p).to_bytes(2, "big") + p


def lost_part_repairs(header: bytes | None, stored: Iterable[tuple[bytes, bytes]]
                      ) -> dict[bytes, bytes | None]:
    """Writes that undo what lost batches left of a party's parts: `header` is the party's
    header stored for good (None: none), `stored` its stored parts (key, value). A part
    whose tag is above the header's version gets its content at the lost batch's base
    back, tagged with the header's version (None: deleted, it did not exist then); the
    others are left as they are. What every reader of `header` sees is unchanged."""
    # a record at a batch base carries the tag it was stored with, at most that base
    version = orjson.loads(header).get("v", 0) if header else 0
    out: dict[bytes, bytes | None] = {}
    for key, raw in stored:
        kind = chr(key[2 + int.from_bytes(key[:2], "big")])
        value = orjson.loads(raw)
        if shadow_tag(kind, value) <= version:
            continue
        old = shadow_old(kind, value)
        if old is not None and kind == PAGE:
            old = [version, *old]  # tagged as stored for good with the header
        out[key] = None if old is None else orjson.dumps(old)  # a record keeps its own tag
    return out


_new = object.__new__


def _tree(v: list[Any] | None) -> Tree:
    return (v[0], v[1], v[2], v[3]) if v else _EMPTY_TREE


def shadow_value(kind: str, version: int, content: list[Any], old: Any) -> list[Any]:
    """The stored value of a part of `kind` written by the change `version`, whose content
    at the batch base was `old` (None: absent); module docstring."""
    if kind == REC:
        return [version, *content[1:5]] if old is None else [version, *content[1:5], old]
    if old is None:
        return [version, *content]
    level, items = content
    if old[0] != level:
        return [version, level, items, old]
    old_items = old[1]
    m = min(len(items), len(old_items))
    i = 0
    while i < m and items[i] == old_items[i]:
        i += 1
    j = 0
    while j < m - i and items[-1 - j] == old_items[-1 - j]:
        j += 1
    return [version, level, items, i, j, old_items[i:len(old_items) - j]]


def shadow_tag(kind: str, stored: list[Any]) -> int:
    """The version of the change that wrote a stored value (a page stored as plain
    `[level, items]`, before shadows: 0, stored for good)."""
    return 0 if kind == PAGE and len(stored) == 2 else stored[0]


def shadow_old(kind: str, stored: list[Any]) -> Any:
    """A stored value's content at its batch base (None: the part did not exist then)."""
    n = len(stored)
    if kind == REC:
        return stored[5] if n > 5 else None
    if n <= 3:
        return None
    if n == 4:
        return stored[3]
    items, i, j, middle = stored[2], stored[3], stored[4], stored[5]
    return [stored[1], [*items[:i], *middle, *items[len(items) - j:]]]


def shadow_content(kind: str, stored: list[Any] | None, version: int) -> Any:
    """The content of a stored part value for a header of `version` (None: the part does
    not exist for it)."""
    if stored is None:
        return None
    if shadow_tag(kind, stored) > version:
        return shadow_old(kind, stored)
    if kind == REC:
        return stored[:5]
    return stored if len(stored) == 2 else stored[1:3]


def _ident(name: str) -> str | int:
    return int(name[1:]) if name[0] == PAGE else name[1:]


_ts = itemgetter(0)


def _ts_seq(item: list[Any]) -> tuple[Any, Any]:
    return (item[0], item[1])


def _key_cost(items: list[Any], level: int) -> int:
    if level:
        return len(items) * _SEP_COST
    return _KEY_COST * len(items) + sum([len(k[2]) for k in items])


class Draft:
    """A mutable working copy of a PartyState: header fields, and a write overlay over the
    parts. Reads go: overlay, then inline parts or the getter. `freeze()` makes the state."""

    _MISSING: Any = object()

    def __init__(self, st: PartyState, party_id: str | None, readonly: bool = False) -> None:
        self.base = st
        self.party_id = st.party_id or party_id
        self.seq = st.seq
        self.watermark = st.watermark
        self.progress = st.progress
        self.leads = st.leads
        self.wcount = st.wcount
        self.wsum = st.wsum
        self.wnewest = st.wnewest
        self.wtree = st.wtree
        self.stree = st.stree
        self.next_page = st.next_page
        self.inline = None if st.inline is None or readonly else dict(st.inline)
        if readonly:
            self.inline = st.inline
        self.get_part = st._get
        self.dropped = st._dropped
        self.batch_base = st.batch_base
        self.writes: dict[str, Any] = st._writes if readonly else dict(st._writes)
        self.olds: dict[str, Any] = st._olds if readonly else dict(st._olds)
        self.cache = st._cache  # stored values read: the store does not change under a state
        self.version = st.version + 1  # the tag of the parts this change writes
        self.reads = 0

    # -- parts -----------------------------------------------------------------------------
    def _stored(self, name: str) -> Any:
        """The part's stored value as read (None: absent)."""
        v = self.cache.get(name, self._MISSING)
        if v is self._MISSING:
            v = None
            if self.get_part is not None and self.party_id is not None:
                self.reads += 1
                raw = self.get_part(part_key(self.party_id, name[0], _ident(name)))
                v = None if raw is None else orjson.loads(raw)
            self.cache[name] = v
        return v

    def get(self, kind: str, ident: str | int) -> Any:
        """A part's content for this state's header (None: absent)."""
        name = f"{kind}{ident}"
        if self.inline is not None:
            return self.inline.get(name)
        if name in self.writes:
            return self.writes[name]
        return shadow_content(kind, self._stored(name), self.base.version)

    def put(self, kind: str, ident: str | int, value: Any, *, fresh: bool = False) -> None:
        """Set (None: delete) a part's content. `fresh`: the caller knows the part is absent
        for this state (a new page, a new id's record), so its stored value need not be read
        to find its content at the batch base."""
        name = f"{kind}{ident}"
        if self.inline is not None:
            if value is None:
                self.inline.pop(name, None)
            else:
                self.inline[name] = value
            return
        if name not in self.olds:
            self.olds[name] = self._at_base(name, fresh)
        self.writes[name] = value

    def _at_base(self, name: str, fresh: bool) -> Any:
        """The part's content at the batch base, from its stored value (module docstring)."""
        v = self.cache.get(name, None if fresh else self._MISSING)
        if v is self._MISSING:
            v = self._stored(name)
        if v is None:  # absent, unless the running batch deleted it
            if self.dropped is None or self.party_id is None:
                return None
            raw = self.dropped(part_key(self.party_id, name[0], _ident(name)))
            return (None if raw is None
                    else shadow_content(name[0], orjson.loads(raw), self.batch_base))
        if shadow_tag(name[0], v) <= self.batch_base:  # stored for good before the batch
            return shadow_content(name[0], v, self.batch_base)
        return shadow_old(name[0], v)  # written by this batch, or by a lost one

    def record(self, interaction_id: str) -> list[Any] | None:
        """The id's record `[version, ts, seq, lead_id, entry]`, or None."""
        return self.get(REC, interaction_id)  # type: ignore[no-any-return]

    def new_page(self) -> int:
        self.next_page += 1
        return self.next_page

    # -- B+-tree of [ts, seq, id] keys ---------------------------------------------------
    def tree_insert(self, tree: Tree, key: list[Any]) -> Tree:
        root, height, count, first = tree
        if root is None:
            root = self.new_page()
            self.put(PAGE, root, [0, [key]], fresh=True)
            return (root, 0, 1, key[0])
        split = self._insert(root, key)
        if split is not None:
            new_root = self.new_page()
            page = self.get(PAGE, root)
            self.put(PAGE, new_root, [height + 1, [[*page[1][0][:2], root], split]], fresh=True)
            root, height = new_root, height + 1
        return (root, height, count + 1, key[0] if first is None else min(first, key[0]))

    def _insert(self, pid: int, key: list[Any]) -> list[Any] | None:
        level, items = self.get(PAGE, pid)
        before = items
        k = (key[0], key[1])
        last = items[-1]
        # keys mostly come in event-time order: after the page's last, no bisect needed
        at = len(items) if (last[0], last[1]) <= k else bisect_right(items, k, key=_ts_seq)
        if level == 0:
            items = [*items[:at], key, *items[at:]]
        else:
            # separators after the first are exact lower bounds of their child; the
            # first child takes every smaller key, so its separator is never used
            i = max(at - 1, 0)
            split = self._insert(items[i][2], key)
            if split is None:
                return None
            items = [*items[:i + 1], split, *items[i + 1:]]
            at = i + 1
        if len(items) > PAGE_MAX or _key_cost(items, level) > PAGE_BYTES:
            cut = len(items) - 1 if at >= len(items) - 1 else len(items) // 2  # append: keep full
            right = self.new_page()
            if items[:cut] != before:  # an append leaves the page as it was
                self.put(PAGE, pid, [level, items[:cut]])
            self.put(PAGE, right, [level, items[cut:]], fresh=True)
            return [items[cut][0], items[cut][1], right]
        self.put(PAGE, pid, [level, items])
        return None

    def tree_pop_before(self, tree: Tree, cutoff: float) -> tuple[Tree, list[list[Any]]]:
        """Remove every key with ts < cutoff; returns the tree and those keys in key order."""
        root, height, count, first = tree
        if root is None or first is None or first >= cutoff:
            return tree, []
        out: list[list[Any]] = []
        if self._pop(root, cutoff, out):
            return _EMPTY_TREE, out
        while height:  # drop single-child roots
            page = self.get(PAGE, root)
            if len(page[1]) > 1:
                break
            self.put(PAGE, root, None)
            root, height = page[1][0][2], height - 1
        pid = root
        while True:  # the new smallest ts
            lvl, items = self.get(PAGE, pid)
            if lvl == 0:
                first = items[0][0]
                break
            pid = items[0][2]
        return (root, height, count - len(out), first), out

    def _pop(self, pid: int, cutoff: float, out: list[list[Any]]) -> bool:
        level, items = self.get(PAGE, pid)
        if level == 0:
            j = bisect_left(items, cutoff, key=_ts)
            out.extend(items[:j])
            if j == len(items):
                self.put(PAGE, pid, None)
                return True
            if j:
                self.put(PAGE, pid, [0, items[j:]])
            return False
        k = 0
        while k + 1 < len(items) and items[k + 1][0] < cutoff:
            self._collect(items[k][2], out, delete=True)
            k += 1
        rest = items[k + 1:] if self._pop(items[k][2], cutoff, out) else items[k:]
        if not rest:
            self.put(PAGE, pid, None)
            return True
        if len(rest) != len(items):
            self.put(PAGE, pid, [level, rest])
        return False

    def _collect(self, pid: int, out: list[list[Any]], delete: bool) -> None:
        level, items = self.get(PAGE, pid)
        if level == 0:
            out.extend(items)
        else:
            for it in items:
                self._collect(it[2], out, delete)
        if delete:
            self.put(PAGE, pid, None)

    def tree_keys(self, tree: Tree) -> list[list[Any]]:
        out: list[list[Any]] = []
        if tree[0] is not None:
            self._collect(tree[0], out, delete=False)
        return out

    def tree_clear(self, tree: Tree) -> list[list[Any]]:
        out: list[list[Any]] = []
        if tree[0] is not None:
            self._collect(tree[0], out, delete=True)
        return out

    # -- window and seen ids --------------------------------------------------------------
    def window_insert(self, e: PendingEntry) -> None:
        self.wtree = self.tree_insert(self.wtree, [e.ts, e.seq, e.interaction_id])
        self.wcount += 1
        self.wsum = self.wsum.add(e.score)
        self.wnewest = e.ts if self.wnewest is None else max(self.wnewest, e.ts)

    def _entries(self, keys: list[list[Any]]) -> list[PendingEntry]:
        out = []
        for k in keys:
            rec = self.get(REC, k[2])
            out.append(PendingEntry.from_list(rec[4]))
        return out

    def window_expire(self, cutoff: float) -> list[PendingEntry]:
        """Pending entries with ts < cutoff leave the window (arrival order); their records
        go (they are older than the lookback behind the watermark), unless linked."""
        self.wtree, keys = self.tree_pop_before(self.wtree, cutoff)
        if not keys:
            return []
        gone = sorted(self._entries(keys), key=lambda e: e.seq)
        for e in gone:
            self.wsum = self.wsum.add(e.score, -1)
            self._drop_record(e.interaction_id, e.seq)
        self.wcount -= len(gone)
        if not self.wcount:
            self._reset_window()
        return gone

    def window_all(self) -> list[PendingEntry]:
        """Every pending entry, arrival order (reads the whole window)."""
        return sorted(self._entries(self.tree_keys(self.wtree)), key=lambda e: e.seq)

    def window_take_all(self) -> list[PendingEntry]:
        """Empty the window; returns its entries in arrival order (their records stay)."""
        entries = sorted(self._entries(self.tree_clear(self.wtree)), key=lambda e: e.seq)
        self._reset_window()
        return entries

    def _reset_window(self) -> None:
        self.wtree, self.wcount, self.wsum, self.wnewest = _EMPTY_TREE, 0, ScoreSum(), None

    def _drop_record(self, interaction_id: str, seq: int) -> None:
        rec = self.get(REC, interaction_id)
        if rec is None or rec[2] != seq:
            return
        if rec[3] is None:
            self.put(REC, interaction_id, None)
        elif rec[4] is not None:
            self.put(REC, interaction_id, [*rec[:4], None])

    def mark_linked(self, interaction_id: str, lead_id: str, pending: bool = True) -> None:
        """The id is linked to a lead: a DUPLICATE for good. `pending=False`: it also left
        the window (its entry is dropped from the record)."""
        rec = self.get(REC, interaction_id)
        if rec is None:
            self.put(REC, interaction_id, [self.version, None, None, lead_id, None])
        else:
            self.put(REC, interaction_id,
                     [rec[0], rec[1], rec[2], lead_id, rec[4] if pending else None])

    def remember(self, interaction_id: str, ts: float, lookback_s: float, *,
                 lead_id: str | None = None, entry: PendingEntry | None = None) -> None:
        """Record the id as seen (linked to `lead_id`, or pending as `entry`) and advance the
        clock; seen ids older than the lookback behind the new watermark are forgotten."""
        self.watermark = ts if self.watermark is None else max(self.watermark, ts)
        horizon = expiry_cutoff(self.watermark, lookback_s)
        self.stree, old = self.tree_pop_before(self.stree, horizon)
        for k in old:
            self._drop_record(k[2], k[1])
        self.put(REC, interaction_id,  # a new id (callers check): absent for this state
                 [self.version, ts, self.seq, lead_id,
                  entry.to_list() if entry is not None else None], fresh=True)
        if lead_id is None and entry is None:
            self.stree = self.tree_insert(self.stree, [ts, self.seq, interaction_id])
        self.seq += 1

    # -- done --------------------------------------------------------------------------------
    def freeze(self) -> PartyState:
        st = _with_header_of(self)
        st.epoch = self.base.epoch
        st._get = self.get_part
        st._dropped = self.dropped
        st._writes = self.writes
        st._olds = self.olds
        st._cache = {}
        if (self.inline is not None and self.party_id is not None
                and len(orjson.dumps(self.inline)) > INLINE_BYTES):
            # spill, for good; inline at this batch's base too, so no part existed then
            st._writes = {**self.writes, **self.inline}
            st._olds = {**self.olds, **dict.fromkeys(self.inline)}
            st.inline = None
        return st


def iter_records(st: PartyState) -> Iterator[tuple[str, list[Any]]]:
    """Inline records of a small state (tests and tools)."""
    for name, v in (st.inline or {}).items():
        if name[0] == REC:
            yield name[1:], v
