"""The lead's side of assignment in the streaming job (CONTRACT §11, docs/STREAMING.md).

Pure: `LeadSide` decides, the processing agent sends `sends` (territory id, request) to
`leadstream-assignments` and stores `pending()` with the lead.

The processing agent owns the lead, the assignment agent owns the territory. After each lead
change the processing agent runs `core.assignment.plan` and turns it into requests on
`leadstream-assignments` (keyed by territory): `release`, `hold`, and `assign` to the lead's
first matching territory. While an `assign` is in flight the lead is *pending* (its request
id and tried territories are kept with it in the `leads` table); the decision comes back as an
ASSIGNED lead event with that request id. One request per lead is in flight at a time:
- a change that asks for another assignment meanwhile is kept (`dirty`) and sent when the
  decision comes back (which then is released);
- a lead that closes, is deleted or gets an owner by hand meanwhile releases at once in
  every territory it was sent to (they see the release after the request: same sender, same
  partition), and again where the decision says it went (idempotent by lead id).
No matching territory: the fallback is decided here, with no request.
"""

from __future__ import annotations

from typing import Any

from core import assignment as asg
from core.processing import UnknownLead, apply_lead_event
from models.records import Lead, LeadEvent, LeadEventKind
from rules.compiled import Rules

#: a request to send: (territory id = its key, the request)
Send = tuple[str, dict[str, Any]]


class LeadSide:
    """Assignment requests of one lead event read from input `src` (e.g. ``le3``) at
    `offset`; `stored` is the lead's table value (its pending request, if any)."""

    def __init__(self, stored: dict[str, Any] | None, rules: Rules, src: str,
                 offset: int) -> None:
        self.rules, self.src, self.offset = rules, src, offset
        self.sends: list[Send] = []
        st = stored or {}
        self._pending: str | None = st.get("pending")
        self._tried: list[str] | None = st.get("tried")
        self._dirty: list[Any] | None = st.get("dirty")  # [trigger, at, slot]
        self._slot: int | None = st.get("slot")  # the audit entry's place (with_result)

    def pending(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self._pending is not None:
            out["pending"], out["tried"], out["slot"] = self._pending, self._tried, self._slot
        if self._dirty is not None:
            out["dirty"] = self._dirty
        return out

    def _send(self, territory_id: str, body: dict[str, Any]) -> None:
        self.sends.append((territory_id, {**body, "src": self.src,
                                          "seq": [self.offset, len(self.sends)]}))

    def _release(self, territory_id: str, lead_id: str) -> None:
        self._send(territory_id, {"op": "release", "lead_id": lead_id})

    def _drop_pending(self, lead_id: str) -> None:
        for t in self._tried or ():
            self._release(t, lead_id)

    def apply(self, old: Lead | None, ev: LeadEvent) -> Lead | None:
        """The whole lead event: processing (§3) or an owner by hand, then `follow`; or a
        territory's decision (`decided`). None: nothing to store (the lead is gone)."""
        if ev.kind is LeadEventKind.ASSIGNED and not (ev.assignment or {}).get("manual"):
            return self.decided(old, ev)
        if ev.kind is LeadEventKind.ASSIGNED:
            if old is None:
                raise UnknownLead(ev.lead_id, ev.kind.value)
            new: Lead | None = asg.apply_assigned(old, ev, self.rules)
        else:
            new = apply_lead_event(old, ev, self.rules)
        return self.follow(old, new, ev)

    def follow(self, old: Lead | None, new: Lead | None, ev: LeadEvent) -> Lead | None:
        """`plan(old, new)` as requests; returns the lead to store (pending: no owner yet)."""
        rules = self.rules
        p = asg.plan(old, new, rules, asg.trigger_of(ev.kind),
                     external=ev.kind is LeadEventKind.REGISTERED)
        if p.release is not None and old is not None:
            self._release(p.release[0], old.lead_id)
        if p.hold is not None and new is not None:
            self._send(p.hold[0], {"op": "hold", "lead_id": new.lead_id,
                                         "owner": p.hold[1]})
        if self._pending is not None and old is not None and (
                new is None or new.status not in rules.open_statuses or asg.is_manual(new)):
            self._drop_pending(old.lead_id)  # released early; again on the decision
        if new is None:
            return None
        if p.keep_owner:
            return asg.manual(new, new.owner, rules, ev.at)
        if not p.assign:
            return new
        if self._pending is not None:
            self._dirty = [p.trigger, ev.at, len(new.processing)]
            return new
        return self._start(new, p.trigger, ev.at)

    def _start(self, lead: Lead, trigger: str, at: str,
                     slot: int | None = None) -> Lead:
        rules = self.rules
        tried = asg.candidates(lead, rules)
        if not tried:
            return asg.with_result(lead, None, asg.compiled(rules).fallback, trigger,
                                   rules.version, at, slot)
        out = lead.copy()
        out.territory_id = out.owner = None  # until the territory's decision comes back
        self._pending = f"{self.src}:{self.offset}"
        self._tried, self._dirty = tried, None
        self._slot = len(out.processing) if slot is None else slot
        self._send(tried[0], {
            "op": "assign", "lead_id": lead.lead_id, "party_id": lead.party_id,
            "tried": tried, "trigger": trigger, "at": at, "request": self._pending})
        return out

    def decided(self, old: Lead | None, ev: LeadEvent) -> Lead | None:
        """A territory's decision (ASSIGNED, not by hand) for this lead."""
        a = ev.assignment or {}
        t = a.get("territory_id")
        if old is None:  # deleted meanwhile: give the load back
            if t is not None:
                self._release(str(t), ev.lead_id)
            return None
        if a.get("request") != self._pending:
            return old  # not the request in flight: a repeat
        slot = self._slot
        self._pending = self._tried = self._slot = None
        dirty, self._dirty = self._dirty, None
        if asg.is_manual(old):
            return self._behind_manual(old, ev, slot)
        if old.status not in self.rules.open_statuses:
            if t is not None:
                self._release(str(t), old.lead_id)
            return asg.apply_assigned(old, ev, self.rules, slot)
        new = asg.apply_assigned(old, ev, self.rules, slot)
        if dirty is not None:
            if t is not None:
                self._release(str(t), old.lead_id)
            # its audit entry goes where the change that asked for it was (one entry was
            # just put before that place)
            return self._start(new, dirty[0], dirty[1], int(dirty[2]) + 1)
        return new

    def _behind_manual(self, old: Lead, ev: LeadEvent, slot: int | None) -> Lead:
        """The decision arrives after an owner was set by hand: recorded where it was asked
        for, the lead in the decided territory with the hand-set owner (as `simulate` reads
        it: assigned, then owned by hand), and the place given to that owner if a member."""
        t = (ev.assignment or {}).get("territory_id")
        owner = old.owner
        new = asg.apply_assigned(old, ev, self.rules, slot)
        new.owner = owner
        start = len(new.processing) if slot is None else slot + 1
        for i in range(start, len(new.processing)):  # made while the territory was unknown
            entry = new.processing[i]
            if entry.get("engine") == asg.ENGINE and entry.get("trigger") == asg.MANUAL:
                new.processing[i] = {**entry, "rule_set_id": t}
        if t is not None:
            self._release(str(t), old.lead_id)
            hold = asg.counts_for(new, self.rules)
            if hold is not None:
                self._send(hold[0], {"op": "hold", "lead_id": old.lead_id, "owner": hold[1]})
        return new
