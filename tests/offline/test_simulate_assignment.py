"""`simulate` assigns every lead (CONTRACT §11): owners and territories in leads.jsonl, the
same for the same input, and in input order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from offline.simulate import run_simulation
from rules.loader import load_rules_doc
from tests.builders import input_lead, interaction, make_doc

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
    run_simulation(rules, its, tmp / out, leads=leads, progress=False)
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
