"""Rules compiled once per config version into lookups the hot path can use directly."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple

from rules.conditions import Condition, refers_to
from rules.schema import (
    InteractionRuleSet,
    ProcessingRuleSet,
    Profiles,
    RulesConfig,
    RuleSetStatus,
)

ENGINES = ("qualification", "rating", "channel_selection")


def compile_conditions(spec: dict[str, Any] | list[dict[str, Any]] | None) -> tuple[Condition, ...]:
    """Mapping form -> eq / in tests; list form -> the tests as written."""
    if not spec:
        return ()
    if isinstance(spec, dict):
        return tuple(
            Condition(k, "in", list(v)) if isinstance(v, list) else Condition(k, "eq", v)
            for k, v in spec.items()
        )
    return tuple(Condition(c["attribute"], c["op"], c.get("value")) for c in spec)


@dataclass(frozen=True, slots=True)
class DatedSet:
    """What every rule set has: eligibility by status and dates, and a guard."""

    id: str
    active: bool
    start_date: date | None
    end_date: date | None
    precedence: int
    guard: tuple[Condition, ...]

    def in_date(self, day: date) -> bool:
        return (self.start_date is None or self.start_date <= day) and (
            self.end_date is None or day <= self.end_date
        )


@dataclass(frozen=True, slots=True)
class ScoringSet(DatedSet):
    scores: dict[str, int | float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CompiledRule:
    id: str
    when: tuple[Condition, ...]
    then: bool | str


@dataclass(frozen=True, slots=True)
class ProcessingSet(DatedSet):
    rules: tuple[CompiledRule, ...] = ()
    uses_interaction_score: bool = False


@dataclass(frozen=True, slots=True)
class CompiledMember:
    resource: str
    weight: int
    capacity: int | None  # None: no limit


@dataclass(frozen=True, slots=True)
class CompiledTerritory:
    """A territory of `assignment` (CONTRACT §11) with its guard compiled."""

    id: str
    precedence: int
    guard: tuple[Condition, ...]
    members: tuple[CompiledMember, ...]


class Scored(NamedTuple):
    """The score an interaction gets and the rule set that gave it (a tuple: made per record,
    or taken ready-made from `Rules.plain_scores`)."""

    score: int | float
    rule_set_id: str


@dataclass(frozen=True, slots=True)
class Rules:
    """A validated config with its version and precomputed lookups."""

    config: RulesConfig
    version: str
    source: str = "file"
    type_scores: dict[str, int | float] = field(default_factory=dict)
    enabled_types: frozenset[str] = frozenset()
    known_types: frozenset[str] = frozenset()
    status_rank: dict[str, int] = field(default_factory=dict)
    open_statuses: frozenset[str] = frozenset()
    scoring_sets: tuple[ScoringSet, ...] = ()
    engines: dict[str, tuple[ProcessingSet, ...]] = field(default_factory=dict)
    guests: frozenset[str] = frozenset()
    lookback_seconds: float = 30 * 86400.0
    # Per interaction type: the ACTIVE scoring sets that score it, best first (highest
    # precedence, then highest score for the type, then smallest id), so that scoring can
    # stop at the first set that is in date and whose guard holds.
    scoring_order: dict[str, tuple[ScoringSet, ...]] = field(default_factory=dict)
    # The ACTIVE processing sets (any engine) that refer to `interaction_score`: the only
    # ones that can make a LINKED event reprocess its lead.
    score_dependent_sets: tuple[ProcessingSet, ...] = ()
    # processing.attribute_codes: attribute -> the values it may take (CONTRACT §4)
    attribute_codes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # assignment.territories, highest precedence first, then smallest id (CONTRACT §11)
    territories: tuple[CompiledTerritory, ...] = ()
    fallback: str | None = None
    # Read per record, so kept here as plain fields (not `config.profiles.*` chains):
    # profiles.interaction_score_threshold, default_interaction_score, max_future_skew_hours
    # (in seconds), match_b2b_lead_contact and default_lead_status.
    threshold: int | float = 20
    score_floor: int | float | None = None
    future_skew_seconds: float = 24 * 3600.0
    b2b_contact: bool = False
    default_status: str = "NEW"
    # Per interaction type whose best scoring set has no dates and no guard (so it always
    # wins): its score, floor applied, ready made. Other types walk `scoring_order`.
    plain_scores: dict[str, Scored] = field(default_factory=dict)

    @property
    def profiles(self) -> Profiles:
        return self.config.profiles

    def attribute_code_error(self, name: str, value: Any) -> str | None:
        """Why a record's attribute `name` may not hold `value` under
        `processing.attribute_codes`, or None when it may (unlisted attribute, null, or
        every element of a list allowed). The message names the attribute and the allowed
        values, never the value itself (it may be personal data)."""
        allowed = self.attribute_codes.get(name)
        if allowed is None or value is None:
            return None
        values = value if isinstance(value, list | tuple) else (value,)
        if all(isinstance(v, str) and v in allowed for v in values):
            return None
        return f"{name} must be one of {', '.join(allowed)}"


def _scoring_set(rs: InteractionRuleSet, defaults: dict[str, int | float]) -> ScoringSet:
    scores = dict(defaults) if rs.scores == "default" else dict(rs.scores)
    return ScoringSet(
        id=rs.id, active=rs.status is RuleSetStatus.ACTIVE, start_date=rs.start_date,
        end_date=rs.end_date, precedence=rs.precedence, guard=compile_conditions(rs.guard),
        scores=scores,
    )


def _processing_set(rs: ProcessingRuleSet) -> ProcessingSet:
    guard = compile_conditions(rs.guard)
    rules = tuple(CompiledRule(r.id, compile_conditions(r.when), r.then) for r in rs.rules)
    uses = refers_to(guard, "interaction_score") or any(
        refers_to(r.when, "interaction_score") for r in rules
    )
    return ProcessingSet(
        id=rs.id, active=rs.status is RuleSetStatus.ACTIVE, start_date=rs.start_date,
        end_date=rs.end_date, precedence=rs.precedence, guard=guard, rules=rules,
        uses_interaction_score=uses,
    )


def _scoring_order(sets: tuple[ScoringSet, ...]) -> dict[str, tuple[ScoringSet, ...]]:
    types = {t for s in sets if s.active for t in s.scores}
    return {
        t: tuple(sorted((s for s in sets if s.active and t in s.scores),
                        key=lambda s: (-s.precedence, -s.scores[t], s.id)))
        for t in sorted(types)
    }


def _plain_scores(order: dict[str, tuple[ScoringSet, ...]],
                  floor: int | float | None) -> dict[str, Scored]:
    out = {}
    for t, sets in order.items():
        s = sets[0]
        if s.start_date is None and s.end_date is None and not s.guard:
            score = s.scores[t]
            out[t] = Scored(floor if floor is not None and score < floor else score, s.id)
    return out


def _territories(config: RulesConfig) -> tuple[CompiledTerritory, ...]:
    out = (
        CompiledTerritory(
            id=t.id, precedence=t.precedence, guard=compile_conditions(t.guard),
            members=tuple(CompiledMember(m.resource, m.weight, m.capacity) for m in t.members),
        )
        for t in config.assignment.territories
    )
    return tuple(sorted(out, key=lambda t: (-t.precedence, t.id)))


def compile_rules(config: RulesConfig, version: str, source: str = "file") -> Rules:
    enabled = {t.code: t.default_score for t in config.interaction_types if t.enabled}
    scoring_sets = tuple(_scoring_set(rs, enabled) for rs in config.interaction_rule_sets)
    engines = {
        e: tuple(_processing_set(rs) for rs in getattr(config.processing, e)) for e in ENGINES
    }
    order = _scoring_order(scoring_sets)
    prof = config.profiles
    return Rules(
        config=config,
        version=version,
        source=source,
        type_scores=enabled,
        enabled_types=frozenset(enabled),
        known_types=frozenset(t.code for t in config.interaction_types),
        status_rank={s.code: i for i, s in enumerate(config.lead_statuses)},
        open_statuses=frozenset(s.code for s in config.lead_statuses if s.open),
        scoring_sets=scoring_sets,
        engines=engines,
        guests=frozenset(config.profiles.guest_party_ids),
        lookback_seconds=config.profiles.lead_interaction_lookback_days * 86400.0,
        scoring_order=order,
        score_dependent_sets=tuple(
            ps for e in ENGINES for ps in engines[e] if ps.active and ps.uses_interaction_score
        ),
        attribute_codes={k: tuple(v) for k, v in config.processing.attribute_codes.items()},
        territories=_territories(config),
        fallback=config.assignment.fallback,
        threshold=prof.interaction_score_threshold,
        score_floor=prof.default_interaction_score,
        future_skew_seconds=float(prof.max_future_skew_hours) * 3600.0,
        b2b_contact=prof.match_b2b_lead_contact,
        default_status=prof.default_lead_status,
        plain_scores=_plain_scores(order, prof.default_interaction_score),
    )
