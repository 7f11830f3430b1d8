"""Step 5 of matching: choose the interaction rule set and score (CONTRACT §2.5)."""

from __future__ import annotations

from datetime import date

from models.records import Interaction
from rules.compiled import Rules, Scored, ScoringSet
from rules.conditions import Lookup, evaluate_all, make_lookup

__all__ = ["Scored", "eligible_sets", "score_interaction"]


def eligible_sets(it: Interaction, rules: Rules) -> list[ScoringSet]:
    """Active, in date on the interaction's date, guard holds, and a score for its type
    (the reference definition; `score_interaction` walks `rules.scoring_order` instead)."""
    day = date.fromordinal(it.day_ordinal)
    lookup = make_lookup(it.fields(), it.attributes)
    return [
        s for s in rules.scoring_sets
        if s.active and it.type in s.scores and s.in_date(day) and evaluate_all(s.guard, lookup)
    ]


def score_interaction(it: Interaction, rules: Rules) -> Scored | None:
    """Highest precedence, then highest score for the type, then smallest id; floor applied.

    The same choice as the best of `eligible_sets`: `rules.scoring_order` lists the sets for
    the type best first, so the first eligible one wins (when that one has no dates and no
    guard, `rules.plain_scores` has the answer ready). The date and the guard lookup are
    only built when a set needs them.
    """
    ready = rules.plain_scores.get(it.type)
    if ready is not None:
        return ready
    day: date | None = None
    lookup: Lookup | None = None
    for s in rules.scoring_order.get(it.type, ()):
        if s.start_date is not None or s.end_date is not None:
            if day is None:
                day = date.fromordinal(it.day_ordinal)
            if not s.in_date(day):
                continue
        if s.guard:
            if lookup is None:
                lookup = make_lookup(it.fields(), it.attributes)
            if not evaluate_all(s.guard, lookup):
                continue
        score = s.scores[it.type]
        floor = rules.score_floor
        if floor is not None and score < floor:
            score = floor
        return Scored(score, s.id)
    return None
