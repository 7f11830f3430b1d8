"""Step 5 of matching: choose the interaction rule set and score (CONTRACT §2.5)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from models.records import Interaction, Score
from rules.compiled import Rules, ScoringSet
from rules.conditions import evaluate_all, make_lookup


@dataclass(frozen=True, slots=True)
class Scored:
    score: Score
    rule_set_id: str


def eligible_sets(it: Interaction, rules: Rules) -> list[ScoringSet]:
    """Active, in date on the interaction's date, guard holds, and a score for its type."""
    day = date.fromordinal(it.day_ordinal)
    lookup = make_lookup(it.fields(), it.attributes)
    return [
        s for s in rules.scoring_sets
        if s.active and it.type in s.scores and s.in_date(day) and evaluate_all(s.guard, lookup)
    ]


def score_interaction(it: Interaction, rules: Rules) -> Scored | None:
    """Highest precedence, then highest score for the type, then smallest id; floor applied."""
    candidates = eligible_sets(it, rules)
    if not candidates:
        return None
    best = min(candidates, key=lambda s: (-s.precedence, -s.scores[it.type], s.id))
    score = best.scores[it.type]
    floor = rules.config.profiles.default_interaction_score
    if floor is not None and score < floor:
        score = floor
    return Scored(score, best.id)
