"""Step 7 (the party's event-time window, CONTRACT §2.7) and step 8 (the new lead, §2.8)."""

from __future__ import annotations

from typing import Any

import pytest

from core import window as win
from state.party import PendingEntry
from tests.builders import interaction, make_rules, run, ts

# Types scoring 5 / 10 / -5 / 25 for the Oracle worked example and the edge cases.
RULES = make_rules("""
interaction_rule_sets:
  - id: oracle
    status: ACTIVE
    scores: {WEB_AD_VISIT: 5, SURVEY_CALLBACK: 10, EVENT_REGISTRATION: 5, WEB_OFFER_VISIT: -5,
             ITEM_INQUIRY: 25, EMAIL_CLICKTHROUGH: 20}
""")
FIVE, TEN, MINUS5, BIG, TWENTY = (
    "WEB_AD_VISIT", "SURVEY_CALLBACK", "WEB_OFFER_VISIT", "ITEM_INQUIRY", "EMAIL_CLICKTHROUGH")


def it(iid: str, type: str, at: float | str, **kw: Any) -> dict[str, Any]:  # noqa: A002
    return interaction(iid, type=type, at=at, **kw)


def _codes(r: Any) -> list[tuple[str, str]]:
    return [(o.interaction_id, o.outcome.value) for o in r.outcomes]


def _window(r: Any, party: str = "P1") -> list[str]:
    return [e.interaction_id for e in r.pipe.parties[party].window]


# --------------------------------------------------------------------------- the window

def test_oracle_worked_example() -> None:
    """IST 20: 5 -> nothing; +10 -> 15, nothing; reaching 20 creates one lead with all."""
    r = run(RULES, it("a", FIVE, 0))
    assert _codes(r) == [("a", "PENDING")] and not r.leads
    r.feed(it("b", TEN, 1))
    assert _codes(r)[-1] == ("b", "PENDING") and not r.leads
    assert win.result(r.pipe.parties["P1"].window) == 15
    r.feed(it("c", FIVE, 2))
    [lead] = r.leads.values()
    assert lead.interaction_score == 20
    assert lead.interaction_ids == ["a", "b", "c"]
    # a and b get new outcome records; c is LINKED at once
    assert _codes(r)[2:] == [("a", "LINKED"), ("b", "LINKED"), ("c", "LINKED")]
    assert all(o.lead_id == lead.lead_id for o in r.outcomes[2:])
    assert [lk.interaction_id for lk in r.links] == ["a", "b", "c"]
    assert _window(r) == []


def test_sum_above_ist_creates_one_lead() -> None:
    r = run(RULES, it("a", FIVE, 0), it("b", TEN, 1), it("c", TEN, 2))
    [lead] = r.leads.values()
    assert lead.interaction_score == 25


def test_ist_from_profile() -> None:
    rules = make_rules("interaction_rule_sets: [{id: s, status: ACTIVE, scores: default}]",
                       interaction_score_threshold=3)
    r = run(rules, interaction("a", type="WEB_AD_VISIT", at=0),
            interaction("b", type="WEB_COLLABORATION", at=1))
    [lead] = r.leads.values()
    assert lead.interaction_score == 3


@pytest.mark.parametrize(("type_", "score"), [(BIG, 25), (TWENTY, 20)])
def test_lone_interaction_reaching_ist_creates_lead(type_: str, score: int) -> None:
    r = run(RULES, it("a", type_, 0))
    [lead] = r.leads.values()
    assert _codes(r) == [("a", "LINKED")]
    assert r.outcomes[0].lead_id == lead.lead_id and r.outcomes[0].score == score
    assert lead.interaction_ids == ["a"] and lead.interaction_score == score
    assert len(r.links) == 1 and _window(r) == []


def test_window_emptied_after_creation() -> None:
    r = run(RULES, it("a", TEN, 0), it("b", TEN, 1))
    [lead_id] = r.leads
    assert _window(r) == []
    # close the lead, so the next interactions go to the window again: it starts from 0
    r.update({"lead_id": lead_id, "party_id": "P1", "status": "DEAD", "updated_at": ts(2)})
    r.feed(it("c", TEN, 3))
    assert _codes(r)[-1] == ("c", "PENDING")
    assert _window(r) == ["c"] and len(r.leads) == 1
    r.feed(it("d", TEN, 4))
    assert len(r.leads) == 2
    new = next(lead for lid, lead in r.leads.items() if lid != lead_id)
    assert new.interaction_ids == ["c", "d"]


def test_negative_scores_lower_the_sum() -> None:
    r = run(RULES, it("a", TEN, 0), it("b", MINUS5, 1), it("c", TEN, 2))
    assert not r.leads and win.result(r.pipe.parties["P1"].window) == 15
    r.feed(it("d", FIVE, 3))
    [lead] = r.leads.values()
    assert lead.interaction_score == 20
    assert lead.interaction_ids == ["a", "b", "c", "d"]
    assert sorted(lk.score for lk in r.links) == [-5, 5, 10, 10]


def test_lone_negative_is_pending() -> None:
    r = run(RULES, it("a", MINUS5, 0))
    assert _codes(r) == [("a", "PENDING")] and r.outcomes[0].score == -5


# (name, window days, new interaction at, expected: expired ids, new outcome)
EXPIRY: list[tuple[str, list[float | str], str, list[str], str]] = [
    ("newest exactly lookback after: stays", [ts(0)], ts(30), [], "PENDING"),
    ("one second beyond: expires", [ts(0)], ts(30, seconds=1), ["w0"], "PENDING"),
    ("two expire at once", [ts(0), ts(1)], ts(31, seconds=1), ["w0", "w1"], "PENDING"),
    ("only the older expires", [ts(0), ts(5)], ts(31), ["w0"], "PENDING"),
    ("late arrival exactly at cutoff joins", [ts(40)], ts(10), [], "PENDING"),
    ("late arrival older than newest - lookback: EXPIRED at once",
     [ts(40)], ts(10, seconds=-1), [], "EXPIRED"),
    ("late arrival does not expire the window", [ts(40), ts(12)], ts(9), [], "EXPIRED"),
]


@pytest.mark.parametrize(("window", "at", "expired", "code"), [c[1:] for c in EXPIRY],
                         ids=[c[0] for c in EXPIRY])
def test_expiry(window: list[str], at: str, expired: list[str], code: str) -> None:
    r = run(RULES, *(it(f"w{i}", FIVE, t) for i, t in enumerate(window)))
    n = len(r.outcomes)
    r.feed(it("new", FIVE, at))
    new = r.outcomes[n:]
    assert [(o.interaction_id, o.outcome.value) for o in new] == \
        [(e, "EXPIRED") for e in expired] + [("new", code)]
    for o in new[:-1]:  # the earlier PENDING ones keep their score and rule set
        assert (o.score, o.rule_set_id, o.lead_id) == (5, "oracle", None)
    assert new[-1].score == 5
    kept = [f"w{i}" for i in range(len(window)) if f"w{i}" not in expired]
    assert _window(r) == kept + (["new"] if code == "PENDING" else [])
    assert not r.leads


def test_expired_interactions_leave_the_sum() -> None:
    r = run(RULES, it("a", TEN, 0), it("b", FIVE, 31), it("c", TEN, 31.5))
    assert _codes(r) == [("a", "PENDING"), ("a", "EXPIRED"), ("b", "PENDING"), ("c", "PENDING")]
    assert not r.leads and win.result(r.pipe.parties["P1"].window) == 15


def test_late_arrival_can_trigger_a_lead() -> None:
    r = run(RULES, it("b", TEN, 20), it("a", TEN, 0))
    [lead] = r.leads.values()
    assert lead.interaction_ids == ["a", "b"]


def test_window_is_per_party() -> None:
    r = run(RULES, it("a", TEN, 0), interaction("b", party="P2", type=TEN, at=1))
    assert not r.leads
    assert _window(r, "P1") == ["a"] and _window(r, "P2") == ["b"]


def test_agg_pure_boundaries() -> None:
    def entry(iid: str, t: float, score: int = 1) -> PendingEntry:
        return PendingEntry(iid, "", t, 0, score, "s", "v")

    w = win.initialize()
    step = win.agg(w, entry("a", 0.0), 30.0, 20)
    step = win.agg(step.window, entry("b", 30.0), 30.0, 20)
    assert [e.interaction_id for e in step.window] == ["a", "b"] and not step.expired
    step = win.agg(step.window, entry("c", 60.0), 30.0, 20)
    assert [e.interaction_id for e in step.expired] == ["a"]
    step = win.agg(step.window, entry("d", 10.0, 100), 30.0, 20)
    assert step.entry_expired and not step.fired
    step = win.agg(step.window, entry("e", 50.0, 18), 30.0, 20)
    assert [e.interaction_id for e in step.fired] == ["b", "c", "e"] and step.window == ()


# --------------------------------------------------------------------------- the new lead

def _lead(r: Any) -> Any:
    [lead] = r.interaction_leads()
    return lead


def test_lead_id_is_deterministic() -> None:
    recs = [it("a", FIVE, 0), it("b", TEN, 1), it("c", FIVE, 2)]
    r1, r2 = run(RULES, *recs), run(RULES, *recs)
    assert list(r1.leads) == list(r2.leads)
    assert [lk.interaction_lead_id for lk in r1.links] == \
        [lk.interaction_lead_id for lk in r2.links]
    other = run(RULES, *({**x, "party_id": "P2"} for x in recs))
    assert list(other.leads) != list(r1.leads)
    other_ids = run(RULES, it("a", FIVE, 0), it("b", TEN, 1), it("z", FIVE, 2))
    assert list(other_ids.leads) != list(r1.leads)


def test_lead_id_independent_of_other_parties() -> None:
    """Only the party's own input names its lead (no global counter)."""
    recs = [it("a", TEN, 0), it("b", TEN, 1)]
    alone = run(RULES, *recs)
    mixed = run(RULES, interaction("x", party="P9", type=TEN, at=0),
                interaction("y", party="P9", type=TEN, at=0), *recs)
    assert set(alone.leads) < set(mixed.leads)


def test_lead_fields_from_interactions() -> None:
    r = run(RULES,
            it("b", TEN, 2, contact_id="C-b", country="GB", source_code="S-b",
               attributes={"x": "b", "y": "b"}),
            it("a", FIVE, 1, contact_id="C-a", country="US", source_code="S-a",
               attributes={"x": "a", "z": "a"}),
            it("c", FIVE, "2024-03-04T10:00:00+05:30", contact_id="C-c", country="FR",
               source_code="S-c", attributes={"w": "c"}))
    lead = _lead(r)
    assert lead.party_id == "P1"
    assert lead.status == "NEW"
    assert lead.origin == "INTERACTION"
    assert lead.created_at == "2024-03-04T10:00:00+05:30"          # the trigger's occurred_at
    assert lead.interaction_score == 20
    assert lead.interaction_ids == ["a", "b", "c"]                 # occurred_at order
    assert (lead.contact_id, lead.country) == ("C-c", "FR")       # of the trigger
    assert lead.source_code == "S-B"                               # highest score (10)
    assert lead.attributes == {"x": "b", "y": "b", "z": "a", "w": "c"}
    assert lead.rules_version == RULES.version
    assert lead.import_interface_id is None


def test_trigger_is_the_interaction_that_reached_ist_even_if_late() -> None:
    r = run(RULES, it("b", TEN, 5, contact_id="C-b", country="GB"),
            it("a", TEN, 1, contact_id="C-a", country="US"))
    lead = _lead(r)
    assert lead.created_at == ts(1)
    assert (lead.contact_id, lead.country) == ("C-a", "US")
    assert lead.interaction_ids == ["a", "b"]


def test_trigger_without_contact_gives_no_contact() -> None:
    r = run(RULES, it("a", TEN, 0, contact_id="C-a", country="US"), it("b", TEN, 1))
    lead = _lead(r)
    assert (lead.contact_id, lead.country) == (None, None)


def test_source_code_tie_goes_to_the_latest() -> None:
    """Equal top scores: the latest by occurred_at, whatever the arrival order."""
    late = it("late", TEN, 3, source_code="S-late")
    early = it("early", TEN, 1, source_code="S-early")
    r = run(RULES, late, early)
    assert _lead(r).source_code == "S-LATE"  # codes are upper-cased when read
    r = run(RULES, early, late)
    assert _lead(r).source_code == "S-LATE"  # codes are upper-cased when read


def test_attributes_later_win_by_occurred_at_not_arrival() -> None:
    r = run(RULES, it("late", TEN, 3, attributes={"k": "late"}),
            it("early", TEN, 1, attributes={"k": "early", "e": 1}))
    assert _lead(r).attributes == {"k": "late", "e": 1}


def test_default_lead_status_from_profile() -> None:
    rules = make_rules("interaction_rule_sets: [{id: s, status: ACTIVE, scores: default}]",
                       default_lead_status="CONTACTED")
    r = run(rules, interaction("a", at=0), interaction("b", at=1))
    assert _lead(r).status == "CONTACTED"


def test_links_of_a_new_lead() -> None:
    rules = make_rules("""
interaction_rule_sets:
  - {id: seeded, status: ACTIVE, precedence: 1, scores: default}
  - {id: promo, status: ACTIVE, precedence: 5, guard: {source_code: PROMO},
     scores: {SURVEY_CALLBACK: 12}}
""")
    r = run(rules, interaction("a", at=0), interaction("b", at=1, source_code="PROMO"))
    lead = _lead(r)
    assert lead.interaction_score == 22
    links = {lk.interaction_id: lk for lk in r.links}
    assert set(links) == {"a", "b"} and len(r.links) == 2
    assert (links["a"].score, links["a"].rule_set_id) == (10, "seeded")
    assert (links["b"].score, links["b"].rule_set_id) == (12, "promo")
    for lk in r.links:
        assert lk.sales_lead_id == lead.lead_id
        assert lk.rules_version == rules.version
        assert lk.import_interface_id is None
    assert links["a"].interaction_lead_id != links["b"].interaction_lead_id
    again = run(rules, interaction("a", at=0), interaction("b", at=1, source_code="PROMO"))
    assert [lk.to_json() for lk in again.links] == [lk.to_json() for lk in r.links]


# --------------------------------------------------------------------------- stored window

# (name, seed, entries, ts spread in days, late arrival share, scores, threshold)
STORED_CASES: list[tuple[str, int, int, float, float, list[int | float], int | float]] = [
    ("in order, never fires", 1, 400, 90, 0.0, [1, 2, 3], 10**9),
    ("late arrivals and expiry", 2, 400, 200, 0.3, [1, 2, 5], 10**9),
    ("fires often", 3, 400, 60, 0.2, [1, 2, 5, 10], 20),
    ("negative scores", 4, 300, 60, 0.2, [-5, 5, 10, 1], 40),
    ("float scores at the threshold", 5, 300, 60, 0.2, [0.1, 0.2, 0.3, 0.7], 3.3),
    ("equal timestamps", 6, 300, 0, 0.0, [1], 150),
]


@pytest.mark.parametrize(("seed", "n", "spread", "late", "scores", "threshold"),
                         [c[1:] for c in STORED_CASES], ids=[c[0] for c in STORED_CASES])
def test_stored_window_decides_like_the_reference(seed: int, n: int, spread: float,
                                                  late: float, scores: list[int | float],
                                                  threshold: int | float) -> None:
    """`agg_stored` over a stored window (through part bytes) equals `agg` over a tuple:
    the same expired entries in the same order, the same fired entries, the same window."""
    import random

    from state.party import PartyState

    rnd = random.Random(seed)
    day = 86_400.0
    lookback = 30 * day
    parts: dict[bytes, bytes] = {}
    st = PartyState.from_bytes(None, parts.get)
    ref = win.initialize()
    clock = 0.0
    for i in range(n):
        clock += spread * day / n
        t = clock - rnd.random() * 40 * day if rnd.random() < late else clock
        e = PendingEntry(f"e{i}", "", t, i, rnd.choice(scores), "s", "v")
        want = win.agg(ref, e, lookback, threshold)
        d = st.edit("P1")
        got = win.agg_stored(d, e, lookback, threshold)
        if not got.entry_expired and not got.fired:
            d.remember(e.interaction_id, e.ts, lookback, entry=e)
        new = d.freeze()
        for k, v in new.part_writes().items():
            if v is None:
                parts.pop(k, None)
            else:
                parts[k] = v
        st = PartyState.from_bytes(new.committed().to_bytes(), parts.get)
        assert (got.expired, got.entry_expired, got.fired) == \
            (want.expired, want.entry_expired, want.fired), i
        ref = want.window
        assert st.wcount == len(ref)
    assert st.window == ref
