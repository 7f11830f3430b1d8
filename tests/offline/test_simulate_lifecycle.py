"""`simulate` with edits and deletion (CONTRACT §8, §10): a deleted lead is not in
leads.jsonl, its links stay in links.jsonl; another party's lead id and a deleted lead's id
are refused into dead_letters.jsonl with their reason codes."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from offline.simulate import run_simulation
from tests.builders import input_lead, interaction, make_rules, ts


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines()]


LEADS = [
    input_lead("E1", party="E", created_at=0, interaction_ids=["pre"], interaction_score=3),
    input_lead("E2", party="E", created_at=0),
    {"lead_id": "E1", "party_id": "E", "status": "NEW", "updated_at": ts(0.5), "deleted": True},
    {"lead_id": "E2", "party_id": "F", "status": "DEAD", "updated_at": ts(0.5)},
    {"lead_id": "E2", "party_id": "E", "status": "NEW", "updated_at": ts(0.6),
     "country": "us", "attributes": {"k": "v"}},
    {"lead_id": "E1", "party_id": "E", "status": "NEW", "updated_at": ts(0.7),
     "created_at": ts(0)},
]


def test_leads_file_deleted_and_refused(tmp_path: Path) -> None:
    leads = _write(tmp_path / "leads.jsonl", LEADS)
    its = _write(tmp_path / "interactions.jsonl", [interaction("e1", party="E", at=1)])
    log = io.StringIO()
    run_simulation(make_rules(), tmp_path / "out", interactions=its, leads=leads,
                   progress=False, log=log)
    rows = _rows(tmp_path / "out" / "leads.jsonl")
    assert [r["lead_id"] for r in rows] == ["E2"]
    assert (rows[0]["status"], rows[0]["country"], rows[0]["attributes"]) == (
        "NEW", "US", {"k": "v"})
    assert rows[0]["interaction_ids"] == ["e1"]
    assert "lead belongs to another party" in log.getvalue()


def test_events_file_dead_letters(tmp_path: Path) -> None:
    events = _write(tmp_path / "events.jsonl", [
        *({"topic": "lead-updates", "value": v} for v in LEADS),
        {"topic": "interactions", "value": interaction("e1", party="E", at=1)},
    ])
    run_simulation(make_rules(), tmp_path / "out", events=events, progress=False, log=None)
    dead = _rows(tmp_path / "out" / "dead_letters.jsonl")
    assert [(d["line"], d["topic"], d["reason"]) for d in dead] == [
        (4, "lead-updates", "lead_belongs_to_other_party"),
        (6, "lead-updates", "lead_deleted")]
    assert [r["lead_id"] for r in _rows(tmp_path / "out" / "leads.jsonl")] == ["E2"]
