"""The state gauges read RocksDB (key estimates, a sliced header scan), never Faust's table API."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import rocksdict

from state.party import PartyState, PendingEntry

ENTRY = PendingEntry("i1", "2026-01-01T00:00:00Z", 1.0, 0, 3, "RS", "v1")


def _table(path: Path, rows: dict[bytes, bytes]) -> SimpleNamespace:
    db = rocksdict.Rdict(str(path), rocksdict.Options(raw_mode=True))
    for k, v in rows.items():
        db[k] = v
    return SimpleNamespace(data=SimpleNamespace(_dbs={0: db}))


def test_state_gauges_count_local_tables(tmp_path: Path) -> None:
    from job.app import _update_state_gauges
    from ops import metrics

    parties = {b"P%d" % i: PartyState(window=(ENTRY,) if i % 3 == 0 else ()).to_bytes()
               for i in range(5000)}  # more than one scan slice
    tables = {"parties": _table(tmp_path / "p", parties),
              "leads": _table(tmp_path / "l", {b"L-1": b"{}"}),
              "imported": SimpleNamespace(data=SimpleNamespace(_dbs={}))}
    rt = SimpleNamespace(tables=SimpleNamespace(all=lambda: tables, parties=tables["parties"]))
    asyncio.run(_update_state_gauges(rt))  # type: ignore[arg-type]
    assert metrics.PENDING_PARTIES._value.get() == len(range(0, 5000, 3))
    assert metrics.STATE_ENTRIES.labels(table="parties")._value.get() == 5000
    assert metrics.STATE_ENTRIES.labels(table="leads")._value.get() == 1
    assert metrics.STATE_ENTRIES.labels(table="imported")._value.get() == 0
