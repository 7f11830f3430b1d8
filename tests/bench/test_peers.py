"""bench/peers.py: what the peer subjects are checked against, and that the peers' apps stand
alone (they run in their own venv, without the project on the path)."""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import pytest

from bench import data, peers
from bench.common import ROOT

FIRST_PARTY = {"bench", "models", "rules", "core", "offline", "streaming", "tables", "agents",
               "ops", "config", "app", "cli"}


def _rec(party: str, when: str, itype: str) -> dict[str, str]:
    return {"party_id": party, "occurred_at": when, "type": itype}


def test_window_alerts_emit_at_threshold_and_start_again() -> None:
    day = "2026-03-0{}T10:00:00+00:00"
    recs = [_rec("P1", day.format(2), "SURVEY_CALLBACK"),   # 10
            _rec("P2", day.format(2), "SURVEY_CALLBACK"),   # another party: its own sum
            _rec("P1", day.format(3), "WEB_AD_VISIT"),      # 11
            _rec("P1", day.format(4), "SURVEY_CALLBACK"),   # 21 -> emits, starts again
            _rec("P1", day.format(5), "SURVEY_CALLBACK"),   # 10
            _rec("P1", day.format(6), "SURVEY_CALLBACK")]   # 20 -> emits
    assert peers.window_alerts(recs) == 2
    assert peers.window_alerts(recs[:4]) == 1
    assert peers.window_alerts(recs[:3]) == 0


def test_window_alerts_windows_are_epoch_aligned_30_days() -> None:
    # 2026-03-08 00:00 UTC is a multiple of 30 days since the epoch (20,520 days): a boundary
    assert (20520 * 86400 * 1000) % peers.WINDOW_MS == 0
    before, after = "2026-03-07T23:59:59+00:00", "2026-03-08T00:00:00+00:00"
    split = [_rec("P1", before, "SURVEY_CALLBACK"), _rec("P1", after, "SURVEY_CALLBACK")]
    assert peers.window_alerts(split) == 0
    # the same instant in another offset is the same window
    same = [_rec("P1", after, "SURVEY_CALLBACK"),
            _rec("P1", "2026-03-08T05:30:00+05:30", "SURVEY_CALLBACK")]
    assert peers.window_alerts(same) == 1


def test_peer_apps_import_nothing_from_the_project() -> None:
    apps = sorted(peers.APPS.glob("*.py"))
    assert {p.name for p in apps} >= {"quix_window.py", "bytewax_sum.py", "tansu_fix.py"}
    for path in apps:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert name.split(".")[0] not in FIRST_PARTY, f"{path.name} imports {name}"


def test_peer_env_has_the_apps_not_the_project_on_the_path() -> None:
    env = peers.peer_env({"PEER_EXPECT": "5"})
    path = env["PYTHONPATH"].split(os.pathsep)
    assert path == [str(peers.APPS)]
    assert str(ROOT) not in path
    assert json.loads(env["PEER_SCORES"]) == data.DEFAULT_SCORES
    assert env["PEER_EXPECT"] == "5"


def test_peer_requirements_are_pinned() -> None:
    assert peers.PEER_REQUIREMENTS
    assert all("==" in r for r in peers.PEER_REQUIREMENTS)
    assert any(r.startswith("quixstreams==3.28.1") for r in peers.PEER_REQUIREMENTS)


def test_peer_progress_writes_the_marker_once_at_the_expected_record(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(peers.APPS))
    monkeypatch.setenv("PEER_EXPECT", "3")  # the defaults of the peer apps
    monkeypatch.setenv("PEER_MARKER", str(tmp_path / "done.json"))
    from peer_progress import Progress

    progress = Progress()
    assert [progress.seen() for _ in range(2)] == [False, False]
    assert not (tmp_path / "done.json").exists()
    assert progress.seen()
    marker = json.loads((tmp_path / "done.json").read_text())
    assert marker["count"] == 3 and marker["last"] >= marker["first"] > 0
    assert marker["cpu_s"] >= 0
    assert not progress.seen() and not (tmp_path / "done.tmp").exists()
