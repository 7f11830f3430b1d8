"""Lead processing (CONTRACT §3): qualification, rating and channel selection, with audit.

Pure functions over `Lead` snapshots; the argument is never mutated, a new `Lead` is returned.

Engine semantics, per engine:
- eligible sets: ACTIVE, in date on the calendar date of the evaluation time, guard holds on
  the lead as it stands when the engine runs (so channel selection sees the `qualified` and
  `rating` just decided);
- precedence groups, highest first; the first group in which any set has a matching rule
  decides; inside a set the first rule (listed order) whose `when` all hold gives its result;
- sets of that group that disagree: the best result wins (qualified over not qualified; the
  earlier entry of `processing.ratings` / `processing.channels`); when several sets give that
  best result, the audit records the one with the smallest rule-set id (as for scoring, §2);
- nothing matched anywhere: the engine's default of `processing.defaults` (audit rule_id None).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from models.records import JSON, Lead, LeadEvent, LeadEventKind, Trigger
from models.timefmt import day_of
from rules.compiled import ProcessingSet, Rules
from rules.conditions import Lookup, evaluate_all, make_lookup

QUALIFICATION = "qualification"
RATING = "rating"
CHANNEL_SELECTION = "channel_selection"
ENGINES: tuple[str, ...] = (QUALIFICATION, RATING, CHANNEL_SELECTION)

Result = bool | str | None


class UnknownLead(LookupError):
    """A LINKED or STATUS event for a lead this processor has never seen."""

    def __init__(self, lead_id: str, kind: str) -> None:
        super().__init__(f"{kind} event for unknown lead {lead_id!r}")
        self.lead_id = lead_id
        self.kind = kind


class BadLeadEvent(ValueError):
    """A lead event that lacks what its kind needs (a lead, an interaction id, a status)."""


@dataclass(frozen=True, slots=True)
class Decision:
    """What one engine run decided; `rule_id` is None when the default applied."""

    engine: str
    result: Result
    rule_set_id: str | None
    rule_id: str | None


def _lookup(lead: Lead) -> Lookup:
    return make_lookup(lead.fields(), lead.attributes)


def _eligible(ps: ProcessingSet, day: date, lookup: Lookup) -> bool:
    return ps.active and ps.in_date(day) and evaluate_all(ps.guard, lookup)


def _eligible_sets(engine: str, rules: Rules, day: date, lookup: Lookup) -> list[ProcessingSet]:
    return [ps for ps in rules.engines.get(engine, ()) if _eligible(ps, day, lookup)]


def eligible_sets(engine: str, lead: Lead, rules: Rules, at: str) -> list[ProcessingSet]:
    """The engine's rule sets that are ACTIVE, in date at `at` and whose guard holds."""
    return _eligible_sets(engine, rules, day_of(at), _lookup(lead))


def _rank(engine: str, result: Result, rules: Rules) -> int:
    """Lower is better."""
    if engine == QUALIFICATION:
        return 0 if result is True else 1
    proc = rules.config.processing
    order = proc.ratings if engine == RATING else proc.channels
    if isinstance(result, str) and result in order:
        return order.index(result)
    return len(order)


def _default(engine: str, rules: Rules) -> Result:
    d = rules.config.processing.defaults
    if engine == QUALIFICATION:
        return d.qualified
    return d.rating if engine == RATING else d.channel


def _first_match(ps: ProcessingSet, lookup: Lookup) -> tuple[str, Result] | None:
    for rule in ps.rules:
        if evaluate_all(rule.when, lookup):
            return rule.id, rule.then
    return None


def decide(engine: str, lead: Lead, rules: Rules, at: str) -> Decision:
    """Run one engine on `lead` (read only) and say what it decides and why."""
    return _decide(engine, lead, rules, day_of(at))


def _decide(engine: str, lead: Lead, rules: Rules, day: date) -> Decision:
    lookup = _lookup(lead)
    sets = _eligible_sets(engine, rules, day, lookup)
    for prec in sorted({ps.precedence for ps in sets}, reverse=True):
        hits: list[tuple[int, str, str, Result]] = []
        for ps in sets:
            if ps.precedence != prec:
                continue
            m = _first_match(ps, lookup)
            if m is not None:
                hits.append((_rank(engine, m[1], rules), ps.id, m[0], m[1]))
        if hits:
            _, set_id, rule_id, result = min(hits, key=lambda h: (h[0], h[1]))
            return Decision(engine, result, set_id, rule_id)
    return Decision(engine, _default(engine, rules), None, None)


def _audit(d: Decision, rules: Rules, at: str, trigger: Trigger) -> JSON:
    return {
        "engine": d.engine, "trigger": trigger.value, "rule_set_id": d.rule_set_id,
        "rule_id": d.rule_id, "result": d.result, "rules_version": rules.version, "at": at,
    }


def run_engines(lead: Lead, rules: Rules, at: str, trigger: Trigger = Trigger.CREATED) -> Lead:
    """Run qualification, rating and channel selection (each only when due) on a copy of `lead`.

    Qualification runs unless the lead is qualified; rating only for a qualified lead without
    a rating; channel selection whenever the channel is empty. Each run appends one audit entry
    to `processing`; `rules_version` is set to the version of `rules`.
    """
    out = lead.copy()
    _run_engines_on(out, rules, at, trigger)
    return out


def _run_engines_on(out: Lead, rules: Rules, at: str, trigger: Trigger) -> None:
    """`run_engines` on a lead this module has just copied (changed in place)."""
    day = day_of(at)
    if out.qualified is not True:
        d = _decide(QUALIFICATION, out, rules, day)
        out.qualified = bool(d.result)
        out.processing.append(_audit(d, rules, at, trigger))
    if out.qualified is True and out.rating is None:
        d = _decide(RATING, out, rules, day)
        out.rating = None if d.result is None else str(d.result)
        out.processing.append(_audit(d, rules, at, trigger))
    if out.channel is None:
        d = _decide(CHANNEL_SELECTION, out, rules, day)
        out.channel = None if d.result is None else str(d.result)
        out.processing.append(_audit(d, rules, at, trigger))
    out.rules_version = rules.version


def needs_reevaluation(lead: Lead, rules: Rules, at: str) -> bool:
    """Whether any eligible processing rule set (any engine) refers to `interaction_score`.

    Only the sets in `rules.score_dependent_sets` (ACTIVE, referring to it) can; with none,
    neither the date nor the lead's lookup is needed.
    """
    return bool(rules.score_dependent_sets) and _reevaluates(lead, rules, day_of(at))


def _reevaluates(lead: Lead, rules: Rules, day: date) -> bool:
    lookup = _lookup(lead)
    return any(_eligible(ps, day, lookup) for ps in rules.score_dependent_sets)


def apply_lead_event(lead: Lead | None, ev: LeadEvent, rules: Rules) -> Lead | None:
    """Apply one lead event to the current snapshot (None: not known yet); return the new one
    (None: the lead was deleted).

    - CREATED / IMPORTED: `ev.lead` goes through the three engines at `ev.at` (trigger CREATED).
    - REGISTERED: `ev.lead` is kept as given, or, with `processing.process_external_leads`,
      processed like an import at its `created_at` (CONTRACT §4).
    - LINKED: the score is added and the interaction id appended, `updated_at = ev.at`; then the
      lead is reevaluated (CONTRACT §3, `_reevaluate`). An interaction id already on the lead
      changes nothing (at-least-once delivery).
    - STATUS: `status` and `updated_at` change; no engine runs.
    - EDITED: the edit is applied (CONTRACT §10, `_edit`).
    - DELETED: None.
    """
    if ev.kind in (LeadEventKind.CREATED, LeadEventKind.IMPORTED):
        return run_engines(_need_lead(ev), rules, ev.at)
    if ev.kind is LeadEventKind.REGISTERED:
        given = _need_lead(ev)
        if rules.config.processing.process_external_leads:
            return run_engines(given, rules, given.created_at)
        return given.copy()
    if lead is None:
        raise UnknownLead(ev.lead_id, ev.kind.value)
    if ev.kind is LeadEventKind.STATUS:
        if ev.status is None:
            raise BadLeadEvent(f"STATUS event for lead {ev.lead_id!r} has no status")
        out = lead.copy()
        out.status = ev.status
        out.updated_at = ev.at
        return out
    if ev.kind is LeadEventKind.LINKED:
        return _link(lead, ev, rules)
    if ev.kind is LeadEventKind.EDITED:
        return _edit(lead, ev, rules)
    if ev.kind is LeadEventKind.DELETED:
        return None
    raise BadLeadEvent(f"unknown lead event kind {ev.kind!r}")  # pragma: no cover


def _need_lead(ev: LeadEvent) -> Lead:
    if ev.lead is None:
        raise BadLeadEvent(f"{ev.kind.value} event for lead {ev.lead_id!r} carries no lead")
    return ev.lead


def _link(lead: Lead, ev: LeadEvent, rules: Rules) -> Lead:
    if ev.interaction_id is not None and ev.interaction_id in lead.interaction_ids:
        return lead.copy()
    out = lead.copy()
    out.interaction_score = out.interaction_score + ev.score
    if ev.interaction_id is not None:
        out.interaction_ids.append(ev.interaction_id)
    out.updated_at = ev.at
    # only a score that goes up, and only when an eligible set (before or after the change)
    # refers to interaction_score
    if ev.score > 0 and rules.score_dependent_sets:
        day = day_of(ev.at)
        if _reevaluates(lead, rules, day) or _reevaluates(out, rules, day):
            _reevaluate(out, rules, ev.at)
    return out


def _better(engine: str, new: Result, old: Result, rules: Rules) -> bool:
    """`new` ranks strictly before `old` (None ranks last)."""
    return _rank(engine, new, rules) < _rank(engine, old, rules)


def _reevaluate(out: Lead, rules: Rules, at: str) -> None:
    """Reevaluation on link, which never wipes a lead people work (CONTRACT §3):
    not qualified: qualification again, then rating if it became qualified; qualified: rating
    again, kept only when better; channel again only while the status is the default one
    (a different result replaces it). Each engine sees its own field as empty, as at creation.
    """
    day = day_of(at)
    trig = Trigger.REEVALUATION
    if out.qualified is not True:
        out.qualified = None
        d = _decide(QUALIFICATION, out, rules, day)
        out.qualified = bool(d.result)
        out.processing.append(_audit(d, rules, at, trig))
    if out.qualified is True:
        old = out.rating
        out.rating = None
        d = _decide(RATING, out, rules, day)
        new = None if d.result is None else str(d.result)
        out.rating = new if _better(RATING, new, old, rules) else old
        out.processing.append(_audit(d, rules, at, trig))
    if out.status == rules.config.profiles.default_lead_status:
        _rechannel(out, rules, at, day, trig)
    out.rules_version = rules.version


def _rechannel(out: Lead, rules: Rules, at: str, day: date, trig: Trigger) -> None:
    out.channel = None
    d = _decide(CHANNEL_SELECTION, out, rules, day)
    out.channel = None if d.result is None else str(d.result)
    out.processing.append(_audit(d, rules, at, trig))


#: the fields of a lead an update may edit beside `status` and `attributes` (CONTRACT §10);
#: processing conditions see them all. `owner` is assignment's (core/assignment.py).
EDITABLE = ("country", "source_code", "contact_id")


def merge_attributes(attrs: JSON, patch: JSON) -> JSON:
    """A lead's attributes after an update's patch: given keys set, null values removed."""
    out = dict(attrs)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = v
    return out


def _edit(lead: Lead, ev: LeadEvent, rules: Rules) -> Lead:
    """A lead edit (CONTRACT §10): `status`, `country`, `source_code`, `contact_id` and an
    `attributes` patch (null removes a key). When a value the processing rules can see
    changed and the lead is open (after the update), qualification and rating run again from
    scratch (up or down) and channel selection only in the default status; trigger EDIT."""
    out = lead.copy()
    changes = ev.changes or {}
    if ev.status is not None:
        out.status = ev.status
    seen = False
    for name in EDITABLE:
        if name in changes and changes[name] != getattr(out, name):
            setattr(out, name, changes[name])
            seen = True
    patch = changes.get("attributes")
    if isinstance(patch, dict):
        attrs = merge_attributes(out.attributes, patch)
        if attrs != out.attributes:
            out.attributes = attrs
            seen = True
    out.updated_at = ev.at
    if seen and out.status in rules.open_statuses:
        day = day_of(ev.at)
        trig = Trigger.EDIT
        out.qualified = out.rating = None
        d = _decide(QUALIFICATION, out, rules, day)
        out.qualified = bool(d.result)
        out.processing.append(_audit(d, rules, ev.at, trig))
        if out.qualified:
            d = _decide(RATING, out, rules, day)
            out.rating = None if d.result is None else str(d.result)
            out.processing.append(_audit(d, rules, ev.at, trig))
        if out.status == rules.config.profiles.default_lead_status:
            _rechannel(out, rules, ev.at, day, trig)
        out.rules_version = rules.version
    return out


__all__ = [
    "CHANNEL_SELECTION",
    "ENGINES",
    "QUALIFICATION",
    "RATING",
    "BadLeadEvent",
    "Decision",
    "UnknownLead",
    "apply_lead_event",
    "decide",
    "eligible_sets",
    "merge_attributes",
    "needs_reevaluation",
    "run_engines",
]
