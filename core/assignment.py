"""Territory assignment (CONTRACT §11): who works an open lead, within capacity.

The decision is pure. Its state is per territory (`TerritoryState`): the members' current
weights of the smooth weighted round-robin (as nginx) and, per member, the ids of its open
leads in the territory (its load is their number). Keeping ids rather than counts
makes every state change idempotent (a request or a release seen twice changes nothing),
which the streaming job needs under at-least-once delivery (agents/assignment.py).

Readings where the contract is silent (README "Territory assignment"):
- load and capacity are per territory membership: a resource that is a member of two
  territories has a load in each, bounded by that membership's capacity; that is what lets
  the streaming job keep each territory's state in one place (state keyed by territory);
- a lead counts for the member that owns it in the territory the engine put it in: an owner
  set by hand (`owner` in a lead update) keeps the lead's territory (an update edits only the
  fields it carries) and moves the load to the new owner if a member there, else to no one;
  fallback leads and leads given with a territory from outside count for no one;
- a closed lead that is opened again counts again for the member it was assigned to (its
  load is its open leads) even above capacity; capacity limits only new assignments.

Three levels, each usable on its own:
- `initialize / agg / result`: the round-robin of one territory (one step = one pick);
- `TerritoryState.assign / release / hold`: one territory's state, by lead id;
- `plan` + `follow`: what a lead change asks of assignment, applied synchronously over all
  territories (`simulate`, `core.pipeline.Pipeline`); the streaming job executes the same
  plan through a topic keyed by territory.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from models.records import JSON, Lead, LeadEvent, LeadEventKind
from rules.compiled import CompiledMember, CompiledTerritory, Rules
from rules.conditions import evaluate_all, make_lookup

ENGINE = "assignment"
# audit triggers (CONTRACT §3: CREATED at creation, REEVALUATION on link, EDIT after an edit)
CREATED = "CREATED"
REEVALUATION = "REEVALUATION"
EDIT = "EDIT"
MANUAL = "MANUAL"  # an owner set by hand (lead update `owner`, an external lead's own owner)
# `leadstream_assignments_total{result}`
ASSIGNED = "assigned"
FALLBACK = "fallback"
UNASSIGNED = "unassigned"  # no territory and no fallback


# --------------------------------------------------------------------------- config

Member = CompiledMember  # rules/compiled.py compiles the section (guards, order)


def member_of(territory: CompiledTerritory, resource: str) -> Member | None:
    return next((m for m in territory.members if m.resource == resource), None)


@dataclass(frozen=True, slots=True)
class CompiledAssignment:
    territories: tuple[CompiledTerritory, ...]  # precedence desc, then id
    by_id: Mapping[str, CompiledTerritory]
    fallback: str | None


_COMPILED: dict[str, CompiledAssignment] = {}


def compiled(rules: Rules) -> CompiledAssignment:
    """`Rules.territories` (in decision order) with a lookup by id, once per rules version."""
    got = _COMPILED.get(rules.version)
    if got is not None:
        return got
    got = CompiledAssignment(rules.territories, {t.id: t for t in rules.territories},
                             rules.fallback)
    if len(_COMPILED) >= 16:
        _COMPILED.clear()
    _COMPILED[rules.version] = got
    return got


def candidates(lead: Lead, rules: Rules) -> list[str]:
    """Ids of the territories whose guard holds on the lead, in the order they are tried."""
    lookup = make_lookup(lead.fields(), lead.attributes)
    return [t.id for t in compiled(rules).territories if evaluate_all(t.guard, lookup)]


# --------------------------------------------------------------------------- round-robin

@dataclass(slots=True)
class TerritoryState:
    """One territory: current weight per member, open lead ids per member."""

    current: dict[str, int] = field(default_factory=dict)
    open: dict[str, set[str]] = field(default_factory=dict)

    def load(self, resource: str) -> int:
        return len(self.open.get(resource, ()))

    def holder(self, lead_id: str) -> str | None:
        """The member this state counts the lead for, if any."""
        return next((r for r, ids in self.open.items() if lead_id in ids), None)

    def assign(self, territory: CompiledTerritory, lead_id: str) -> str | None:
        """The member that takes the lead (None: every member is full). A lead it already
        holds stays where it is (a repeated request assigns nothing twice)."""
        held = self.holder(lead_id)
        if held is not None:
            return held
        winner = agg(self, territory)
        if winner is not None:
            self.open.setdefault(winner, set()).add(lead_id)
        return winner

    def release(self, lead_id: str) -> str | None:
        """The lead no longer counts (closed, deleted, reassigned); returns its member."""
        held = self.holder(lead_id)
        if held is not None:
            self.open[held].discard(lead_id)
            if not self.open[held]:
                del self.open[held]
        return held

    def hold(self, resource: str, lead_id: str) -> None:
        """A lead assigned to `resource` is open again and counts again."""
        if self.holder(lead_id) is None:
            self.open.setdefault(resource, set()).add(lead_id)

    def to_json(self) -> JSON:
        return {"current": dict(sorted(self.current.items())),
                "open": {r: sorted(ids) for r, ids in sorted(self.open.items()) if ids}}

    @classmethod
    def from_json(cls, d: Mapping[str, Any] | None) -> TerritoryState:
        if not d:
            return cls()
        return cls({str(k): int(v) for k, v in (d.get("current") or {}).items()},
                   {str(k): set(v) for k, v in (d.get("open") or {}).items() if v})


def initialize() -> TerritoryState:
    return TerritoryState()


def agg(state: TerritoryState, territory: CompiledTerritory) -> str | None:
    """One step of smooth weighted round-robin (nginx) over the members under capacity:
    each adds its weight to its current weight, the largest wins (ties: the earlier member),
    the winner's falls by the total weight that took part. Members at capacity take no part
    and keep their current weight. None: every member is at capacity (state unchanged)."""
    best: Member | None = None
    total = 0
    cur = state.current
    for m in territory.members:
        if m.capacity is not None and state.load(m.resource) >= m.capacity:
            continue
        cur[m.resource] = cur.get(m.resource, 0) + m.weight
        total += m.weight
        if best is None or cur[m.resource] > cur[best.resource]:
            best = m
    if best is None:
        return None
    cur[best.resource] -= total
    return best.resource


def result(state: TerritoryState) -> dict[str, int]:
    """Open load per member."""
    return {r: len(ids) for r, ids in sorted(state.open.items()) if ids}


# --------------------------------------------------------------------------- the lead side

def audit_entry(territory_id: str | None, owner: str | None, trigger: str,
                rules_version: str | None, at: str) -> JSON:
    return {"engine": ENGINE, "trigger": trigger, "rule_set_id": territory_id, "rule_id": None,
            "result": owner, "rules_version": rules_version, "at": at}


def last_assignment(lead: Lead) -> JSON | None:
    for entry in reversed(lead.processing):
        if entry.get("engine") == ENGINE:
            return entry
    return None


def is_manual(lead: Lead) -> bool:
    entry = last_assignment(lead)
    return entry is not None and entry.get("trigger") == MANUAL


def counted(lead: Lead | None, rules: Rules) -> tuple[str, str] | None:
    """(territory, owner) whose load the lead may be part of: open, with a territory and an
    owner (the fallback has no territory). No audit scan: this runs on every lead event; a
    territory's state holds only leads its members were given (`plan`'s `hold`)."""
    if lead is None or lead.territory_id is None or lead.owner is None \
            or lead.status not in rules.open_statuses:
        return None
    return lead.territory_id, lead.owner


def _holds(lead: Lead, territory_id: str, owner: str, rules: Rules) -> bool:
    """Whether the lead may count for `owner` in `territory_id`: the engine put it in that
    territory (not a territory given with an external lead) and the owner is a member."""
    entry = last_assignment(lead)
    territory = compiled(rules).by_id.get(territory_id)
    return entry is not None and entry.get("rule_set_id") == territory_id \
        and territory is not None and member_of(territory, owner) is not None


def counts_for(lead: Lead | None, rules: Rules) -> tuple[str, str] | None:
    """(territory, member) the lead's load belongs to (None: nobody's); what a territory's
    state holds once every request about the lead is applied (`counted` + `_holds`)."""
    c = counted(lead, rules)
    return c if c is not None and lead is not None and _holds(lead, *c, rules) else None


def active(rules: Rules) -> bool:
    """Whether the config assigns at all (an empty `assignment` section: no owners, no audit)."""
    comp = compiled(rules)
    return bool(comp.territories) or comp.fallback is not None


def with_result(lead: Lead, territory_id: str | None, owner: str | None, trigger: str,
                rules_version: str | None, at: str, slot: int | None = None) -> Lead:
    """A copy of the lead with the decision recorded (fields and audit entry). `slot`: where
    the audit entry goes (a decision that comes back late is put where it was asked for, so
    the audit reads as `simulate`'s); default: at the end."""
    out = lead.copy()
    out.territory_id, out.owner = territory_id, owner
    entry = audit_entry(territory_id, owner, trigger, rules_version, at)
    if slot is None or slot >= len(out.processing):
        out.processing.append(entry)
    else:
        out.processing.insert(max(slot, 0), entry)
    return out


def manual(lead: Lead, owner: str | None, rules: Rules, at: str) -> Lead:
    """An owner set by hand: kept, never reassigned automatically. The lead stays in its
    territory (an update edits only the fields it carries), so it counts for its new owner
    when that owner is a member there."""
    out = with_result(lead, lead.territory_id, owner, MANUAL, rules.version, at)
    out.updated_at = at
    return out


@dataclass(frozen=True, slots=True)
class Plan:
    """What a lead change asks of assignment (executed by `follow`, or by the streaming job
    through the territory topic)."""

    release: tuple[str, str] | None = None  # (territory, owner) the lead stops counting for
    hold: tuple[str, str] | None = None     # (territory, member) the lead counts for now
    assign: bool = False                    # run the decision (trigger below)
    trigger: str = CREATED
    keep_owner: bool = False                # an external lead's given owner: mark it MANUAL


def plan(old: Lead | None, new: Lead | None, rules: Rules, trigger: str,
         external: bool = False) -> Plan:
    """The assignment consequences of `old` -> `new` (None: unknown / deleted).

    Nothing is assigned while the config's `assignment` section is empty.
    - a new lead (old None) that is open is assigned (`external`: only when
      `processing.process_external_leads`, and one that comes with an owner keeps it);
    - an existing open lead not owned by hand is assigned again when its channel changed;
    - a lead that stops counting for its member (closed, deleted, reassigned, given to
      another owner by hand) releases that load; a closed lead opened again, or one given by
      hand to a member of its territory, counts for that member (`hold`).
    """
    assign, keep = False, False
    if new is not None and new.status in rules.open_statuses and active(rules):
        if old is None:
            skip = external and not rules.config.processing.process_external_leads
            if skip or is_manual(new):
                pass
            elif external and new.owner is not None:
                keep = True
            else:
                assign = True
        elif new.channel != old.channel and not is_manual(new):
            assign = True
    before = counted(old, rules)
    after = None if assign or keep else counted(new, rules)
    hold = after if after is not None and after != before else None
    if hold is not None and (new is None or not _holds(new, *hold, rules)):
        hold = None
    return Plan(release=before if before is not None and before != after else None,
                hold=hold, assign=assign, trigger=trigger, keep_owner=keep)


def decide(lead: Lead, states: MutableMapping[str, TerritoryState], rules: Rules,
           tried: Sequence[str] | None = None) -> tuple[str | None, str | None]:
    """(territory, owner): the first territory of `tried` (default: the lead's candidates)
    with a member under capacity, else (None, fallback). Updates `states`."""
    comp = compiled(rules)
    for tid in candidates(lead, rules) if tried is None else tried:
        territory = comp.by_id.get(tid)
        if territory is None:
            continue
        st = states.setdefault(tid, initialize())
        owner = st.assign(territory, lead.lead_id)
        if owner is not None:
            return tid, owner
    return None, comp.fallback


def outcome_label(territory_id: str | None, owner: str | None) -> str:
    if territory_id is not None:
        return ASSIGNED
    return FALLBACK if owner is not None else UNASSIGNED


def follow(old: Lead | None, new: Lead | None, states: MutableMapping[str, TerritoryState],
           rules: Rules, at: str, trigger: str, external: bool = False) -> Lead | None:
    """Apply `plan(old, new)` at once over all territories (the offline job): release, hold,
    then assign (recording territory, owner and the audit entry on the returned copy)."""
    p = plan(old, new, rules, trigger, external)
    if p.release is not None and old is not None:
        states.setdefault(p.release[0], initialize()).release(old.lead_id)
    if p.hold is not None and new is not None:
        states.setdefault(p.hold[0], initialize()).hold(p.hold[1], new.lead_id)
    if new is None:
        return None
    if p.keep_owner:
        return manual(new, new.owner, rules, at)
    if not p.assign:
        return new
    territory_id, owner = decide(new, states, rules)
    return with_result(new, territory_id, owner, p.trigger, rules.version, at)


def trigger_of(kind: LeadEventKind) -> str:
    """The audit trigger of an assignment caused by a lead event of this kind."""
    if kind in (LeadEventKind.CREATED, LeadEventKind.IMPORTED, LeadEventKind.REGISTERED):
        return CREATED
    return REEVALUATION if kind is LeadEventKind.LINKED else EDIT


def manual_event(lead_id: str, party_id: str, owner: str | None, at: str,
                 rules_version: str | None) -> LeadEvent:
    """The lead event of a lead update that sets `owner` (CONTRACT §11: by hand)."""
    return LeadEvent(LeadEventKind.ASSIGNED, lead_id, party_id, at, rules_version,
                     assignment={"manual": True, "owner": owner})


def decided_event(lead: Lead, territory_id: str | None, owner: str | None, trigger: str,
                  at: str, rules_version: str | None, request: str | None) -> LeadEvent:
    """The lead event that brings a territory's decision back to the lead (streaming)."""
    return LeadEvent(LeadEventKind.ASSIGNED, lead.lead_id, lead.party_id, at, rules_version,
                     assignment={"territory_id": territory_id, "owner": owner,
                                 "trigger": trigger, "request": request})


def apply_assigned(lead: Lead, ev: LeadEvent, rules: Rules, slot: int | None = None) -> Lead:
    """An ASSIGNED event on the lead: a hand-set owner, or a territory's decision (its audit
    entry at `slot`, see `with_result`)."""
    a = ev.assignment or {}
    owner = a.get("owner")
    owner = None if owner is None else str(owner)
    if a.get("manual"):
        if owner == lead.owner:  # an update that repeats the owner it has sets nothing
            return lead
        return manual(lead, owner, rules, ev.at)
    t = a.get("territory_id")
    return with_result(lead, None if t is None else str(t), owner,
                       str(a.get("trigger") or CREATED), ev.rules_version, ev.at, slot)


# --------------------------------------------------------------------------- territory side
# The streaming job's assignment agent (agents/assignment.py) owns each territory's state and
# runs `territory_step` per request; docs/STREAMING.md has the design.

OPS = ("assign", "release", "hold")


def request_error(req: Any, territory_id: str) -> str | None:
    """Why a request read from the territory topic cannot be applied (None: it can)."""
    if not isinstance(req, dict) or req.get("op") not in OPS:
        return "op: must be one of assign, release, hold"
    if not territory_id:
        return "key: a territory id is needed"
    if not isinstance(req.get("lead_id"), str):
        return "lead_id: must be a string"
    if req["op"] == "assign":
        tried = req.get("tried")
        if not isinstance(tried, list) or tried[:1] != [territory_id]:
            return "tried: must be a list of territory ids starting with the key"
        if not isinstance(req.get("party_id"), str):
            return "party_id: must be a string"
    return None


@dataclass(frozen=True, slots=True)
class TerritoryStep:
    """What one request did: the territory's new table value (None: a request applied
    before, nothing changes) and what to send (the request passed on, or the decision)."""

    stored: JSON | None
    forward: tuple[str, JSON] | None = None
    decided: LeadEvent | None = None


def territory_step(territory_id: str, stored: Mapping[str, Any] | None, req: Mapping[str, Any],
                   rules: Rules, src: str, offset: int) -> TerritoryStep:
    """Apply one valid request (`request_error` is None) to a territory's table value
    ``{"state", "progress"}``. `src`/`offset`: where this agent read it (a request passed on
    names them as its sender). A request at or below the territory's progress for its
    sender is skipped."""
    doc = dict(stored or {})
    progress: dict[str, Any] = dict(doc.get("progress") or {})
    sender, seq = req.get("src"), req.get("seq")
    if isinstance(sender, str) and isinstance(seq, list):
        if sender in progress and list(progress[sender]) >= seq:
            return TerritoryStep(None)
        progress[sender] = seq
    state = TerritoryState.from_json(doc.get("state"))
    comp = compiled(rules)
    territory = comp.by_id.get(territory_id)
    lead_id = str(req["lead_id"])
    forward: tuple[str, JSON] | None = None
    decided: LeadEvent | None = None
    if req["op"] == "assign":
        owner = state.assign(territory, lead_id) if territory is not None else None
        rest = [str(t) for t in req["tried"][1:]]
        if owner is None and rest:
            forward = (rest[0], {**req, "tried": rest, "src": src, "seq": [offset, 0]})
        else:
            tid, who = (territory_id, owner) if owner is not None else (None, comp.fallback)
            decided = LeadEvent(LeadEventKind.ASSIGNED, lead_id, str(req["party_id"]),
                                str(req.get("at")), rules.version, assignment={
                                    "territory_id": tid, "owner": who,
                                    "trigger": req.get("trigger"),
                                    "request": req.get("request")})
    elif req["op"] == "release":
        state.release(lead_id)
    elif territory is not None and member_of(territory, str(req.get("owner"))) is not None:
        state.hold(str(req["owner"]), lead_id)
    return TerritoryStep({"state": state.to_json(), "progress": progress}, forward, decided)


def loads(load: Mapping[str, Mapping[str, int]], rules: Rules) -> list[JSON]:
    """Per territory of the config (then any other with load left), each member's weight,
    capacity and open load; `load`: territory -> member -> open leads (`result`)."""
    comp = compiled(rules)
    out: list[JSON] = []
    for t in comp.territories:
        have = load.get(t.id) or {}
        members = [{"resource": m.resource, "weight": m.weight, "capacity": m.capacity,
                    "load": int(have.get(m.resource, 0))} for m in t.members]
        members += [{"resource": r, "weight": None, "capacity": None, "load": int(n)}
                    for r, n in sorted(have.items()) if member_of(t, r) is None and n]
        out.append({"id": t.id, "precedence": t.precedence, "members": members})
    for tid in sorted(set(load) - set(comp.by_id)):
        rest = {r: int(n) for r, n in sorted(load[tid].items()) if n}
        if rest:
            out.append({"id": tid, "precedence": None, "members": [
                {"resource": r, "weight": None, "capacity": None, "load": n}
                for r, n in rest.items()]})
    return out


__all__ = [
    "ENGINE", "MANUAL", "CompiledTerritory", "Member", "member_of", "Plan", "TerritoryState", "agg",
    "candidates", "compiled", "counted", "counts_for", "decide", "follow", "initialize",
    "is_manual", "loads", "manual", "plan", "result", "with_result",
]
