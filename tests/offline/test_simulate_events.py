"""`simulate --events` (CONTRACT §8): a merged replay of the job's input topics; every run
writes `dead_letters.jsonl`; `--now` is the clock records may not run ahead of (§2.1)."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cli
from offline.simulate import run_simulation
from tests.builders import RULES_YAML, T0, input_lead, interaction, make_rules, ts
from tests.poison import events as _events

NOW = T0.timestamp() + 60 * 86400
NOW_ISO = ts(60)
IMPORT = {"import_interface_id": "IMP-1", "source_system": "CRM", "orig_system_reference": "O1",
          "party_id": "Q", "created_at": ts(1), "source_code": "web-form"}

EVENTS: list[Any] = [
    {"topic": "lead-updates", "value": input_lead("E1", party="E", created_at=1)},    # 1
    {"topic": "lead-imports", "value": IMPORT},                                        # 2
    {"topic": "interactions", "value": interaction("a1", party="A", at=2)},           # 3
    {"topic": "feed.callcenter", "value": {"call_id": "7", "party_id": "A",             # 4
                                           "outcome": "callback_requested",
                                           "started_at": ts(2.5)}},
    {"topic": "feed.web", "value": {"event_id": "w1", "party_id": "E", "event": "ad_click",  # 5
                                    "ts": T0.timestamp() + 3 * 86400}},
    {"topic": "feed.web", "value": {"event_id": "w2", "party_id": "E", "event": "nope",     # 6
                                    "ts": T0.timestamp() + 3 * 86400}},
    {"topic": "lead-updates", "value": {"lead_id": "E1", "party_id": "E", "status": "NEW",  # 7
                                        "interaction_score": "abc"}},
    {"topic": "lead-imports", "value": {"import_interface_id": "IMP-2"}},              # 8
    {"topic": "interactions", "value": interaction("far", party="A", at=9999)},        # 9
    {"topic": "gossip", "value": {}},                                                   # 10
    "{not json",                                                                        # 11
    {"topic": "interactions", "value": "{also not json"},                              # 12
    {"topic": "lead-updates", "value": {"lead_id": "E1", "party_id": "E",              # 13
                                        "status": "contacted", "updated_at": ts(4)}},
]


def write(path: Path, lines: list[Any]) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def simulate_cli(*args: str) -> int:
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        return cli.main(["simulate", "--rules", str(RULES_YAML), "--no-progress", *args])


@pytest.fixture
def events(tmp_path: Path) -> Path:
    return write(tmp_path / "events.jsonl", EVENTS)


def test_events_handled_in_file_order_with_lines(events: Path, tmp_path: Path) -> None:
    run_simulation(make_rules(), tmp_path / "o", events=events, now=NOW, progress=False)
    out = {r["line"]: r for r in rows(tmp_path / "o" / "outcomes.jsonl")}
    assert out[3]["outcome"] == "LINKED" and out[4]["outcome"] == "LINKED"  # 10 + 10 >= 20
    assert out[4]["interaction_id"] == "cc-7"
    assert (out[5]["interaction_id"], out[5]["outcome"]) == ("web-w1", "LINKED")  # lead E1
    assert (out[6]["outcome"], out[9]["outcome"], out[12]["outcome"]) == ("REJECTED",) * 3
    results = {r["line"]: r for r in rows(tmp_path / "o" / "import_results.jsonl")}
    assert results[2]["result"] == "SUCCESS" and results[8]["result"] == "ERROR"
    leads = {d["lead_id"]: d for d in rows(tmp_path / "o" / "leads.jsonl")}
    assert leads["E1"]["status"] == "CONTACTED" and leads["E1"]["interaction_score"] == 1
    assert leads[results[2]["lead_id"]]["source_code"] == "WEB-FORM"


def test_dead_letters_name_line_topic_and_reason(events: Path, tmp_path: Path) -> None:
    run_simulation(make_rules(), tmp_path / "o", events=events, now=NOW, progress=False)
    dead = [(r["line"], r["topic"], r["reason"]) for r in
            rows(tmp_path / "o" / "dead_letters.jsonl")]
    assert dead == [
        (6, "feed.web", "unmapped_feed_value"),
        (7, "lead-updates", "invalid_record"),
        (8, "lead-imports", "invalid_record"),
        (9, "interactions", "future_timestamp"),
        (10, None, "unknown_topic"),
        (11, None, "invalid_json"),
        (12, "interactions", "invalid_json"),
    ]
    for r in rows(tmp_path / "o" / "dead_letters.jsonl"):
        assert r["detail"] and "abc" not in r["detail"]


def test_byte_identical_and_cli_exit_0(events: Path, tmp_path: Path) -> None:
    for d in ("o1", "o2"):
        assert simulate_cli("--events", str(events), "--now", NOW_ISO,
                            "--out", str(tmp_path / d)) == 0
    for name in ("leads.jsonl", "links.jsonl", "outcomes.jsonl", "import_results.jsonl",
                 "dead_letters.jsonl", "report.json"):
        assert (tmp_path / "o1" / name).read_bytes() == (tmp_path / "o2" / name).read_bytes()


def test_now_decides_what_is_in_the_future(tmp_path: Path) -> None:
    ev = write(tmp_path / "e.jsonl", [{"topic": "interactions",
                                       "value": interaction("i", at=100)}])
    assert simulate_cli("--events", str(ev), "--now", ts(98), "--out", str(tmp_path / "a")) == 0
    assert rows(tmp_path / "a" / "outcomes.jsonl")[0]["outcome"] == "REJECTED"
    assert simulate_cli("--events", str(ev), "--now", ts(99.5), "--out", str(tmp_path / "b")) == 0
    assert rows(tmp_path / "b" / "outcomes.jsonl")[0]["outcome"] == "PENDING"


def test_bad_now_or_no_input_cannot_run(events: Path, tmp_path: Path) -> None:
    assert simulate_cli("--events", str(events), "--now", "soon", "--out", str(tmp_path)) == 2
    assert simulate_cli("--out", str(tmp_path)) == 2


def test_old_files_and_events_give_the_same_leads(tmp_path: Path) -> None:
    leads = [input_lead("E1", party="E", created_at=1)]
    its = [interaction("e1", party="E", at=2), interaction("a1", party="A", at=2),
           interaction("a2", party="A", at=3)]
    write(tmp_path / "l.jsonl", leads)
    write(tmp_path / "i.jsonl", its)
    write(tmp_path / "m.jsonl", [IMPORT])
    write(tmp_path / "e.jsonl", [{"topic": "lead-updates", "value": x} for x in leads]
          + [{"topic": "lead-imports", "value": IMPORT}]
          + [{"topic": "interactions", "value": x} for x in its])
    rules = make_rules()
    run_simulation(rules, tmp_path / "old", interactions=tmp_path / "i.jsonl",
                   leads=tmp_path / "l.jsonl", imports=tmp_path / "m.jsonl", now=NOW,
                   progress=False)
    run_simulation(rules, tmp_path / "new", events=tmp_path / "e.jsonl", now=NOW, progress=False)
    for name in ("leads.jsonl", "links.jsonl", "report.json"):
        assert (tmp_path / "old" / name).read_bytes() == (tmp_path / "new" / name).read_bytes()


def test_old_path_writes_dead_letters_too(tmp_path: Path) -> None:
    write(tmp_path / "l.jsonl", [{"lead_id": "x" * 300, "party_id": "P", "status": "NEW",
                                  "created_at": ts(0)}])
    deep: Any = [1]
    for _ in range(16):
        deep = [deep]
    write(tmp_path / "i.jsonl", [interaction("i", at=0, attributes={"a": deep})])
    run_simulation(make_rules(), tmp_path / "o", interactions=tmp_path / "i.jsonl",
                   leads=tmp_path / "l.jsonl", now=NOW, progress=False, log=None)
    dead = [(r["line"], r["topic"], r["reason"]) for r in
            rows(tmp_path / "o" / "dead_letters.jsonl")]
    assert dead == [(1, "lead-updates", "id_too_long"), (1, "interactions", "too_deep")]
    assert rows(tmp_path / "o" / "leads.jsonl") == []  # streaming refuses it: so does simulate


# -- property: for any record on any input topic, simulate exits 0 and never raises ----------

@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.lists(_events, min_size=1, max_size=6))
def test_any_record_on_any_topic_never_breaks_simulate(tmp_path: Path,
                                                       events: list[tuple[str, Any]]) -> None:
    base = [{"topic": "lead-updates", "value": input_lead("L1", party="P", created_at=0)},
            {"topic": "interactions", "value": interaction("i0", party="P", at=1)}]
    lines = base + [{"topic": t, "value": v} for t, v in events]
    src = tmp_path / "prop.jsonl"
    src.write_bytes(b"".join(json.dumps(x).encode() + b"\n" for x in lines))
    assert simulate_cli("--events", str(src), "--now", NOW_ISO, "--out",
                        str(tmp_path / "prop")) == 0
    dead = rows(tmp_path / "prop" / "dead_letters.jsonl")
    assert all(r["reason"] != "error" for r in dead), dead
    # nor did the core's own safety nets catch an exception ("cannot be read")
    assert not [r for r in dead if "cannot be read" in r["detail"]], dead
