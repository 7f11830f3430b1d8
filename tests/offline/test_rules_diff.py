"""`python app.py rules diff` (CONTRACT §13): a history where each change is known, the diff
against two independent `simulate` runs, events replay, base rules from Redis, errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from offline.rules_diff import main as diff_main
from offline.simulate import run_simulation
from rules.loader import load_rules_file
from tests.builders import ROOT, RULES_YAML, interaction, make_doc

SAMPLES = ROOT / "data" / "samples"
NEW_SNIPPET = {
    "profiles": {"interaction_score_threshold": 12},
    "processing": {"qualification": [{
        "id": "us-always", "status": "ACTIVE", "precedence": 5, "guard": {"country": ["US"]},
        "rules": [{"id": "q-us", "when": {}, "then": True}],
    }]},
}
# Base: the shipped rules (IST 20, nothing qualifies). New: IST 12, US leads qualify.
HISTORY = [
    interaction("p1-a", party="P1", type="SURVEY_CALLBACK", at=0, country="DE"),     # 10
    interaction("p1-b", party="P1", type="ITEM_INQUIRY", at=1, country="DE"),        # 13: new only
    interaction("p2-a", party="P2", type="SURVEY_CALLBACK", at=0, country="US"),
    interaction("p2-b", party="P2", type="SURVEY_CALLBACK", at=1, country="US"),     # both; US
    interaction("p3-a", party="P3", type="SURVEY_CALLBACK", at=0, country="FR"),
    interaction("p3-b", party="P3", type="EVENT_REGISTRATION", at=1, country="FR"),  # new: lead
    interaction("p3-c", party="P3", type="SURVEY_CALLBACK", at=2, country="FR"),     # base: lead
    interaction("p4-a", party="P4", type="SURVEY_CALLBACK", at=0, country="DE"),
    interaction("p4-b", party="P4", type="SURVEY_CALLBACK", at=1, country="DE"),     # same both
    interaction("p5-a", party="P5", type="WEB_AD_VISIT", at=0, country="US"),        # pending
]


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(x) for x in path.read_bytes().splitlines() if x.strip()]


@pytest.fixture
def new_rules(tmp_path: Path) -> Path:
    p = tmp_path / "new.yaml"
    p.write_text(yaml.safe_dump(make_doc(NEW_SNIPPET), sort_keys=False))
    return p


def _diff(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "RULES_PATH")}
    return subprocess.run([sys.executable, "app.py", "rules", "diff", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env={**full, **(env or {})})


def test_known_history(tmp_path: Path, new_rules: Path) -> None:
    hist = write_jsonl(tmp_path / "i.jsonl", HISTORY)
    res = _diff(str(new_rules), "--interactions", str(hist), "--out", str(tmp_path / "out"))
    assert res.returncode == 0, res.stderr
    lines = read_jsonl(tmp_path / "out" / "diff.jsonl")
    assert [x["lead_id"] for x in lines] == sorted(x["lead_id"] for x in lines)
    by_ids = {(x["change"], tuple((x["fields"].get("interaction_ids") or [None, None])[
        0 if x["change"] == "REMOVED" else 1] or ())): x for x in lines}
    p2 = [x for x in lines if x["change"] == "CHANGED"]
    assert len(p2) == 1 and p2[0]["fields"] == {"qualified": [False, True]}
    assert set(by_ids) == {
        ("ADDED", ("p1-a", "p1-b")),                # IST 12 reached by P1
        ("CHANGED", ()),                            # P2 qualified (its ids did not change)
        ("REMOVED", ("p3-a", "p3-b", "p3-c")),      # base: made by p3-c
        ("ADDED", ("p3-a", "p3-b", "p3-c")),        # new: made by p3-b, p3-c linked
    }
    added_p3 = by_ids[("ADDED", ("p3-a", "p3-b", "p3-c"))]["fields"]
    assert added_p3["created_at"][1] == HISTORY[5]["occurred_at"]
    assert added_p3["interaction_score"] == [None, 23] and added_p3["qualified"] == [None, False]
    removed_p3 = by_ids[("REMOVED", ("p3-a", "p3-b", "p3-c"))]["fields"]
    assert removed_p3["created_at"][0] == HISTORY[6]["occurred_at"]

    out = res.stdout
    assert "leads: 3 -> 4   added 2, removed 1, changed 1" in out
    assert "qualified no 3, yes 0->1   changed on 1 lead(s): no->yes 1" in out
    assert "leads_created 3->4" in out and "pending 3->1" in out
    assert "rejected" not in out  # zero on both sides: left out
    assert "-> " + str(tmp_path / "out" / "diff.jsonl") in out
    summary = orjson.loads((tmp_path / "out" / "summary.json").read_bytes())
    assert summary["leads"]["changed"] == 1
    assert summary["new"]["version"] == load_rules_file(new_rules).version
    # the default RULES_PATH is the repository's config/rules.yaml, from any directory (issue 16)
    root = Path(__file__).resolve().parents[2]
    assert summary["base"]["source"] == f"file:{root / 'config' / 'rules.yaml'}"


def _independent_diff(a: Path, b: Path) -> list[dict[str, Any]]:
    """The difference of two simulate runs, computed here without offline.lead_diff."""
    skip = {"lead_id", "processing", "rules_version", "updated_at"}
    before = {x["lead_id"]: x for x in read_jsonl(a / "leads.jsonl")}
    after = {x["lead_id"]: x for x in read_jsonl(b / "leads.jsonl")}
    out = []
    for lid in sorted(before.keys() | after.keys()):
        x, y = before.get(lid), after.get(lid)
        names = [k for k in (x or y or {}) if k not in skip]
        if x is None or y is None:
            kind = "ADDED" if x is None else "REMOVED"
            out.append({"lead_id": lid, "change": kind, "fields": {
                k: [(x or {}).get(k), (y or {}).get(k)] for k in names}})
        elif any(x[k] != y[k] for k in names):
            out.append({"lead_id": lid, "change": "CHANGED",
                        "fields": {k: [x[k], y[k]] for k in names if x[k] != y[k]}})
    return out


@pytest.mark.parametrize("new_snippet", [
    NEW_SNIPPET,
    {"interaction_types": [{"code": t, "name": t, "default_score": s, "enabled": True} for t, s in (
        ("SURVEY_CALLBACK", 4), ("EVENT_REGISTRATION", 9), ("SURVEY_COMPLETION", 3),
        ("WEB_COLLABORATION", 2), ("ITEM_INQUIRY", 3), ("WEB_AD_VISIT", 2),
        ("WEB_OFFER_VISIT", 1), ("EMAIL_CLICKTHROUGH", 1))]},
], ids=["threshold+qualification", "type scores"])
def test_diff_equals_the_difference_of_two_simulate_runs(tmp_path: Path,
                                                         new_snippet: dict[str, Any]) -> None:
    base_path = ROOT / "config" / "examples" / "vision-enterprises.yaml"
    doc = yaml.safe_load(base_path.read_text())
    from tests.builders import merge

    new_path = tmp_path / "new.yaml"
    new_path.write_text(yaml.safe_dump(merge(doc, new_snippet), sort_keys=False))
    files = {"interactions": SAMPLES / "interactions.jsonl", "leads": SAMPLES / "leads.jsonl",
             "imports": SAMPLES / "imports.jsonl"}
    for name, rules_path in (("a", base_path), ("b", new_path)):
        run_simulation(load_rules_file(rules_path), tmp_path / name,
                       interactions=files["interactions"], leads=files["leads"],
                       imports=files["imports"], progress=False)
    expected = _independent_diff(tmp_path / "a", tmp_path / "b")
    assert expected, "the two configs must differ on this history"

    args = [str(new_path), "--base", str(base_path), "--interactions", str(files["interactions"]),
            "--leads", str(files["leads"]), "--imports", str(files["imports"]),
            "--out", str(tmp_path / "d")]
    out, err = _Buf(), _Buf()
    assert diff_main(args, out, err) == 0, err.text
    assert read_jsonl(tmp_path / "d" / "diff.jsonl") == expected
    for name, sub in (("a", "base"), ("b", "new")):  # the kept runs are simulate's own files
        assert (tmp_path / "d" / sub / "leads.jsonl").read_bytes() == (
            tmp_path / name / "leads.jsonl").read_bytes()


class _Buf:
    def __init__(self) -> None:
        self.text = ""

    def write(self, s: str) -> int:
        self.text += s
        return len(s)

    def flush(self) -> None:
        pass


def test_events_replay_gives_the_same_diff_as_the_files(tmp_path: Path, new_rules: Path) -> None:
    hist = write_jsonl(tmp_path / "i.jsonl", HISTORY)
    events = write_jsonl(tmp_path / "e.jsonl",
                         [{"topic": "interactions", "value": r} for r in HISTORY])
    out_a, out_b = _Buf(), _Buf()
    assert diff_main([str(new_rules), "--interactions", str(hist), "--out",
                      str(tmp_path / "a")], out_a, _Buf()) == 0
    assert diff_main([str(new_rules), "--events", str(events), "--out",
                      str(tmp_path / "b")], out_b, _Buf()) == 0
    assert (tmp_path / "a" / "diff.jsonl").read_bytes() == (
        tmp_path / "b" / "diff.jsonl").read_bytes()
    assert read_jsonl(tmp_path / "a" / "diff.jsonl")


def test_events_with_feeds_and_updates(tmp_path: Path, new_rules: Path) -> None:
    """A feed record maps to its interaction and a lead update applies, as in the job."""
    events = [
        {"topic": "feed.callcenter", "value": {"call_id": "1", "party_id": "P9",
                                               "outcome": "CALLBACK_REQUESTED",
                                               "started_at": "2024-03-01T10:00:00+00:00",
                                               "country": "US"}},
        {"topic": "feed.web", "value": {"event_id": "w1", "party_id": "P9", "event": "event_signup",
                                        "ts": "2024-03-01T11:00:00+00:00", "geo_country": "US"}},
        {"topic": "interactions", "value": interaction("p9-c", party="P9", at=1, country="US")},
    ]
    path = write_jsonl(tmp_path / "e.jsonl", events)
    out = _Buf()
    assert diff_main([str(new_rules), "--events", str(path), "--out", str(tmp_path / "o")],
                     out, _Buf()) == 0
    lines = read_jsonl(tmp_path / "o" / "diff.jsonl")
    # base: 10 + 3 + 10 = 23 makes a lead at p9-c; new: 10 + 3 = 13 makes it at web-w1
    assert sorted(x["change"] for x in lines) == ["ADDED", "REMOVED"]
    added = next(x for x in lines if x["change"] == "ADDED")["fields"]
    assert added["interaction_ids"][1] == ["cc-1", "web-w1", "p9-c"]
    assert added["qualified"] == [None, True]


def test_base_from_redis(tmp_path: Path, new_rules: Path, clean_redis_url: str) -> None:
    from ops.rules_store import push_rules

    text = (ROOT / "config" / "examples" / "vision-enterprises.yaml").read_text()
    version = load_rules_file(ROOT / "config" / "examples" / "vision-enterprises.yaml").version
    push_rules(clean_redis_url, text, version)
    hist = write_jsonl(tmp_path / "i.jsonl", HISTORY)
    res = _diff(str(new_rules), "--interactions", str(hist),
                env={"REDIS_URL": clean_redis_url})
    assert res.returncode == 0, res.stderr
    assert f"base {version} (redis)" in res.stdout
    assert "not kept (give --out DIR)" in res.stdout
    res = _diff(str(new_rules), "--interactions", str(hist), "--redis-url", clean_redis_url)
    assert res.returncode == 0 and f"base {version} (redis)" in res.stdout, res.stderr
    import redis

    redis.Redis.from_url(clean_redis_url).flushdb()
    res = _diff(str(new_rules), "--interactions", str(hist), "--redis-url", clean_redis_url)
    assert res.returncode == 2 and "no rules in force" in res.stderr and "--base" in res.stderr


def test_base_from_rules_path(tmp_path: Path, new_rules: Path) -> None:
    hist = write_jsonl(tmp_path / "i.jsonl", HISTORY)
    res = _diff(str(new_rules), "--interactions", str(hist), env={"RULES_PATH": str(new_rules)})
    assert res.returncode == 0, res.stderr
    assert "added 0, removed 0, changed 0" in res.stdout
    assert "the two configs have the same rules_version" in res.stdout


def test_errors(tmp_path: Path, new_rules: Path) -> None:
    hist = write_jsonl(tmp_path / "i.jsonl", HISTORY)
    bad = tmp_path / "bad.yaml"
    bad.write_text(RULES_YAML.read_text().replace("precedence: 1", "precedence: lots"))
    res = _diff(str(bad), "--interactions", str(hist))
    assert res.returncode == 1 and "does not validate" in res.stderr and "precedence" in res.stderr
    res = _diff(str(new_rules), "--interactions", str(tmp_path / "missing.jsonl"))
    assert res.returncode == 2 and "no such file" in res.stderr
    res = _diff(str(new_rules), "--interactions", str(hist), "--since", "7d")
    assert res.returncode == 2 and "--since goes with --from-topic" in res.stderr
    res = _diff(str(new_rules), "--from-topic")
    assert res.returncode == 2 and "--since" in res.stderr
    res = _diff(str(new_rules), "--from-topic", "--since", "soon")
    assert res.returncode == 2 and "expected a duration" in res.stderr
    res = _diff(str(new_rules))
    assert res.returncode == 2 and "one of the arguments" in res.stderr
    for r in (res,):
        assert "Traceback" not in r.stderr
    res = _diff(str(new_rules), "--interactions", str(hist), "--base", str(bad))
    assert res.returncode == 1 and "base rules" in res.stderr


def test_events_in_simulate_order_equal_the_files(tmp_path: Path) -> None:
    """Leads, then imports, then interactions as one events file: the same diff and the same
    report totals as the three files (simulate's own order)."""
    base_path = ROOT / "config" / "examples" / "vision-enterprises.yaml"
    new_path = tmp_path / "new.yaml"
    doc = yaml.safe_load(base_path.read_text())
    doc["profiles"]["interaction_score_threshold"] = 14
    new_path.write_text(yaml.safe_dump(doc, sort_keys=False))
    events = [{"topic": topic, "value": row}
              for topic, name in (("lead-updates", "leads"), ("lead-imports", "imports"),
                                  ("interactions", "interactions"))
              for row in read_jsonl(SAMPLES / f"{name}.jsonl") if isinstance(row, dict)]
    events.append({"topic": "feed.web", "value": {"event_id": "zz", "party_id": "P1",
                                                  "event": "no_such_event",
                                                  "ts": "2026-03-03T09:00:00+00:00"}})
    ev_path = write_jsonl(tmp_path / "events.jsonl", events)
    common = [str(new_path), "--base", str(base_path)]
    assert diff_main([*common, "--events", str(ev_path), "--out", str(tmp_path / "e")],
                     _Buf(), _Buf()) == 0
    assert diff_main([*common, "--interactions", str(SAMPLES / "interactions.jsonl"),
                      "--leads", str(SAMPLES / "leads.jsonl"),
                      "--imports", str(SAMPLES / "imports.jsonl"),
                      "--out", str(tmp_path / "f")], _Buf(), _Buf()) == 0
    got = (tmp_path / "e" / "diff.jsonl").read_bytes()
    assert got and got == (tmp_path / "f" / "diff.jsonl").read_bytes()
    e = orjson.loads((tmp_path / "e" / "summary.json").read_bytes())["report_totals"]
    f = orjson.loads((tmp_path / "f" / "summary.json").read_bytes())["report_totals"]
    for side in ("before", "after"):
        # the unmapped feed record is one more REJECTED interaction, as in the streaming job
        assert e[side]["rejected"] == f[side]["rejected"] + 1
        assert e[side]["interactions"] == f[side]["interactions"] + 1
        assert {k: v for k, v in e[side].items() if k not in ("rejected", "interactions")} == {
            k: v for k, v in f[side].items() if k not in ("rejected", "interactions")}
