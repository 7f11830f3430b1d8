"""`python app.py simulate` (CONTRACT §8): the engine offline over files."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from offline.simulate import run_simulation
from tests.builders import ROOT, RULES_YAML, input_lead, interaction, make_rules

OUTPUTS = ("leads.jsonl", "links.jsonl", "outcomes.jsonl", "import_results.jsonl", "report.json")

# One record (or raw text) per line; "" is a blank line.
LINES: list[Any] = [
    interaction("a1", party="A", at=0),                        # 1 PENDING -> LINKED (new lead)
    interaction("a2", party="A", at=1),                        # 2 LINKED (creates the lead)
    "{this is not json",                                       # 3 REJECTED
    "",                                                        # 4 blank: no outcome
    interaction("a3", party="A", type="WEB_AD_VISIT", at=2),   # 5 LINKED to existing
    interaction("b1", party="B", type="WEB_AD_VISIT", at=0),   # 6 PENDING -> EXPIRED
    interaction("b2", party="B", type="EVENT_REGISTRATION", at=40),  # 7 PENDING
    interaction("a2", party="A", at=1),                        # 8 DUPLICATE
    interaction("g1", party="GUEST", at=3),                    # 9 GUEST
    "   ",                                                     # 10 blank
    interaction("x1", party="B", type="NOT_A_TYPE", at=3),     # 11 REJECTED
    interaction("e1", party="E", at=5),                        # 12 LINKED to input lead E1
    {"interaction_id": "m1", "party_id": "C", "type": "SURVEY_CALLBACK"},  # 13 REJECTED
    interaction("late", party="B", type="WEB_AD_VISIT", at=1),  # 14 EXPIRED at once
]
EXPECTED = {1: "LINKED", 2: "LINKED", 3: "REJECTED", 5: "LINKED", 6: "EXPIRED", 7: "PENDING",
            8: "DUPLICATE", 9: "GUEST", 11: "REJECTED", 12: "LINKED", 13: "REJECTED",
            14: "EXPIRED"}
LEADS = [input_lead("E1", party="E", created_at=1)]


def _write(path: Path, lines: list[Any]) -> Path:
    path.write_text("".join((json.dumps(x) if isinstance(x, dict) else x) + "\n" for x in lines))
    return path


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    return {"interactions": _write(tmp_path / "interactions.jsonl", LINES),
            "leads": _write(tmp_path / "leads.jsonl", LEADS)}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "app.py", "simulate", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def _simulate(inputs: dict[str, Path], out: Path) -> subprocess.CompletedProcess[str]:
    return _cli("--rules", str(RULES_YAML), "--interactions", str(inputs["interactions"]),
                "--leads", str(inputs["leads"]), "--out", str(out))


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_cli_runs_with_bad_lines_exit_0_and_byte_identical(inputs: dict[str, Path],
                                                           tmp_path: Path) -> None:
    p1 = _simulate(inputs, tmp_path / "out1")
    p2 = _simulate(inputs, tmp_path / "out2")
    assert p1.returncode == 0, p1.stderr
    assert p2.returncode == 0, p2.stderr
    for name in OUTPUTS:
        a, b = (tmp_path / "out1" / name).read_bytes(), (tmp_path / "out2" / name).read_bytes()
        assert a == b, name
    assert (tmp_path / "out1" / "outcomes.jsonl").read_bytes()


def test_outcomes_one_row_per_non_blank_line(inputs: dict[str, Path], tmp_path: Path) -> None:
    run_simulation(make_rules(), tmp_path, interactions=inputs["interactions"],
                   leads=inputs["leads"],
                   progress=False)
    rows = _rows(tmp_path / "outcomes.jsonl")
    assert {r["line"]: r["outcome"] for r in rows} == EXPECTED
    assert [r["line"] for r in rows] == sorted(EXPECTED)


def test_bad_line_is_an_outcome_with_its_line(inputs: dict[str, Path], tmp_path: Path) -> None:
    run_simulation(make_rules(), tmp_path, interactions=inputs["interactions"],
                   leads=inputs["leads"],
                   progress=False)
    rows = {r["line"]: r for r in _rows(tmp_path / "outcomes.jsonl")}
    assert rows[3]["outcome"] == "REJECTED" and "json" in rows[3]["reason"].lower()
    assert rows[11]["interaction_id"] == "x1" and "type" in rows[11]["reason"]
    assert "occurred_at" in rows[13]["reason"]
    assert rows[7]["score"] == 3 and rows[7]["rule_set_id"] == "seeded"
    assert rows[6]["score"] == 1  # expired later: the final record of line 6


def test_outputs_content(inputs: dict[str, Path], tmp_path: Path) -> None:
    rules = make_rules()
    run_simulation(rules, tmp_path, interactions=inputs["interactions"], leads=inputs["leads"],
                   progress=False)
    leads = {lead["lead_id"]: lead for lead in _rows(tmp_path / "leads.jsonl")}
    assert "E1" in leads and leads["E1"]["origin"] == "EXTERNAL"   # input leads included
    assert leads["E1"]["interaction_ids"] == ["e1"] and leads["E1"]["interaction_score"] == 10
    [made] = [lead for lead in leads.values() if lead["origin"] == "INTERACTION"]
    assert made["interaction_ids"] == ["a1", "a2", "a3"] and made["interaction_score"] == 21
    links = _rows(tmp_path / "links.jsonl")
    assert sorted(lk["interaction_id"] for lk in links) == ["a1", "a2", "a3", "e1"]
    assert all(lk["rules_version"] == rules.version for lk in links)
    assert (tmp_path / "import_results.jsonl").read_text() == ""


def test_report_consistent_with_outcomes(inputs: dict[str, Path], tmp_path: Path) -> None:
    run_simulation(make_rules(), tmp_path, interactions=inputs["interactions"],
                   leads=inputs["leads"],
                   progress=False)
    rows = _rows(tmp_path / "outcomes.jsonl")
    report = json.loads((tmp_path / "report.json").read_text())
    t = report["total"]
    finals = Counter(r["outcome"] for r in rows)
    assert t["interactions"] == len(rows)
    assert t["linked_existing"] + t["linked_new_lead"] == finals["LINKED"]
    for code in ("pending", "expired", "guest", "duplicate", "no_rule", "type_disabled",
                 "rejected"):
        assert t[code] == finals[code.upper()], code
    assert (t["leads_created"], t["linked_existing"]) == (1, 2)
    seeded = report["rule_sets"]["seeded"]
    for col in ("scored", "linked_existing", "linked_new_lead", "leads_created", "pending",
                "expired"):
        assert seeded[col] == t[col], col  # one rule set: it carries every scored count


def test_only_blank_and_bad_lines(tmp_path: Path) -> None:
    src = _write(tmp_path / "in.jsonl", ["", "nope", "", "[1]"])
    p = _cli("--rules", str(RULES_YAML), "--interactions", str(src), "--out", str(tmp_path / "o"))
    assert p.returncode == 0, p.stderr
    rows = _rows(tmp_path / "o" / "outcomes.jsonl")
    assert [(r["line"], r["outcome"]) for r in rows] == [(2, "REJECTED"), (4, "REJECTED")]
    assert (tmp_path / "o" / "leads.jsonl").read_text() == ""


@pytest.mark.parametrize("case", ["missing interactions", "bad rules"])
def test_command_that_cannot_run_exits_non_zero(case: str, tmp_path: Path) -> None:
    good = _write(tmp_path / "in.jsonl", [interaction("a")])
    if case == "missing interactions":
        args = ["--rules", str(RULES_YAML), "--interactions", str(tmp_path / "nope.jsonl")]
    else:
        bad = tmp_path / "bad.yaml"
        bad.write_text("interaction_rule_sets: [{id: x, status: NOPE}]\n")
        args = ["--rules", str(bad), "--interactions", str(good)]
    p = _cli(*args, "--out", str(tmp_path / "o"))
    assert p.returncode != 0
