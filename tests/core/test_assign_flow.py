"""The streaming job's assignment protocol, without a broker (CONTRACT §11, docs/STREAMING.md):
the territory side (`territory_step`), the lead side (`LeadSide`), and both together over
in-memory queues in any interleaving of partitions."""

from __future__ import annotations

import random
from collections import Counter, deque
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import assignment as asg
from core.assign_flow import LeadSide
from core.pipeline import Pipeline
from models.records import Lead, LeadEvent, LeadEventKind
from tests.builders import make_rules, ts

RULES = make_rules("""
assignment:
  territories:
    - id: a
      precedence: 2
      guard: {country: [US]}
      members:
        - {resource: ANN, weight: 2, capacity: 2}
        - {resource: BOB, weight: 1, capacity: 1}
    - id: b
      precedence: 1
      guard: {}
      members:
        - {resource: CAT, capacity: 2}
  fallback: POOL
""")


def req(op: str, lead: str = "L1", **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"op": op, "lead_id": lead}
    if op == "assign":
        base.update(party_id="P1", tried=["a", "b"], trigger="CREATED", at=ts(0),
                    request=f"le0:{lead}")
    return {**base, **kw}


# --------------------------------------------------------------------------- territory side

@pytest.mark.parametrize(("request_", "key", "error"), [
    (req("assign"), "a", None),
    (req("release"), "a", None),
    (None, "a", "op: must be one of assign, release, hold"),
    ({"op": "drop", "lead_id": "L1"}, "a", "op: must be one of assign, release, hold"),
    (req("release", lead_id=7), "a", "lead_id: must be a string"),
    (req("assign"), "b", "tried: must be a list of territory ids starting with the key"),
    (req("assign", party_id=None), "a", "party_id: must be a string"),
    (req("hold"), "", "key: a territory id is needed"),
])
def test_request_error(request_: Any, key: str, error: str | None) -> None:
    assert asg.request_error(request_, key) == error


def test_territory_step_assigns_passes_on_and_falls_back() -> None:
    stored: dict[str, Any] | None = None
    owners = []
    for i in range(4):
        step = asg.territory_step("a", stored, req("assign", f"L{i}", src="le0", seq=[i, 0]),
                                  RULES, "as0", 100 + i)
        assert step.stored is not None
        stored = step.stored
        if step.decided is not None:
            assert step.decided.kind is LeadEventKind.ASSIGNED
            owners.append(step.decided.assignment)
        else:  # full: passed on to b, named as this agent's input
            assert step.forward == ("b", {**req("assign", f"L{i}"), "tried": ["b"],
                                          "src": "as0", "seq": [103, 0]})
    assert [o["owner"] for o in owners] == ["ANN", "BOB", "ANN"]
    assert stored["progress"] == {"le0": [3, 0]}
    last = asg.territory_step("b", None, req("assign", "L9", tried=["b"]), make_rules(), "x", 0)
    assert last.decided is not None and last.decided.assignment is not None
    assert last.decided.assignment["territory_id"] is None  # b is not in these rules


def test_territory_step_skips_what_it_applied() -> None:
    first = asg.territory_step("a", None, req("assign", src="le0", seq=[5, 1]), RULES, "as0", 1)
    assert first.stored is not None and first.decided is not None
    for seq in ([5, 1], [5, 0], [4, 9]):
        again = asg.territory_step("a", first.stored, req("assign", src="le0", seq=seq), RULES,
                                   "as0", 2)
        assert again == asg.TerritoryStep(None)
    # another sender's request for the same lead (no progress of its own) assigns nothing
    other = asg.territory_step("a", first.stored, req("assign", src="le1", seq=[0, 0]), RULES,
                               "as0", 3)
    assert other.stored is not None and other.stored["state"] == first.stored["state"]
    assert other.decided is not None and other.decided.assignment is not None
    assert other.decided.assignment["owner"] == "ANN"


def test_territory_step_release_and_hold() -> None:
    s1 = asg.territory_step("a", None, req("assign"), RULES, "as0", 0).stored
    s2 = asg.territory_step("a", s1, req("release"), RULES, "as0", 1).stored
    assert s2 is not None and s2["state"]["open"] == {}
    s3 = asg.territory_step("a", s2, req("hold", owner="ANN"), RULES, "as0", 2).stored
    assert s3 is not None and s3["state"]["open"] == {"ANN": ["L1"]}
    s4 = asg.territory_step("a", s3, req("hold", "L2", owner="NOT-A-MEMBER"), RULES, "x", 3)
    assert s4.stored is not None and s4.stored["state"]["open"] == {"ANN": ["L1"]}


# --------------------------------------------------------------------------- lead side

def lead(lead_id: str = "L1", **kw: Any) -> Lead:
    return Lead.from_json({"lead_id": lead_id, "party_id": "P1", "status": "NEW",
                           "created_at": ts(0), "country": "US", "origin": "INTERACTION", **kw})


def created(lead_id: str = "L1", **kw: Any) -> LeadEvent:
    return LeadEvent(LeadEventKind.CREATED, lead_id, "P1", ts(0), RULES.version,
                     lead=lead(lead_id, **kw))


def status(value: str, lead_id: str = "L1") -> LeadEvent:
    return LeadEvent(LeadEventKind.STATUS, lead_id, "P1", ts(1), RULES.version, status=value)


def decision(territory: str | None, owner: str | None, request: str) -> LeadEvent:
    return LeadEvent(LeadEventKind.ASSIGNED, "L1", "P1", ts(0), RULES.version, assignment={
        "territory_id": territory, "owner": owner, "trigger": "CREATED", "request": request})


def stored_of(new: Lead | None, side: LeadSide) -> dict[str, Any]:
    assert new is not None
    return {"lead": new.to_json(), **side.pending()}


def test_new_lead_sends_one_request_and_waits() -> None:
    side = LeadSide(None, RULES, "le0", 7)
    new = side.apply(None, created())
    assert new is not None and (new.territory_id, new.owner) == (None, None)
    assert side.sends == [("a", {**req("assign", request="le0:7"), "src": "le0",
                                 "seq": [7, 0]})]
    assert side.pending() == {"pending": "le0:7", "tried": ["a", "b"], "slot": 2}
    back = LeadSide(stored_of(new, side), RULES, "le0", 9)
    done = back.apply(new, decision("a", "ANN", "le0:7"))
    assert done is not None and (done.territory_id, done.owner) == ("a", "ANN")
    assert back.sends == [] and back.pending() == {}
    # the same decision again (not the request in flight) changes nothing
    again = LeadSide({"lead": done.to_json()}, RULES, "le0", 10)
    assert again.apply(done, decision("a", "ANN", "le0:7")) == done and again.sends == []


def test_no_territory_decides_the_fallback_at_once() -> None:
    side = LeadSide(None, RULES, "le0", 1)
    new = side.apply(None, created(country="FR"))
    assert side.sends[0][0] == "b"  # b has an empty guard
    r = make_rules("assignment: {fallback: POOL}")
    side = LeadSide(None, r, "le0", 1)
    new = side.apply(None, created(country="FR"))
    assert new is not None and (new.territory_id, new.owner) == (None, "POOL")
    assert side.sends == [] and side.pending() == {}


def test_closed_while_pending_releases_everywhere_and_on_the_decision() -> None:
    side = LeadSide(None, RULES, "le0", 1)
    new = side.apply(None, created())
    closing = LeadSide(stored_of(new, side), RULES, "le0", 2)
    closed = closing.apply(new, status("DEAD"))
    assert [(t, r["op"]) for t, r in closing.sends] == [("a", "release"), ("b", "release")]
    back = LeadSide(stored_of(closed, closing), RULES, "le0", 3)
    done = back.apply(closed, decision("a", "BOB", "le0:1"))
    assert done is not None and (done.status, done.owner) == ("DEAD", "BOB")  # as simulate
    assert [(t, r["op"]) for t, r in back.sends] == [("a", "release")]


def test_channel_change_while_pending_is_assigned_after_the_decision() -> None:
    side = LeadSide(None, RULES, "le0", 1)
    new = side.apply(None, created(channel="DIRECT"))
    changed = new.copy() if new else None
    assert changed is not None
    changed.channel = "INDIRECT_A"
    edit = LeadSide(stored_of(new, side), RULES, "le0", 2)
    assert edit.follow(new, changed, status("NEW")) == changed
    assert edit.sends == [] and edit.pending()["dirty"] == ["EDIT", ts(1), 1]
    back = LeadSide(stored_of(changed, edit), RULES, "le0", 3)
    done = back.apply(changed, decision("a", "ANN", "le0:1"))
    assert done is not None and (done.territory_id, done.owner) == (None, None)
    assert [(t, r["op"]) for t, r in back.sends] == [("a", "release"), ("a", "assign")]
    assert back.pending()["pending"] == "le0:3"


def test_owner_set_by_hand_while_pending_reads_as_simulate() -> None:
    """Assigned, then owned by hand (to a member): the decision that comes back after the
    hand-set owner leaves the lead as the offline pipeline has it, and the place to BOB."""
    side = LeadSide(None, RULES, "le0", 1)
    new = side.apply(None, created())
    hand = asg.manual_event("L1", "P1", "BOB", ts(1), RULES.version)
    edit = LeadSide(stored_of(new, side), RULES, "le0", 2)
    owned = edit.apply(new, hand)
    assert owned is not None and (owned.territory_id, owned.owner) == (None, "BOB")
    back = LeadSide(stored_of(owned, edit), RULES, "le0", 3)
    done = back.apply(owned, decision("a", "ANN", "le0:1"))
    assert [(t, r["op"], r.get("owner")) for t, r in back.sends] == [
        ("a", "release", None), ("a", "hold", "BOB")]
    pipe = Pipeline(RULES)
    pipe.apply_lead_events([created(), hand])
    assert done is not None and done.to_json() == pipe.leads["L1"].to_json()
    assert (done.territory_id, done.owner) == ("a", "BOB")


def test_decision_for_a_deleted_lead_gives_the_place_back() -> None:
    side = LeadSide(None, RULES, "le0", 5)
    assert side.apply(None, decision("a", "ANN", "le0:1")) is None
    assert [(t, r["op"]) for t, r in side.sends] == [("a", "release")]


# --------------------------------------------------------------------------- both sides

Step = tuple[str, int, int]  # (kind, lead number, day)


class Twin:
    """The streaming job's assignment protocol over in-memory queues: `parts` lead-event
    partitions and `parts` territory partitions, consumed in an order `rng` chooses."""

    def __init__(self, parts: int, rng: random.Random, leads_first: bool = False) -> None:
        self.rng, self.leads_first = rng, leads_first
        self.lead_q: list[deque[LeadEvent]] = [deque() for _ in range(parts)]
        self.terr_q: list[deque[tuple[str, dict[str, Any]]]] = [deque() for _ in range(parts)]
        self.leads: dict[str, dict[str, Any]] = {}
        self.territories: dict[str, dict[str, Any]] = {}
        self.offsets = [0] * (2 * parts)
        self.parts = parts

    def _p(self, key: str) -> int:
        return sum(key.encode()) % self.parts

    def push(self, ev: LeadEvent) -> None:
        self.lead_q[self._p(ev.party_id)].append(ev)

    def step(self) -> bool:
        ready = [("l", i) for i, q in enumerate(self.lead_q) if q]
        if not (ready and self.leads_first):
            ready += [("t", i) for i, q in enumerate(self.terr_q) if q]
        if not ready:
            return False
        kind, i = self.rng.choice(ready)
        if kind == "l":
            self._lead(i, self.lead_q[i].popleft())
        else:
            self._territory(i, *self.terr_q[i].popleft())
        return True

    def _lead(self, p: int, ev: LeadEvent) -> None:
        off = self.offsets[p]
        self.offsets[p] += 1
        stored = self.leads.get(ev.lead_id)
        if stored is not None and ev.kind is LeadEventKind.CREATED:
            return
        old = Lead.from_json(stored["lead"]) if stored else None
        side = LeadSide(stored, RULES, f"le{p}", off)
        new = side.apply(old, ev)
        for tid, r in side.sends:
            self.terr_q[self._p(tid)].append((tid, r))
        if new is not None:
            self.leads[ev.lead_id] = {"lead": new.to_json(), **side.pending()}

    def _territory(self, p: int, tid: str, r: dict[str, Any]) -> None:
        off = self.offsets[self.parts + p]
        self.offsets[self.parts + p] += 1
        step = asg.territory_step(tid, self.territories.get(tid), r, RULES, f"as{p}", off)
        if step.stored is None:
            return
        self.territories[tid] = step.stored
        state = asg.TerritoryState.from_json(step.stored["state"])
        for m in asg.compiled(RULES).by_id[tid].members:  # capacity, at every step
            assert m.capacity is None or state.load(m.resource) <= m.capacity
        if step.forward is not None:
            self.terr_q[self._p(step.forward[0])].append(step.forward)
        if step.decided is not None:
            self.push(step.decided)


def _loads_match(twin: Twin) -> None:
    """Every open lead has an owner, nothing is in flight, and each member's load is exactly
    the open leads the engine assigned to it."""
    leads = {k: Lead.from_json(v["lead"]) for k, v in twin.leads.items()}
    assert all("pending" not in v and "dirty" not in v for v in twin.leads.values())
    want: Counter[tuple[str, str]] = Counter()
    for x in leads.values():
        if x.status in RULES.open_statuses:
            assert x.owner is not None
        c = asg.counts_for(x, RULES)
        if c is not None:
            want[c] += 1
    got: Counter[tuple[str, str]] = Counter()
    for tid, doc in twin.territories.items():
        for member, n in asg.result(asg.TerritoryState.from_json(doc["state"])).items():
            got[(tid, member)] += n
    assert got == want


def test_closed_before_its_request_was_passed_on() -> None:
    """The lead closes before its full first territory passes the request on: the release
    reaches the next territory before the request does, and the decision gives it back."""
    twin = Twin(1, random.Random(0), leads_first=True)
    for ev in events_of([("new", 1, 0), ("new", 2, 0), ("new", 4, 0)]):
        twin.push(ev)
        while twin.step():
            pass
    for ev in events_of([("new", 5, 1), ("close", 5, 2)]):
        twin.push(ev)
    while twin.step():
        pass
    assert twin.leads["L5"]["lead"]["territory_id"] == "b"
    _loads_match(twin)


def events_of(steps: list[Step]) -> list[LeadEvent]:
    out: list[LeadEvent] = []
    for kind, n, day in steps:
        lid, party = f"L{n}", f"P{n}"
        at = ts(day)
        if kind == "new":
            out.append(LeadEvent(LeadEventKind.CREATED, lid, party, at, RULES.version,
                                 lead=Lead.from_json({
                                     "lead_id": lid, "party_id": party, "status": "NEW",
                                     "created_at": at, "country": "US" if n % 3 else "FR",
                                     "origin": "INTERACTION"})))
        elif kind == "close":
            out.append(LeadEvent(LeadEventKind.STATUS, lid, party, at, RULES.version,
                                 status="DEAD"))
        else:
            out.append(asg.manual_event(lid, party, "ZED", at, RULES.version))
    return out


STEPS = st.lists(st.tuples(st.sampled_from(["new", "new", "new", "close", "manual"]),
                           st.integers(0, 9), st.integers(0, 30)), max_size=40)


def _valid(steps: list[Step]) -> list[Step]:
    """Each lead created once, and only events for leads created before them."""
    seen: set[int] = set()
    out = []
    for kind, n, day in steps:
        if kind == "new" and n not in seen:
            seen.add(n)
            out.append((kind, n, day))
        elif kind != "new" and n in seen:
            out.append((kind, n, day))
    return out


@settings(max_examples=150, deadline=None)
@given(steps=STEPS, parts=st.integers(1, 3), seed=st.integers(0, 10_000),
       feed_early=st.booleans(), leads_first=st.booleans())
def test_protocol_holds_capacity_and_owns_every_lead(steps: list[Step], parts: int, seed: int,
                                                     feed_early: bool,
                                                     leads_first: bool) -> None:
    """In any interleaving: no member ever passes capacity; at the end every open lead has
    an owner and no request in flight, and each member's load is exactly its open leads."""
    twin = Twin(parts, random.Random(seed), leads_first)
    for ev in events_of(_valid(steps)):
        twin.push(ev)
        while not feed_early and twin.step():
            pass
    while twin.step():
        pass
    _loads_match(twin)


@settings(max_examples=100, deadline=None)
@given(steps=STEPS)
def test_one_partition_in_order_equals_the_pipeline(steps: list[Step]) -> None:
    """Settled after each input event, as with one partition: the same leads as `simulate`."""
    twin = Twin(1, random.Random(0))
    pipe = Pipeline(RULES)
    for ev in events_of(_valid(steps)):
        twin.push(ev)
        while twin.step():
            pass
        pipe.apply_lead_events([ev])
    assert {k: v["lead"] for k, v in twin.leads.items()} == \
        {k: v.to_json() for k, v in pipe.leads.items()}
