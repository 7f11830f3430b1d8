"""Territory assignment (CONTRACT §11): the round-robin, the state, the plan, and whole
histories through the Pipeline (what `simulate` runs)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import assignment as asg
from models.records import Lead, LeadEvent, LeadEventKind
from rules.compiled import Rules
from tests.builders import interaction, make_rules, run, ts

# --------------------------------------------------------------------------- round-robin


def territory(*members: tuple[str, int, int | None], tid: str = "T") -> asg.CompiledTerritory:
    return asg.CompiledTerritory(tid, 1, (), tuple(asg.Member(r, w, c) for r, w, c in members))


def picks(t: asg.CompiledTerritory, n: int, state: asg.TerritoryState | None = None,
          ) -> list[str | None]:
    s = state or asg.initialize()
    out = []
    for i in range(n):
        out.append(s.assign(t, f"L{len(out)}-{i}"))
    return out


@pytest.mark.parametrize(("members", "n", "expected"), [
    # nginx's own example: weights 5, 1, 1 -> a a b a c a a
    ([("a", 5, None), ("b", 1, None), ("c", 1, None)], 7,
     ["a", "a", "b", "a", "c", "a", "a"]),
    # 2:1 -> ANN BOB ANN, and again
    ([("ANN", 2, None), ("BOB", 1, None)], 6, ["ANN", "BOB", "ANN"] * 2),
    # equal weights: plain turns, ties go to the earlier member
    ([("x", 1, None), ("y", 1, None), ("z", 1, None)], 4, ["x", "y", "z", "x"]),
    # capacity: ANN full after 2, BOB after 1, then nobody
    ([("ANN", 2, 2), ("BOB", 1, 1)], 5, ["ANN", "BOB", "ANN", None, None]),
    # a member at capacity takes no part: the others keep their turns
    ([("a", 1, 1), ("b", 1, None), ("c", 1, None)], 5, ["a", "b", "c", "b", "c"]),
])
def test_smooth_weighted_round_robin(members: list[tuple[str, int, int | None]], n: int,
                                     expected: list[str | None]) -> None:
    assert picks(territory(*members), n) == expected


def test_full_member_keeps_its_current_weight() -> None:
    """At capacity a member neither gains nor loses current weight (it takes no part)."""
    t = territory(("a", 1, 1), ("b", 1, None))
    s = asg.initialize()
    assert s.assign(t, "L1") == "a" and s.current == {"a": -1, "b": 1}
    assert s.assign(t, "L2") == "b" and s.current == {"a": -1, "b": 1}
    assert s.assign(t, "L3") == "b" and s.current == {"a": -1, "b": 1}
    s.release("L1")  # a is free again
    assert s.assign(t, "L4") == "b" and s.current == {"a": 0, "b": 0}
    assert s.assign(t, "L5") == "a"


def test_state_by_lead_id_is_idempotent() -> None:
    t = territory(("a", 1, 1), ("b", 1, 1))
    s = asg.initialize()
    assert s.assign(t, "L1") == "a"
    before = s.to_json()
    assert s.assign(t, "L1") == "a" and s.to_json() == before  # the same request again
    assert s.release("L1") == "a" and s.release("L1") is None
    assert asg.result(s) == {}
    s.hold("b", "L9")
    s.hold("b", "L9")
    assert asg.result(s) == {"b": 1}
    assert asg.TerritoryState.from_json(s.to_json()) == s


# --------------------------------------------------------------------------- properties

MEMBERS = st.lists(st.tuples(st.integers(1, 6), st.one_of(st.none(), st.integers(1, 4))),
                   min_size=1, max_size=5)


@settings(max_examples=200, deadline=None)
@given(weights=st.lists(st.integers(1, 9), min_size=1, max_size=6), n=st.integers(0, 120))
def test_share_follows_weight_within_one(weights: list[int], n: int) -> None:
    """Without capacity, after any n assignments each member has its weighted share of n
    within one."""
    t = territory(*((f"m{i}", w, None) for i, w in enumerate(weights)))
    got = picks(t, n)
    total = sum(weights)
    for i, w in enumerate(weights):
        assert abs(got.count(f"m{i}") - n * w / total) < 1


@settings(max_examples=200, deadline=None)
@given(members=MEMBERS, ops=st.lists(st.one_of(st.just("assign"), st.integers(0, 30)),
                                     max_size=80))
def test_capacity_never_exceeded(members: list[tuple[int, int | None]],
                                 ops: list[str | int]) -> None:
    """Over any sequence of assignments and releases no member's load passes its capacity;
    a lead is refused only when every member is full; releases free exactly one place."""
    t = territory(*((f"m{i}", w, c) for i, (w, c) in enumerate(members)))
    s = asg.initialize()
    held: list[str] = []
    for k, op in enumerate(ops):
        if op == "assign":
            lead = f"L{k}"
            owner = s.assign(t, lead)
            if owner is None:
                assert all(m.capacity is not None and s.load(m.resource) >= m.capacity
                           for m in t.members)
            else:
                held.append(lead)
        elif held:
            lead = held.pop(int(op) % len(held))
            assert s.release(lead) is not None
        for m in t.members:
            assert m.capacity is None or s.load(m.resource) <= m.capacity
        assert sum(asg.result(s).values()) == len(held)


# --------------------------------------------------------------------------- plan

TERRITORIES = """
assignment:
  territories:
    - id: us-direct
      precedence: 10
      guard: {country: [US], channel: [DIRECT]}
      members:
        - {resource: REP-ANN, weight: 2, capacity: 2}
        - {resource: REP-BOB, weight: 1, capacity: 1}
    - id: us-all
      precedence: 5
      guard: {country: [US]}
      members:
        - {resource: REP-CAT, capacity: 1}
    - id: a-us
      precedence: 5
      guard: {country: [US], source_code: [ZZZ]}
      members:
        - {resource: REP-ZED}
  fallback: POOL
"""

CHANNELS = """
processing:
  channels: [DIRECT, INDIRECT_A, INDIRECT_B]
  channel_selection:
    - id: ch
      status: ACTIVE
      precedence: 1
      rules:
        - {id: big, when: [{attribute: interaction_score, op: gte, value: 30}], then: DIRECT}
        - {id: small, when: {}, then: INDIRECT_A}
"""


def rules(extra: str = "", **profiles: Any) -> Rules:
    profiles.setdefault("interaction_score_threshold", 10)
    return make_rules(TERRITORIES + extra, **profiles)


def lead(**kw: Any) -> Lead:
    base: dict[str, Any] = {"lead_id": "L1", "party_id": "P1", "status": "NEW",
                            "created_at": ts(0), "country": "US", "channel": "DIRECT"}
    return Lead.from_json({**base, **kw})


def assigned(t: str | None, owner: str | None, trigger: str = asg.CREATED,
             **kw: Any) -> Lead:
    return asg.with_result(lead(**kw), t, owner, trigger, "v", ts(0))


def test_territory_order_precedence_then_smallest_id() -> None:
    r = rules()
    assert asg.candidates(lead(), r) == ["us-direct", "us-all"]
    assert asg.candidates(lead(source_code="ZZZ"), r) == ["us-direct", "a-us", "us-all"]
    assert asg.candidates(lead(channel="INDIRECT_A"), r) == ["us-all"]
    assert asg.candidates(lead(country="FR"), r) == []


R = rules()
OPEN_A = assigned("us-direct", "REP-ANN")


@pytest.mark.parametrize(("old", "new", "expected"), [
    # a new open lead is assigned; a new closed one is not
    (None, lead(), asg.Plan(assign=True)),
    (None, lead(status="DEAD"), asg.Plan()),
    # nothing that matters changed
    (OPEN_A, OPEN_A, asg.Plan()),
    (OPEN_A, assigned("us-direct", "REP-ANN", status="CONTACTED"), asg.Plan()),
    # closing releases the load; opening again holds it again
    (OPEN_A, assigned("us-direct", "REP-ANN", status="DEAD"),
     asg.Plan(release=("us-direct", "REP-ANN"))),
    (assigned("us-direct", "REP-ANN", status="DEAD"), OPEN_A,
     asg.Plan(hold=("us-direct", "REP-ANN"))),
    # deletion releases
    (OPEN_A, None, asg.Plan(release=("us-direct", "REP-ANN"))),
    # a channel change reassigns (and releases the old member)
    (OPEN_A, assigned("us-direct", "REP-ANN", channel="INDIRECT_A"),
     asg.Plan(release=("us-direct", "REP-ANN"), assign=True)),
    # ... but not a lead owned by hand, nor a closed one
    (asg.manual(lead(), "REP-X", R, ts(1)),
     asg.manual(lead(channel="INDIRECT_A"), "REP-X", R, ts(1)), asg.Plan()),
    (assigned("us-direct", "REP-ANN", status="DEAD"),
     assigned("us-direct", "REP-ANN", status="DEAD", channel="INDIRECT_A"), asg.Plan()),
    # an owner set by hand: the old member's load falls, a member's rises
    (OPEN_A, asg.manual(OPEN_A, "REP-X", R, ts(1)),
     asg.Plan(release=("us-direct", "REP-ANN"))),
    (OPEN_A, asg.manual(OPEN_A, "REP-BOB", R, ts(1)),
     asg.Plan(release=("us-direct", "REP-ANN"), hold=("us-direct", "REP-BOB"))),
    # a territory that came with an external lead is not the engine's: not held again
    (lead(territory_id="us-direct", owner="REP-ANN", status="DEAD"),
     lead(territory_id="us-direct", owner="REP-ANN"), asg.Plan()),
    # fallback leads count for no one
    (assigned(None, "POOL"), assigned(None, "POOL", status="DEAD"), asg.Plan()),
])
def test_plan(old: Lead | None, new: Lead | None, expected: asg.Plan) -> None:
    assert asg.plan(old, new, R, asg.CREATED) == expected


@pytest.mark.parametrize(("process", "owner", "expected"), [
    (False, None, asg.Plan()),
    (False, "REP-X", asg.Plan()),
    (True, None, asg.Plan(assign=True)),
    (True, "REP-X", asg.Plan(keep_owner=True)),
])
def test_plan_for_external_leads(process: bool, owner: str | None,
                                 expected: asg.Plan) -> None:
    r = rules(f"processing: {{process_external_leads: {str(process).lower()}}}")
    assert asg.plan(None, lead(owner=owner), r, asg.CREATED, external=True) == expected


def test_decide_passes_on_to_the_next_territory_then_fallback() -> None:
    r = rules()
    states: dict[str, asg.TerritoryState] = {}
    got = [asg.decide(lead(lead_id=f"L{i}"), states, r) for i in range(6)]
    assert got == [("us-direct", "REP-ANN"), ("us-direct", "REP-BOB"),
                   ("us-direct", "REP-ANN"), ("us-all", "REP-CAT"),
                   (None, "POOL"), (None, "POOL")]
    assert asg.decide(lead(lead_id="X", country="FR"), states, r) == (None, "POOL")
    no_fallback = rules("assignment: {fallback: null}")
    assert asg.decide(lead(lead_id="Y", country="FR"), {}, no_fallback) == (None, None)


def test_audit_entry_and_apply_assigned() -> None:
    r = rules()
    ev = asg.decided_event(lead(), "us-direct", "REP-ANN", asg.REEVALUATION, ts(2), "v9", "q")
    back = LeadEvent.from_json(ev.to_json())
    out = asg.apply_assigned(lead(), back, r)
    assert (out.territory_id, out.owner) == ("us-direct", "REP-ANN")
    assert out.processing[-1] == {
        "engine": "assignment", "trigger": "REEVALUATION", "rule_set_id": "us-direct",
        "rule_id": None, "result": "REP-ANN", "rules_version": "v9", "at": ts(2)}
    same = asg.apply_assigned(out, asg.manual_event("L1", "P1", "REP-ANN", ts(3), "v9"), r)
    assert same is out and not asg.is_manual(same)  # repeating the owner sets nothing
    hand = asg.apply_assigned(out, asg.manual_event("L1", "P1", "REP-X", ts(3), "v9"), r)
    # by hand: only the owner changes, the lead stays in its territory
    assert (hand.territory_id, hand.owner, hand.updated_at) == ("us-direct", "REP-X", ts(3))
    assert hand.processing[-1]["trigger"] == "MANUAL"
    assert hand.processing[-1]["rule_set_id"] == "us-direct"
    assert asg.is_manual(hand) and not asg.is_manual(out)
    assert asg.trigger_of(LeadEventKind.LINKED) == asg.REEVALUATION


# --------------------------------------------------------------------------- histories


def new_lead(iid: str, party: str, at: float, score_type: str = "SURVEY_CALLBACK",
             **kw: Any) -> dict[str, Any]:
    return interaction(iid, party=party, type=score_type, at=at, country="US", **kw)


def owners(r: Any) -> list[tuple[str, str | None, str | None]]:
    """(party, territory, owner) of every lead, in creation order."""
    leads = sorted(r.leads.values(), key=lambda x: x.created_at)
    return [(x.party_id, x.territory_id, x.owner) for x in leads]


def update(r: Any, party: str, at: float, **kw: Any) -> None:
    [lid] = [x.lead_id for x in r.leads.values() if x.party_id == party]
    r.update({"lead_id": lid, "party_id": party, "status": kw.pop("status", "NEW"),
              "updated_at": ts(at), **kw})


SIMPLE = """
assignment:
  territories:
    - id: us
      precedence: 1
      guard: {country: [US]}
      members:
        - {resource: ANN, weight: 2, capacity: 2}
        - {resource: BOB, weight: 1, capacity: 1}
  fallback: POOL
"""


def test_history_weights_capacity_close_fallback_manual() -> None:
    r = run(make_rules(SIMPLE, interaction_score_threshold=10),
            *(new_lead(f"i{k}", f"P{k}", k) for k in range(4)))
    assert owners(r) == [("P0", "us", "ANN"), ("P1", "us", "BOB"), ("P2", "us", "ANN"),
                         ("P3", None, "POOL")]  # everyone full: fallback
    update(r, "P1", 5, status="DEAD")  # BOB's lead closes: BOB has room again
    r.feed(new_lead("i4", "P4", 6))
    assert owners(r)[-1] == ("P4", "us", "BOB")
    update(r, "P0", 7, owner="ZED")  # by hand, to a non-member: ANN's load falls
    r.feed(new_lead("i5", "P5", 8))
    assert owners(r)[0] == ("P0", "us", "ZED")  # an update edits only the owner
    assert owners(r)[-1] == ("P5", "us", "ANN")
    assert asg.result(r.pipe.territories["us"]) == {"ANN": 2, "BOB": 1}
    # closing a lead owned by a non-member frees nobody
    update(r, "P0", 9, status="DEAD", owner="ZED")
    assert asg.result(r.pipe.territories["us"]) == {"ANN": 2, "BOB": 1}
    # by hand to a member: the load moves with it, even past capacity (people decide)
    update(r, "P2", 10, owner="BOB")
    assert asg.result(r.pipe.territories["us"]) == {"ANN": 1, "BOB": 2}
    r.feed(new_lead("i6", "P6", 11))  # BOB is over capacity: ANN takes it
    assert owners(r)[-1] == ("P6", "us", "ANN")
    # the audit shows why
    p0 = next(x for x in r.leads.values() if x.party_id == "P0")
    assert [(e["trigger"], e["rule_set_id"], e["result"]) for e in p0.processing
            if e["engine"] == "assignment"] == [
        ("CREATED", "us", "ANN"), ("MANUAL", "us", "ZED")]  # the repeat sets nothing


def test_no_territory_no_fallback_leaves_owner_null() -> None:
    fr_only = SIMPLE.replace("[US]", "[FR]").replace("fallback: POOL", "fallback: null")
    r = run(make_rules(fr_only, interaction_score_threshold=10), new_lead("i0", "P0", 0))
    [x] = r.leads.values()
    assert (x.territory_id, x.owner) == (None, None)
    assert x.processing[-1] == asg.audit_entry(None, None, "CREATED", x.rules_version, ts(0))
    # an empty `assignment` section: no assignment at all, no audit entry
    r = run(make_rules(interaction_score_threshold=10), new_lead("i0", "P0", 0))
    [x] = r.leads.values()
    assert (x.territory_id, x.owner) == (None, None)
    assert all(e["engine"] != "assignment" for e in x.processing)


def test_linked_interaction_does_not_reassign() -> None:
    """A link that leaves the channel as it is never reassigns, nor moves the round-robin."""
    r = run(make_rules(SIMPLE, interaction_score_threshold=10), new_lead("a", "P0", 0))
    before = r.pipe.territories["us"].to_json()
    r.feed(new_lead("b", "P0", 1), new_lead("c", "P0", 2))  # LINKED to P0's lead
    [x] = r.leads.values()
    assert len(x.interaction_ids) == 3
    assert (x.territory_id, x.owner) == ("us", "ANN")
    assert [e["result"] for e in x.processing if e["engine"] == "assignment"] == ["ANN"]
    assert r.pipe.territories["us"].to_json() == before


def test_reevaluation_that_changes_the_channel_reassigns() -> None:
    r = run(rules(CHANNELS), new_lead("a", "P0", 0))
    [x] = r.leads.values()
    assert (x.channel, x.territory_id, x.owner) == ("INDIRECT_A", "us-all", "REP-CAT")
    r.feed(new_lead("b", "P0", 1), new_lead("c", "P0", 2))  # score 30: DIRECT
    [x] = r.leads.values()
    assert (x.channel, x.territory_id, x.owner) == ("DIRECT", "us-direct", "REP-ANN")
    assert x.processing[-1]["trigger"] == "REEVALUATION"
    assert asg.result(r.pipe.territories["us-all"]) == {}  # CAT's load given back
    assert asg.result(r.pipe.territories["us-direct"]) == {"REP-ANN": 1}


def test_manual_owner_is_never_reassigned() -> None:
    r = run(rules(CHANNELS), new_lead("a", "P0", 0))
    update(r, "P0", 0.5, owner="REP-X")
    r.feed(new_lead("b", "P0", 1), new_lead("c", "P0", 2))  # channel changes to DIRECT
    [x] = r.leads.values()
    assert x.channel == "DIRECT" and (x.territory_id, x.owner) == ("us-all", "REP-X")


def test_imported_lead_is_assigned() -> None:
    r = run(make_rules(SIMPLE))
    em = r.pipe.import_record({"import_interface_id": "I1", "source_system": "WEB",
                               "orig_system_reference": "o1", "party_id": "PX",
                               "country": "US", "created_at": ts(0)})
    assert em.import_results[0]["result"] == "SUCCESS"
    [x] = em.leads
    assert (x.territory_id, x.owner) == ("us", "ANN")


@pytest.mark.parametrize(("process", "expected"), [
    (False, [(None, None), (None, "REP-X")]),
    (True, [("us", "ANN"), (None, "REP-X")]),
])
def test_external_leads(process: bool, expected: list[tuple[str | None, str | None]]) -> None:
    r = make_rules(SIMPLE + f"processing: {{process_external_leads: {str(process).lower()}}}")
    got = run(r, leads=[
        {"lead_id": "E1", "party_id": "P1", "status": "NEW", "created_at": ts(0),
         "country": "US"},
        {"lead_id": "E2", "party_id": "P2", "status": "NEW", "created_at": ts(0),
         "country": "US", "owner": "REP-X"},
    ])
    assert [(got.leads[i].territory_id, got.leads[i].owner) for i in ("E1", "E2")] == expected


def test_deleted_lead_gives_its_place_back() -> None:
    r = run(make_rules(SIMPLE, interaction_score_threshold=10),
            *(new_lead(f"i{k}", f"P{k}", k) for k in range(4)))
    assert owners(r)[-1] == ("P3", None, "POOL")
    update(r, "P1", 5, deleted=True)  # BOB's lead
    assert all(x.party_id != "P1" for x in r.leads.values())
    assert asg.result(r.pipe.territories["us"]) == {"ANN": 2}
    r.feed(new_lead("i4", "P4", 6))
    assert owners(r)[-1] == ("P4", "us", "BOB")


def test_edit_that_changes_the_channel_reassigns() -> None:
    """An edit (CONTRACT §10) that routes the lead elsewhere while it is NEW reassigns it,
    audited EDIT; one that leaves the channel alone keeps the owner."""
    edit_rules = rules("""
processing:
  channels: [DIRECT, INDIRECT_A, INDIRECT_B]
  channel_selection:
    - id: ch
      status: ACTIVE
      precedence: 1
      rules:
        - {id: ceo, when: {source_code: CEO}, then: DIRECT}
        - {id: other, when: {}, then: INDIRECT_A}
""")
    r = run(edit_rules, new_lead("a", "P0", 0))
    [x] = r.leads.values()
    assert (x.channel, x.territory_id, x.owner) == ("INDIRECT_A", "us-all", "REP-CAT")
    update(r, "P0", 1, country="US")  # nothing a channel rule sees changes
    [x] = r.leads.values()
    assert (x.territory_id, x.owner) == ("us-all", "REP-CAT")
    update(r, "P0", 2, source_code="CEO")
    [x] = r.leads.values()
    assert (x.channel, x.territory_id, x.owner) == ("DIRECT", "us-direct", "REP-ANN")
    assert x.processing[-1]["engine"] == "assignment" and x.processing[-1]["trigger"] == "EDIT"
    assert asg.result(r.pipe.territories["us-all"]) == {}
