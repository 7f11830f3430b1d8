"""`python app.py links check` (CONTRACT §12): integrity of the link table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from core.integrity import MAX_IDS, check, clean
from offline.simulate import run_simulation
from tests.builders import ROOT, interaction, make_rules


def _write(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "app.py", "links", "check", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def _link(iid: str, lead: str, imp: str | None = None) -> dict[str, Any]:
    return {"interaction_lead_id": f"IL-{iid}-{lead}", "interaction_id": iid,
            "sales_lead_id": lead, "import_interface_id": imp}


def test_simulate_output_is_clean(tmp_path: Path) -> None:
    rules = make_rules()
    inter = _write(tmp_path / "in.jsonl", [
        interaction(f"i{n}", party="A", at=n * 0.1) for n in range(5)])
    imports = _write(tmp_path / "imp.jsonl", [{
        "import_interface_id": "II-1", "source_system": "S", "orig_system_reference": "R",
        "party_id": "A", "created_at": "2024-02-20T00:00:00Z", "interaction_id": "form-1"}])
    out = tmp_path / "out"
    run_simulation(rules, out, interactions=inter, imports=imports, progress=False)
    res = _cli("--leads", str(out / "leads.jsonl"), "--links", str(out / "links.jsonl"),
               "--interactions", str(inter), "--import-results",
               str(out / "import_results.jsonl"))
    doc = json.loads(res.stdout)
    # the import's own interaction (a web form) is not in the interactions file
    assert doc["unknown_interactions"]["count"] == 1, doc
    assert res.returncode == 1
    assert "unknown_interactions 1" in res.stderr
    res = _cli("--leads", str(out / "leads.jsonl"), "--links", str(out / "links.jsonl"),
               "--import-results", str(out / "import_results.jsonl"))
    assert res.returncode == 0, res.stdout + res.stderr
    assert json.loads(res.stdout)["unknown_interactions"]["checked"] is False


def test_each_list(tmp_path: Path) -> None:
    leads = _write(tmp_path / "leads.jsonl", [
        {"lead_id": "L1", "interaction_ids": ["i1", "i2"]},
        {"lead_id": "L2", "interaction_ids": []},
        {"lead_id": "L3", "interaction_ids": ["i5"]},
        {"lead_id": "L2", "deleted": True},
    ])
    links = _write(tmp_path / "links.jsonl", [
        _link("i1", "L1"), _link("i3", "L2"), _link("i4", "GONE"), _link("i5", "L3", "II-9"),
    ])
    events = _write(tmp_path / "events.jsonl", [
        {"topic": "interactions", "value": interaction("i1")},
        {"topic": "feed.web", "value": {"event_id": "5", "party_id": "P"}},
        {"topic": "lead-updates", "value": {"lead_id": "L1"}},
    ])
    results = _write(tmp_path / "results.jsonl", [{"import_interface_id": "II-1"}])
    res = _cli("--leads", str(leads), "--links", str(links), "--interactions", str(events),
               "--import-results", str(results))
    assert res.returncode == 1
    doc = json.loads(res.stdout)
    assert doc["orphan_links"] == {"count": 2, "ids": ["IL-i3-L2", "IL-i4-GONE"],
                                   "checked": True}
    assert doc["unknown_interactions"]["ids"] == ["IL-i3-L2", "IL-i4-GONE", "IL-i5-L3"]
    assert doc["leads_without_links"]["ids"] == ["L1"]
    assert doc["unknown_imports"]["ids"] == ["IL-i5-L3"]


def test_lists_keep_the_first_hundred_ids_and_the_full_count() -> None:
    links = [_link(f"i{n}", "nowhere") for n in range(MAX_IDS + 5)]
    res = check([], links)
    assert res["orphan_links"]["count"] == MAX_IDS + 5
    assert len(res["orphan_links"]["ids"]) == MAX_IDS
    assert not clean(res)
    assert clean(check([{"lead_id": "L", "interaction_ids": ["a"]}], [_link("a", "L")]))


def test_unreadable_file_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{nope\n")
    res = _cli("--leads", str(bad), "--links", str(bad))
    assert res.returncode == 2 and "not valid JSON" in res.stderr
    res = _cli("--leads", str(tmp_path / "missing"), "--links", str(bad))
    assert res.returncode == 2
