"""End to end against the real broker: the worker's outputs equal `simulate` on the same
input; then a replay from offset 0 of every input changes nothing.

Input: the bundled samples (3 input leads, 16 imports, 228 interactions with guests, a
duplicate, rejects, expiry) plus a synthetic multi-party stream (bursts that create leads,
later links, expiry after gaps, late arrivals, repeats, disabled and unknown types,
malformed lines), under a rules config with a higher-precedence scoring set, a disabled type,
and a qualification rule on `interaction_score` (so links re-run processing).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from core.validation import RECORD_CODES
from tests.streaming import data
from tests.streaming.harness import AnyBroker, Finals, Job, WorkerProc, diff, simulate, write_jsonl

pytestmark = [pytest.mark.broker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "data" / "samples"
POISON = [b"{not json", b"[1, 2, 3]", b'{"interaction_id": "x-1", "party_id": ["P"], "type": 3}',
          b'{"interaction_id": "x-2", "party_id": "SP-000", "type": "WEB_AD_VISIT"}']


def e2e_rules(path: Path) -> Path:
    doc = yaml.safe_load((ROOT / "config/examples/vision-enterprises.yaml").read_text())
    doc["interaction_rule_sets"].append({
        "id": "ceo-summit", "status": "ACTIVE", "precedence": 10,
        "guard": {"country": ["US"], "source_code": ["CEO-SUMMIT"]},
        "scores": {"EVENT_REGISTRATION": 12, "SURVEY_CALLBACK": 15},
    })
    for t in doc["interaction_types"]:
        if t["code"] == "WEB_COLLABORATION":
            t["enabled"] = False
    doc["processing"]["qualification"].append({
        "id": "hot-score", "status": "ACTIVE", "precedence": 2, "guard": {},
        "rules": [{"id": "hot", "when": [{"attribute": "interaction_score", "op": "gte",
                                          "value": 30}], "then": True}],
    })
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


class E2E:
    job: Job
    worker: WorkerProc
    interactions: list[bytes]
    stream: Finals
    sim: Finals
    sim_dir: Path
    seconds: dict[str, float]


@contextmanager
def e2e_run(broker: AnyBroker, tmp: Path, **env: str) -> Iterator[E2E]:
    """One worker (with `env`) over the whole input; its outputs and `simulate`'s."""
    rules = e2e_rules(tmp / "rules.yaml")
    job = Job(broker, tmp, rules_path=rules)
    run = E2E()
    run.job, run.seconds = job, {}
    run.worker = job.start_worker("w1", **env)
    try:
        run.seconds["ready"] = run.worker.wait_ready()
        leads = (SAMPLES / "leads.jsonl").read_bytes().splitlines()
        imports = (SAMPLES / "imports.jsonl").read_bytes().splitlines()
        run.interactions = ((SAMPLES / "interactions.jsonl").read_bytes().splitlines()
                            + data.interactions(parties=25, per_party=30, seed=11) + POISON)
        # the order of `simulate`: input leads, then imports, then interactions
        job.produce("lead-updates", leads)
        job.wait_idle()
        job.produce("lead-imports", imports, key="orig_system_reference")
        job.wait_idle()
        job.produce("interactions", run.interactions)
        run.seconds["interactions"] = job.wait_idle()
        run.stream = job.outputs()
        run.sim_dir = tmp / "sim"
        run.sim = simulate(rules, run.sim_dir,
                           interactions=write_jsonl(tmp / "interactions.jsonl", run.interactions),
                           leads=SAMPLES / "leads.jsonl", imports=SAMPLES / "imports.jsonl")
        yield run
    finally:
        job.stop_all()


@pytest.fixture(scope="module")
def e2e(any_broker: AnyBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2E]:
    """The worker as deployed (INTAKE=batch, the default)."""
    with e2e_run(any_broker, tmp_path_factory.mktemp("e2e")) as run:
        yield run


def test_outputs_equal_simulate(e2e: E2E) -> None:
    stream, sim = e2e.stream, e2e.sim
    assert stream.comparable() == sim.comparable(), diff(stream, sim)
    assert not stream.link_conflicts
    # the input covers what the contract lists
    codes = {json.loads(o)["outcome"] for o in sim.outcomes}
    assert codes >= {"LINKED", "PENDING", "EXPIRED", "GUEST", "DUPLICATE", "REJECTED",
                     "TYPE_DISABLED"}
    origins = {lead["origin"] for lead in sim.leads.values()}
    assert origins == {"INTERACTION", "IMPORT", "EXTERNAL"}
    assert any(lead["qualified"] for lead in sim.leads.values())
    assert any(json.loads(r)["result"] == "ERROR" for r in sim.import_results)
    print(f"\ne2e: worker ready in {e2e.seconds['ready']:.2f}s; {len(e2e.interactions)} "
          f"interactions done {e2e.seconds['interactions']:.2f}s after sending; "
          f"{len(sim.leads)} leads, {len(sim.links)} links")


def test_events_intake_outputs_equal_simulate(broker: AnyBroker, tmp_path: Path) -> None:
    """INTAKE=events (one Faust Event per record, the other way the setting allows) decides
    the same input to the same outputs (on the embedded broker)."""
    with e2e_run(broker, tmp_path, INTAKE="events") as run:
        assert run.stream.comparable() == run.sim.comparable(), diff(run.stream, run.sim)
        assert not run.stream.link_conflicts
        assert len(run.sim.leads) > 10 and len(run.sim.links) > 10


def test_every_lead_snapshot_is_keyed_and_ordered(e2e: E2E) -> None:
    snapshots = e2e.job.read("leads")
    per_lead: dict[str, list[dict[str, object]]] = {}
    for r in snapshots:
        doc = json.loads(r["value"])
        assert r["key"] == doc["lead_id"].encode()
        per_lead.setdefault(doc["lead_id"], []).append(doc)
    for docs in per_lead.values():  # interaction ids only ever grow on a lead
        ids = [d["interaction_ids"] for d in docs]
        assert all(a == b[: len(a)] for a, b in zip(ids, ids[1:], strict=False))


def test_rejects_are_dead_lettered(e2e: E2E) -> None:
    dead = e2e.job.read("dead-letters")
    rows = (e2e.sim_dir / "outcomes.jsonl").read_text().splitlines()
    rejected = [r for r in rows if json.loads(r)["outcome"] == "REJECTED"]
    from_interactions = [d for d in dead if d["headers"]["dl-topic"].endswith("interactions")]
    assert len(from_interactions) == len(rejected)
    for d in from_interactions:
        h = d["headers"]
        assert h["dl-reason"] and h["dl-reason-code"] in RECORD_CODES
        assert re.match(r"^\d{4}-\d\d-\d\dT", h["dl-time"])
        original = e2e.job.read("interactions")
        src = next(r for r in original if r["partition"] == int(h["dl-partition"])
                   and r["offset"] == int(h["dl-offset"]))
        assert (src["key"], src["value"]) == (d["key"], d["value"])


def test_health_and_metrics(e2e: E2E) -> None:
    status, body = e2e.worker.get("/healthz")
    assert status == 200 and json.loads(body)["status"] in ("ok", "rebalancing")
    status, body = e2e.worker.get("/metrics")
    text = body.decode()
    assert status == 200
    for name in ("leadstream_interactions_total{outcome=\"LINKED\"}",
                 "leadstream_leads_created_total{origin=\"INTERACTION\"}",
                 "leadstream_links_total", "leadstream_dead_letters_total{reason=",
                 "leadstream_decision_latency_seconds_bucket", "leadstream_rules_info{version=",
                 "leadstream_processing_results_total{engine=\"qualification\""):
        assert name in text, name
    linked = float(re.search(r'leadstream_interactions_total\{outcome="LINKED"\} (\S+)',
                             text).group(1))  # type: ignore[union-attr]
    assert linked >= sum('"LINKED"' in o for o in e2e.sim.outcomes)


def test_replay_from_offset_zero_changes_nothing(e2e: E2E) -> None:
    """Stop, rewind the group to offset 0 on every input topic (external and internal),
    restart on the same DATA_DIR: no new lead snapshot or link; only what is decided without
    state comes again, identical (REJECTED outcomes, ERROR import results, dead letters);
    finals unchanged."""
    job = e2e.job
    e2e.worker.stop()
    before = {b: job.read(b) for b in ("leads", "interaction-leads", "interaction-outcomes",
                                       "lead-import-results", "dead-letters")}
    ends = job.output_ends()
    job.reset_offsets(["interactions", "lead-updates", "lead-imports",
                       "leadstream-party-imports", "leadstream-lead-events",
                       "leadstream-lead-owners"], 0)
    w2 = job.start_worker("w1-again", data_dir=e2e.worker.data_dir)
    w2.wait_ready()
    job.wait_idle()
    for base, old in before.items():
        new = job.read(base, start=ends)
        if base in ("leads", "interaction-leads"):
            assert new == [], f"{base}: {len(new)} new records after a replay"
        old_values = {r["value"] for r in old}
        for r in new:
            if base == "interaction-outcomes":
                assert json.loads(r["value"])["outcome"] == "REJECTED"
            if base == "lead-import-results":
                assert json.loads(r["value"])["result"] == "ERROR"
            assert r["value"] in old_values, (base, r["value"][:200])
    assert job.outputs().comparable() == e2e.sim.comparable()


def _pipeline_finals(rules_path: Path, phases: list[tuple[str, list[bytes]]]) -> Finals:
    """The offline twin driven phase by phase, in the order the stream got the input."""
    from core.pipeline import Pipeline
    from offline.import_files import iter_import_rows
    from rules.loader import load_rules_file
    from tests.streaming.harness import canon, reduce_outcomes

    pipe = Pipeline(load_rules_file(rules_path))
    links: set[str] = set()
    outcomes: list[dict[str, object]] = []
    results: dict[object, dict[str, object]] = {}
    for kind, lines in phases:
        if kind == "imports":
            p = rules_path.parent / "imports.jsonl"
            p.write_bytes(b"\n".join(lines) + b"\n")
            ems = [pipe.import_record(row) for _, row in iter_import_rows(p)]
        elif kind == "lead-updates":
            ems = [pipe.lead_update(x) for x in lines]
        else:
            ems = [pipe.interaction(x) for x in lines]
        for em in ems:
            links |= {canon(lk.to_json()) for lk in em.links}
            outcomes += [o.to_json() for o in em.outcomes]
            for i, r in enumerate(em.import_results):
                results[r.get("import_interface_id") or f"#{i}"] = r
    return Finals({k: v.to_json() for k, v in pipe.leads.items()}, sorted(links),
                  reduce_outcomes(outcomes), sorted(canon(d) for d in results.values()))


def test_status_updates_then_more_interactions_equal_pipeline(e2e: E2E) -> None:
    """Lead updates after the leads exist (move along, close, a stale one), then more
    interactions: links go to open leads only, closed parties get new leads."""
    job = e2e.job
    created = sorted((lead for lead in e2e.sim.leads.values() if lead["origin"] == "INTERACTION"
                      and lead["party_id"].startswith("SP-")), key=lambda d: d["lead_id"])[:6]
    assert len(created) == 6
    updates, later = [], []
    for i, lead in enumerate(created):
        status = ["CONTACTED", "QUALIFIED", "CONVERTED", "DEAD", "CONTACTED", "CONVERTED"][i]
        upd = {"lead_id": lead["lead_id"], "party_id": lead["party_id"], "status": status,
               "updated_at": "2026-06-01T09:00:00+00:00"}
        updates.append(json.dumps(upd).encode())
        if i == 4:  # stale: older than the update before it
            updates.append(json.dumps({**upd, "status": "DEAD",
                                       "updated_at": "2026-05-01T09:00:00+00:00"}).encode())
        for k in range(3):
            later.append(json.dumps({
                "interaction_id": f"late-{i}-{k}", "party_id": lead["party_id"],
                "type": "SURVEY_CALLBACK", "occurred_at": f"2026-06-0{2 + k}T10:00:00+00:00",
                "country": "US"}).encode())
    job.produce("lead-updates", updates)
    job.wait_idle()
    job.produce("interactions", later)
    job.wait_idle()
    stream = job.outputs()

    leads = (SAMPLES / "leads.jsonl").read_bytes().splitlines()
    imports = (SAMPLES / "imports.jsonl").read_bytes().splitlines()
    expected = _pipeline_finals(e2e.sim_dir.parent / "rules.yaml", [
        ("lead-updates", leads), ("imports", imports), ("interactions", e2e.interactions),
        ("lead-updates", updates), ("interactions", later)])
    assert stream.comparable() == expected.comparable(), diff(stream, expected)
    statuses = {stream.leads[lead["lead_id"]]["status"] for lead in created}
    assert statuses == {"CONTACTED", "QUALIFIED", "CONVERTED", "DEAD"}
