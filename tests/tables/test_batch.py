"""TableBatch: a batch's reads and writes over a table's RocksDB instances (real ones, in a
temporary directory), and the party state stored through two of them as the matching agent
stores it: part puts with the outputs (phase 1), then headers (phase 2) and part deletions
(phase 3), a worker killed between phases 1 and 2."""

from __future__ import annotations

import random
from typing import Any

import orjson

from core.pipeline import handle_interaction
from state.party import PartyState
from state.store import PartyStore
from tables.batch import TableBatch
from tables.party_kv import PartitionTable
from tests.builders import interaction, make_rules
from tests.state.backends import FakeTable


def test_scan_reads_stored_keys_of_a_prefix_in_order_without_the_batch_writes() -> None:
    table = FakeTable("t")
    db = table.data._db_for_partition(0)
    for key in (b"ab2", b"ab1", b"a", b"abc", b"b", b"ab"):
        db.put(key, b"v-" + key)
    batch = TableBatch(table)
    assert batch.scan(0, b"ab") == [(b"ab", b"v-ab"), (b"ab1", b"v-ab1"), (b"ab2", b"v-ab2"),
                                    (b"abc", b"v-abc")]
    batch.put(0, b"ab1", b"mine")
    batch.put(0, b"ab9", b"mine too")
    assert [k for k, _ in batch.scan(0, b"ab")] == [b"ab", b"ab2", b"abc"]
    assert batch.scan(0, b"zz") == [] and batch.scan(1, b"ab") == []


def test_early_deletions_go_with_the_puts() -> None:
    table = FakeTable("t")
    db = table.data._db_for_partition(0)
    for key in (b"a", b"b", b"c"):
        db.put(key, b"old")
    batch = TableBatch(table)
    batch.put(0, b"a", None, early=True)   # a repair: goes with the puts
    batch.put(0, b"b", None)               # an ordinary deletion: after the headers
    batch.put(0, b"c", None, early=True)
    batch.put(0, b"c", b"new")             # written again: an ordinary put
    batch.put(0, b"d", b"new")
    first = batch.drain(puts=True, deletes=False)
    assert sorted((r[1], r[2]) for r in first) == [(b"a", None), (b"c", b"new"), (b"d", b"new")]
    assert db.get(b"a") is None and db.get(b"b") == b"old"
    assert [(r[1], r[2]) for r in batch.drain(puts=False, deletes=True)] == [(b"b", None)]
    assert db.get(b"b") is None and len(batch) == 0


def test_documents_are_decoded_once_and_encoded_once_per_batch() -> None:
    table = FakeTable("t")
    db = table.data._db_for_partition(0)
    db.put(b"k", b'{"n": 1}')
    decoded: list[bytes] = []
    encoded: list[Any] = []

    def decode(raw: bytes) -> Any:
        decoded.append(raw)
        return orjson.loads(raw)

    def encode(doc: Any) -> bytes:
        encoded.append(doc)
        return orjson.dumps(doc)

    batch = TableBatch(table)
    assert batch.get_doc(0, b"missing", decode) is None and decoded == []
    for want in (2, 3, 4):  # a busy key: read and written by several records of the batch
        doc = {"n": batch.get_doc(0, b"k", decode)["n"] + 1}
        batch.put_doc(0, b"k", doc, encode)
        assert batch.get_doc(0, b"k", decode) is doc and doc["n"] == want
    assert decoded == [b'{"n": 1}'] and encoded == []  # the stored value decoded once
    assert batch.written(0, b"k") and batch.get(0, b"k") == b'{"n":4}'
    encoded.clear()
    batch.put(0, b"gone", None, early=True)
    batch.put_doc(0, b"gone", {"back": True}, encode)  # written again: an ordinary put
    out = sorted((r[1], r[2]) for r in batch.drain(puts=True, deletes=False))
    assert out == [(b"gone", b'{"back":true}'), (b"k", b'{"n":4}')]
    assert len(encoded) == 2 and db.get(b"k") == b'{"n":4}' and len(batch) == 0
    # a bytes value this batch put is decoded as stored bytes would be
    batch.put(0, b"raw", b'{"r": 1}')
    assert batch.get_doc(0, b"raw", decode) == {"r": 1}


def test_written_and_dropped() -> None:
    table = FakeTable("t")
    table.data._db_for_partition(0).put(b"k", b"before")
    batch = TableBatch(table)
    assert not batch.written(0, b"k") and batch.get(0, b"k") == b"before"
    assert batch.dropped(0, b"k") is None  # not deleted by this batch
    batch.put(0, b"k", b"new")
    assert batch.written(0, b"k") and batch.dropped(0, b"k") is None
    batch.put(0, b"k", None)
    assert batch.get(0, b"k") is None and batch.dropped(0, b"k") == b"before"
    batch.put(0, b"gone", None)
    assert batch.written(0, b"gone") and batch.dropped(0, b"gone") is None
    assert not batch.written(1, b"k")
    # phase 1 (puts) leaves the deletions pending, phase 2 sends them
    batch.put(0, b"p", b"v")
    assert batch.drain(puts=True, deletes=False) == [("t-changelog", b"p", b"v", None, 0)]
    assert batch.dropped(0, b"k") == b"before" and not batch.written(0, b"p")
    assert sorted(batch.drain(puts=False, deletes=True)) == [
        ("t-changelog", b"gone", None, None, 0), ("t-changelog", b"k", None, None, 0)]
    assert dict(table.data._db_for_partition(0)) == {b"p": b"v"}


def _stream(n: int = 500) -> list[dict[str, Any]]:
    """Two big parties: windows over several pages that expire and fire, seen ids that are
    forgotten and sent again (deleted and written again in one batch), duplicates."""
    rnd = random.Random(5)
    clock = {"A": 0.0, "B": 0.0}
    out = []
    for i in range(n):
        party = rnd.choice("AB")
        clock[party] += rnd.choice((0.05, 0.1, 0.3))
        if i % 37 == 5:
            clock[party] += 25  # the window's oldest expire
        if i % 23 == 0 and i:
            iid = f"{party}-edge-{i}"
            out.append(interaction(iid, party=party, type="SURVEY_COMPLETION",
                                   at=clock[party] - 29.98))
            clock[party] += 0.05  # the next one forgets it
            out.append(interaction(f"{iid}-next", party=party, at=clock[party]))
            out.append(interaction(iid, party=party, type="WEB_AD_VISIT", at=clock[party]))
        if i % 17 == 3 and out:
            out.append(dict(rnd.choice(out[-20:])))  # a duplicate
        out.append(interaction(f"{party}-{i}", party=party, at=clock[party],
                               type=rnd.choice(("WEB_AD_VISIT", "WEB_OFFER_VISIT")),
                               attributes={"pad": "x" * rnd.randint(0, 300)}))
    return out


class Worker:
    """The matching agent's storage of party state: a PartyStore over TableBatches."""

    def __init__(self) -> None:
        self.parties_table, self.parts_table = FakeTable("parties"), FakeTable("parts")
        self.rules = make_rules(interaction_score_threshold=80)
        self.outcomes: dict[str | None, Any] = {}

    def run_batch(self, records: list[dict[str, Any]], killed: bool = False) -> None:
        parties, parts = TableBatch(self.parties_table), TableBatch(self.parts_table)
        store = PartyStore(PartitionTable(parties, 0), PartitionTable(parts, 0))
        for rec in records:
            h = handle_interaction(rec, self.rules, store.load)
            self.outcomes.update((o.interaction_id, o.to_json()) for o in h.outcomes)
            if h.party_id is not None and h.state is not None:
                store.store(h.party_id, h.state)
        # phase 1 with the outputs, then headers, deletions; killed: the tables are rebuilt
        # from the changelogs, which have phase 1 only
        store.end_batch(killed=killed)

    def view(self, ids: list[str]) -> dict[str, Any]:
        """What the stored state says of each party: seen and pending ids, known ids."""
        db, parts_db = self.parties_table.data.dbs[0], self.parts_table.data.dbs[0]
        out = {}
        for key, raw in db.items():
            st = PartyState.from_bytes(raw, parts_db.get)
            out[key] = (st.seen, [e.interaction_id for e in st.window_entries()],
                        [i for i in ids if st.knows(i)], st.version, st.seq, st.inline is None)
        return out


def test_party_state_through_table_batches_survives_a_kill_between_phases() -> None:
    stream = _stream()
    ids = sorted({rec["interaction_id"] for rec in stream})
    want = Worker()
    for at in range(0, len(stream), 10):
        want.run_batch(stream[at:at + 10])
    assert all(v[5] for v in want.view(ids).values()), "parts under their own keys"

    got = Worker()
    at, n = 0, 0
    while at < len(stream):
        batch = stream[at:at + 10]
        if n % 2 == 1:
            before = got.view(ids)
            got.run_batch(batch, killed=True)
            assert got.view(ids) == before
            batch = batch[:n % 7 + 1]  # delivered again, in a shorter batch
        got.run_batch(batch)
        at += len(batch)
        n += 1
    assert got.outcomes == want.outcomes
    assert got.view(ids) == want.view(ids)
