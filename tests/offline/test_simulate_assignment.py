"""`simulate` assigns every lead (CONTRACT §11): owners and territories in leads.jsonl, the
same for the same input, and in input order."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from core.matching import lead_id_for
from offline.simulate import run_simulation
from rules.loader import load_rules_doc
from tests.builders import ROOT, input_lead, interaction, make_doc

ASSIGNMENT = """
profiles: {interaction_score_threshold: 10}
processing: {process_external_leads: true}
assignment:
  territories:
    - id: us
      precedence: 2
      guard: {country: [US]}
      members:
        - {resource: ANN, weight: 2, capacity: 2}
        - {resource: BOB, weight: 1, capacity: 1}
    - id: fr
      precedence: 1
      guard: {country: [FR]}
      members:
        - {resource: CLO}
  fallback: POOL
"""


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _run(tmp: Path, out: str) -> list[dict[str, Any]]:
    doc = make_doc(ASSIGNMENT)
    (tmp / "rules.yaml").write_text(yaml.safe_dump(doc))
    rules = load_rules_doc(doc)
    leads = _write(tmp / "leads.jsonl", [
        input_lead("E1", party="E1", created_at=0, country="US"),               # ANN
        input_lead("E2", party="E2", created_at=0, country="US", owner="ZED"),  # by hand
        input_lead("E3", party="E3", created_at=0, country="US", status="DEAD"),  # closed
    ])
    its = _write(tmp / "interactions.jsonl", [
        interaction(f"u{k}", party=f"U{k}", at=k, country="US") for k in range(3)
    ] + [interaction("f0", party="F0", at=1, country="FR"),
         interaction("x0", party="X0", at=1, country="DE")])
    run_simulation(rules, tmp / out, interactions=its, leads=leads, progress=False)
    return [json.loads(line) for line in (tmp / out / "leads.jsonl").read_text().splitlines()]


def test_simulate_assigns_in_input_order(tmp_path: Path) -> None:
    got = {x["lead_id"] if x["origin"] == "EXTERNAL" else x["party_id"]:
           (x["territory_id"], x["owner"]) for x in _run(tmp_path, "a")}
    assert got == {
        "E1": ("us", "ANN"), "E2": (None, "ZED"), "E3": (None, None),
        "U0": ("us", "BOB"), "U1": ("us", "ANN"), "U2": (None, "POOL"),  # us is full
        "F0": ("fr", "CLO"), "X0": (None, "POOL"),
    }
    assert (tmp_path / "a" / "leads.jsonl").read_bytes() == \
        (_run(tmp_path, "b") and (tmp_path / "b" / "leads.jsonl").read_bytes())


def _lead_of(party: str, day: int) -> dict[str, Any]:
    return {"topic": "interactions", "value": interaction(f"{party}-{day}", party=party,
                                                          at=day, country="US")}


def _upd(party: str, day: int, **kw: Any) -> dict[str, Any]:
    lead_id = lead_id_for(party, f"{party}-0")  # made by its interaction of day 0
    return {"topic": "lead-updates", "value": {
        "lead_id": lead_id, "party_id": party, "status": kw.pop("status", "NEW"),
        "updated_at": f"2024-03-{day + 1:02d}T12:00:00+00:00", **kw}}


def test_simulate_events_history(tmp_path: Path) -> None:
    """The held-out kinds through `simulate --events`: weights, capacity, a closed lead
    freeing a place, fallback, an owner set by hand, an interaction that must not reassign."""
    doc = make_doc(ASSIGNMENT)
    rules_path = tmp_path / "rules.yaml"
    rules_path.write_text(yaml.safe_dump(doc))
    events = [_lead_of(f"U{k}", 0) for k in range(4)]      # ANN BOB ANN, then full: POOL
    events += [_upd("U1", 1, status="DEAD")]                # BOB's place is free again
    events += [_lead_of("U4", 2)]                           # BOB
    events += [_upd("U0", 3, owner="ZED")]                  # by hand: ANN's place frees
    events += [_lead_of("U0", 4)]                           # a link: U0 keeps ZED
    events += [_lead_of("U5", 5)]                           # ANN (room again)
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    run = subprocess.run([sys.executable, "app.py", "simulate", "--rules", str(rules_path),
                          "--events", str(tmp_path / "events.jsonl"), "--out",
                          str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    rows = [json.loads(x) for x in (tmp_path / "out" / "leads.jsonl").read_text().splitlines()]
    got = {x["party_id"]: (x["status"], x["territory_id"], x["owner"]) for x in rows}
    assert got == {
        "U0": ("NEW", "us", "ZED"), "U1": ("DEAD", "us", "BOB"), "U2": ("NEW", "us", "ANN"),
        "U3": ("NEW", None, "POOL"), "U4": ("NEW", "us", "BOB"), "U5": ("NEW", "us", "ANN"),
    }
    u0 = next(x for x in rows if x["party_id"] == "U0")
    assert len(u0["interaction_ids"]) == 2
    assert [(e["trigger"], e["result"]) for e in u0["processing"]
            if e["engine"] == "assignment"] == [("CREATED", "ANN"), ("MANUAL", "ZED")]
    assert not (tmp_path / "out" / "dead_letters.jsonl").read_text().strip()
