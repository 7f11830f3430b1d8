"""The lead's life on the real broker (CONTRACT §3, §10): lead updates interleaved with
interactions (external leads, edits up and down, status changes, deletion, another party's
lead id, a deleted lead's id) give the same leads, links and outcomes as the offline
pipeline fed in the same order; refused updates are dead-lettered with their reason code and
original position; `GET /leads/{lead_id}` answers the offline timeline."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.pipeline import Pipeline
from rules.loader import load_rules_file
from streaming.broker import EmbeddedBroker
from tests.builders import make_doc
from tests.core.test_lifecycle import PROCESSING
from tests.streaming.harness import Finals, Job, canon, diff, reduce_outcomes

pytestmark = [pytest.mark.broker, pytest.mark.slow]

PARTIES = [f"LP-{i}" for i in range(8)]
TOKEN = "lifecycle-admin"


def it(iid: str, party: str, day: int, hour: int = 10, **extra: Any) -> dict[str, Any]:
    return {"interaction_id": iid, "party_id": party, "type": "SURVEY_CALLBACK",
            "occurred_at": f"2026-02-{day:02d}T{hour:02d}:00:00+00:00", **extra}


def upd(lead_id: str, party: str, day: int, **fields: Any) -> dict[str, Any]:
    return {"lead_id": lead_id, "party_id": party, "status": fields.pop("status", "NEW"),
            "updated_at": f"2026-02-{day:02d}T12:00:00+00:00", **fields}


def _finals(pipe: Pipeline, phases: list[tuple[str, list[dict[str, Any]]]]) -> Finals:
    links: set[str] = set()
    outcomes: list[dict[str, Any]] = []
    for kind, records in phases:
        for r in records:
            em = pipe.lead_update(r) if kind == "lead-updates" else pipe.interaction(r)
            links |= {canon(lk.to_json()) for lk in em.links}
            outcomes += [o.to_json() for o in em.outcomes]
    return Finals({k: v.to_json() for k, v in pipe.leads.items()}, sorted(links),
                  reduce_outcomes(outcomes), [])


def _get(url: str, headers: dict[str, str]) -> tuple[int, bytes, str]:
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.read(), resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers.get("Content-Type", "")


def test_lead_updates_interleaved_equal_pipeline(broker: EmbeddedBroker, tmp_path: Path) -> None:
    rules_path = tmp_path / "rules.yaml"
    rules_path.write_text(yaml.safe_dump(make_doc(PROCESSING), sort_keys=False))
    pipe = Pipeline(load_rules_file(rules_path))
    phases: list[tuple[str, list[dict[str, Any]]]] = [
        # external leads; then another party names one of their ids (refused)
        ("lead-updates", [upd("EXT-1", "LP-0", 1, created_at="2026-02-01T08:00:00+00:00",
                              interaction_score=25, attributes={"email": "a@b.c"}),
                          upd("EXT-2", "LP-1", 1, created_at="2026-02-01T08:00:00+00:00")]),
        ("lead-updates", [upd("EXT-1", "LP-2", 2, created_at="2026-02-01T08:00:00+00:00")]),
        # two callbacks each: a lead per party (score 20), LP-0/LP-1 link to their own
        ("interactions", [it(f"a-{p}-{k}", p, 3, 9 + k) for p in PARTIES for k in range(2)]),
    ]
    for kind, recs in phases:
        for r in recs:
            (pipe.lead_update if kind == "lead-updates" else pipe.interaction)(r)
    created = {lead.party_id: lead.lead_id for lead in pipe.leads.values()
               if lead.origin == "INTERACTION"}
    assert sorted(created) == PARTIES[2:]
    lp = {p: created[p] for p in PARTIES[2:]}
    edits = [
        upd(lp["LP-2"], "LP-2", 4, attributes={"budget_status": "APPROVED"}),   # up: A
        upd(lp["LP-3"], "LP-3", 4, status="CONTACTED", country="US"),           # worked
        upd(lp["LP-4"], "LP-4", 4, deleted=True),                               # deleted
        upd(lp["LP-5"], "LP-6", 4, status="DEAD"),                              # not LP-6's
        upd("EXT-2", "LP-1", 4, source_code="web-form", contact_id="C9"),
        upd("NOPE", "LP-7", 4),                                                 # unknown
    ]
    later = [upd(lp["LP-4"], "LP-4", 5, status="CONTACTED"),                    # deleted lead
             upd(lp["LP-2"], "LP-2", 5, attributes={"budget_status": None})]    # down again
    more = [it(f"b-{p}-{k}", p, 6, 9 + k) for p in PARTIES for k in range(2)]
    rest: list[tuple[str, list[dict[str, Any]]]] = [
        ("lead-updates", edits), ("interactions", more[:8]),
        ("lead-updates", later), ("interactions", more[8:])]
    expected = _finals(Pipeline(load_rules_file(rules_path)), phases + rest)

    job = Job(broker, tmp_path, rules_path=rules_path)
    try:
        w = job.start_worker("w1", ADMIN_TOKEN=TOKEN)
        w.wait_ready()
        for kind, recs in phases + rest:
            job.produce(kind, recs)
            job.wait_idle()
        stream = job.outputs()
        dead = job.read("dead-letters")
        originals = {(r["partition"], r["offset"]): r for r in job.read("lead-updates")
                     if not r["headers"]}
        lead_id = lp["LP-2"]
        status, body, _ = _get(w.url(f"/leads/{lead_id}"), {})
        full_status, full_body, _ = _get(w.url(f"/leads/{lead_id}"),
                                         {"Authorization": f"Bearer {TOKEN}"})
        html_status, html, ctype = _get(w.url(f"/leads/{lead_id}"), {"Accept": "text/html"})
        gone, _, _ = _get(w.url(f"/leads/{lp['LP-4']}"), {})
        ext_status, ext_body, _ = _get(w.url("/leads/EXT-1"), {})
    finally:
        job.stop_all()

    assert stream.comparable() == expected.comparable(), diff(stream, expected)
    assert lp["LP-4"] not in stream.leads and not stream.link_conflicts
    assert stream.leads[lp["LP-2"]]["rating"] == "B"  # A by the edit, down to B by the last
    assert stream.leads[lp["LP-3"]]["channel"] == "INDIRECT_B"  # worked: channel kept
    assert stream.leads["EXT-1"]["party_id"] == "LP-0"
    codes = sorted((d["headers"]["dl-reason-code"], d["headers"]["dl-topic"]) for d in dead)
    assert codes == [("lead_belongs_to_other_party", job.topic("lead-updates")),
                     ("lead_belongs_to_other_party", job.topic("lead-updates")),
                     ("lead_deleted", job.topic("lead-updates")),
                     ("unknown_lead", job.topic("lead-updates"))], codes
    refused = {json.loads(d["value"])["party_id"] for d in dead}
    assert refused == {"LP-2", "LP-6", "LP-4", "LP-7"}
    for d in dead:  # each names the update as it was sent, where it was sent
        src = originals[(int(d["headers"]["dl-partition"]), int(d["headers"]["dl-offset"]))]
        assert (src["key"], src["value"]) == (d["key"], d["value"])

    ref = Pipeline(load_rules_file(rules_path), history=True)
    _finals(ref, phases + rest)
    assert status == 200 and full_status == 200, body
    doc, full = json.loads(body), json.loads(full_body)
    assert doc["timeline"] == ref.timeline(lead_id)["timeline"]  # type: ignore[index]
    assert full["timeline"] == ref.timeline(lead_id, True)["timeline"]  # type: ignore[index]
    assert "attributes" not in doc["lead"] and full["lead"]["attributes"] == {}
    assert [e["trigger"] for e in doc["timeline"] if e["kind"] == "engine"][-2:] == [
        "EDIT", "EDIT"]
    assert html_status == 200 and "text/html" in ctype and b"<h1>Lead" in html
    assert gone == 404
    assert ext_status == 200 and "a@b.c" not in ext_body.decode()
