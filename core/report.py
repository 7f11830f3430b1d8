"""The Lead Linking Report (CONTRACT §8) as a pure aggregator over outcome records.

Counts are kept as deltas so an interaction that goes PENDING -> LINKED/EXPIRED moves from
one column to the other; partial reports from several workers add up with `merge`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from models.records import Outcome, OutcomeCode

COLUMNS = ("scored", "linked_existing", "linked_new_lead", "leads_created", "pending", "expired")
OTHER = ("guest", "duplicate", "no_rule", "type_disabled", "rejected")

Report = dict[str, Any]


def initialize() -> Report:
    return {
        "rule_sets": {},
        "total": {**dict.fromkeys(COLUMNS, 0), **dict.fromkeys(OTHER, 0), "interactions": 0},
        "imports": {"SUCCESS": 0, "DUPLICATE": 0, "ERROR": 0},
    }


def _bump(report: Report, rule_set_id: str | None, column: str, n: int = 1) -> None:
    report["total"][column] += n
    if rule_set_id is not None:
        row = report["rule_sets"].setdefault(rule_set_id, dict.fromkeys(COLUMNS, 0))
        row[column] += n


def agg(report: Report, outcome: Outcome) -> Report:
    """Fold one emitted outcome record into the report (mutates and returns it)."""
    code, rs = outcome.outcome, outcome.rule_set_id
    if outcome.was_pending:
        _bump(report, rs, "pending", -1)
    else:
        report["total"]["interactions"] += 1
        if outcome.score is not None and code is not OutcomeCode.REJECTED:
            _bump(report, rs, "scored")
    if code is OutcomeCode.PENDING:
        _bump(report, rs, "pending")
    elif code is OutcomeCode.EXPIRED:
        _bump(report, rs, "expired")
    elif code is OutcomeCode.LINKED:
        if not outcome.created_lead:
            _bump(report, rs, "linked_existing")
        else:
            _bump(report, rs, "linked_new_lead")
            if not outcome.was_pending:
                _bump(report, rs, "leads_created")
    else:
        report["total"][code.value.lower()] += 1
    return report


def agg_import(report: Report, result: str) -> Report:
    report["imports"][result] = report["imports"].get(result, 0) + 1
    return report


def agg_all(report: Report, outcomes: Iterable[Outcome]) -> Report:
    for o in outcomes:
        agg(report, o)
    return report


def merge(a: Mapping[str, Any], b: Mapping[str, Any]) -> Report:
    """Sum two reports (from two workers)."""
    out = initialize()
    for src in (a, b):
        for k, v in src.get("total", {}).items():
            out["total"][k] = out["total"].get(k, 0) + v
        for k, v in src.get("imports", {}).items():
            out["imports"][k] = out["imports"].get(k, 0) + v
        for rs, row in src.get("rule_sets", {}).items():
            dst = out["rule_sets"].setdefault(rs, dict.fromkeys(COLUMNS, 0))
            for k, v in row.items():
                dst[k] = dst.get(k, 0) + v
    out["rule_sets"] = dict(sorted(out["rule_sets"].items()))
    return out


def result(report: Report) -> Report:
    """The report with rule sets in id order (stable output)."""
    return {**report, "rule_sets": dict(sorted(report["rule_sets"].items()))}
