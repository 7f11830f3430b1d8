"""A batch lost between its phases (a worker killed after its part writes were acknowledged,
before its party headers) leaves a big party's part ahead of the party's header in the
changelog. Here the lost part is put into the changelog from outside: the record of an id
the lost batch saw ("ghost"), whose records were then decided otherwise (a rules reload) and
never wrote it again. A worker that recovers the party from the changelog sets the part back
the first time it loads the party (state/party.py, repair epoch), so once the party's header
passes the part's tag the ghost id is still unknown: its outcome is PENDING, as `simulate`
decides it, not DUPLICATE."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from state.party import INLINE_BYTES, PartyState, part_key
from streaming.broker import EmbeddedBroker
from tests.builders import interaction, make_doc
from tests.streaming.harness import Job, diff, simulate, write_jsonl

pytestmark = [pytest.mark.broker, pytest.mark.slow]

BIG = "BIG-1"
PAD = "x" * 120  # attributes kept in the window entries: the parts outgrow INLINE_BYTES


def _records(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [interaction(f"big-{i:03d}", party=BIG, type="WEB_AD_VISIT", at=i / 1440,
                        attributes={"pad": PAD}) for i in range(start, start + n)]


def _header(job: Job) -> tuple[int, dict[str, Any]]:
    """(changelog partition, header) of BIG's last stored header."""
    rows = [r for r in job.read("leadstream-parties-changelog") if r["key"] == BIG.encode()]
    assert rows, "no header of the party in the changelog"
    return rows[-1]["partition"], orjson.loads(rows[-1]["value"])


def test_a_part_left_by_a_lost_batch_is_set_back_after_recovery(
        broker: EmbeddedBroker, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"  # a window that never fires
    rules.write_text(yaml.safe_dump(make_doc(interaction_score_threshold=10**6)))
    first, later = _records(40), _records(2, start=40)
    ghost = interaction("ghost-1", party=BIG, type="WEB_AD_VISIT", at=50 / 1440)
    job = Job(broker, tmp_path, rules_path=rules)
    try:
        w1 = job.start_worker("w1")
        w1.wait_ready()
        job.produce("interactions", first)
        job.wait_idle()
        w1.stop()
        partition, header = _header(job)
        assert header.get("x") == 1, f"parts not under their own keys ({INLINE_BYTES} B)"
        version = header["v"]
        # the lost batch's record of the ghost id: written by change version+1, did not exist
        # before (no old content); a reader of the stored header does not see it
        lost = [version + 1, 50 / 1440 * 86400, 99, None, None]
        assert not PartyState.from_bytes(orjson.dumps(header)).knows("ghost-1")
        job.produce("leadstream-party-parts-changelog", [orjson.dumps(lost)],
                    key=lambda _r: part_key(BIG, "r", "ghost-1"), partition=partition)

        w2 = job.start_worker("w2")  # a new DATA_DIR: the tables come from the changelogs
        w2.wait_ready()
        job.produce("interactions", later)  # the header passes the lost record's tag
        job.wait_idle()
        job.produce("interactions", [ghost])
        job.wait_idle()
        status, body = w2.get("/metrics")
        assert status == 200
        m = re.search(rb"^leadstream_parts_repaired_total (\S+)$", body, re.M)
        assert m and float(m.group(1)) == 1.0, body[-2000:]
        assert "set back to its stored header" in w2.log_tail()
        stream = job.outputs()
    finally:
        job.stop_all()
    outcomes = {o["interaction_id"]: o["outcome"] for o in
                (orjson.loads(r["value"]) for r in job.read("interaction-outcomes"))}
    assert outcomes["ghost-1"] == "PENDING"
    after = _header(job)[1]
    assert after["v"] > version + 1
    # each worker keeps its repair epoch in the headers it writes; a new worker, a new epoch
    assert header.get("e") and after.get("e") and after["e"] != header["e"]
    sim = simulate(rules, tmp_path / "sim", interactions=write_jsonl(
        tmp_path / "in.jsonl", [*first, *later, ghost]))
    assert stream.comparable() == sim.comparable(), diff(stream, sim)
