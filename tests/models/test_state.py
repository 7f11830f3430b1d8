"""PartyState codec and the cheap pending check the metrics scan relies on."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from models.state import LeadRef, PartyState, PendingEntry

ENTRY = PendingEntry("i1", "2026-01-01T00:00:00Z", 1.0, 0, 3, "seeded", "v1",
                     attributes={"a": [1, 2]})
LEAD = LeadRef("L-1", "NEW", "2026-01-01T00:00:00Z", 1.0, interaction_ids=("i0",))


@pytest.mark.parametrize(("state", "pending"), [
    (PartyState(), False),
    (PartyState(leads=(LEAD,), seen={"i0": 1.0}), False),
    (PartyState(window=(ENTRY,)), True),
    (PartyState(window=(ENTRY,), leads=(LEAD,), progress={"t:0": 7}), True),
])
def test_has_pending_agrees_with_decoded_state(state: PartyState, pending: bool) -> None:
    raw = state.to_bytes()
    assert PartyState.has_pending(raw) is pending
    assert bool(PartyState.from_bytes(raw).window) is pending


def test_round_trip_keeps_everything() -> None:
    state = PartyState(window=(ENTRY,), leads=(LEAD,), seen={"i0": 1.0}, watermark=1.0, seq=2,
                       progress={"interactions:0": 41})
    assert PartyState.from_bytes(state.to_bytes()) == state
    assert PartyState.from_bytes(None) == PartyState()


def test_applied_progress() -> None:
    s = PartyState().with_progress("interactions:0", 5)
    assert s.applied("interactions:0", 5) and s.applied("interactions:0", 4)
    assert not s.applied("interactions:0", 6) and not s.applied("lead-updates:0", 1)


def test_state_gauges_count_local_tables() -> None:
    from ops import metrics
    from streaming.app import _update_state_gauges

    parties = {b"P1": PartyState(window=(ENTRY,)).to_bytes(), b"P2": PartyState().to_bytes()}
    tables = {"parties": parties, "leads": {b"L-1": b"{}"}, "imported": {}}
    rt = SimpleNamespace(tables=SimpleNamespace(all=lambda: tables))
    _update_state_gauges(rt)  # type: ignore[arg-type]
    assert metrics.PENDING_PARTIES._value.get() == 1
    assert metrics.STATE_ENTRIES.labels(table="parties")._value.get() == 2
    assert metrics.STATE_ENTRIES.labels(table="leads")._value.get() == 1
