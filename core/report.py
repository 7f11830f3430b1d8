"""The Lead Linking Report (CONTRACT §12) as a pure aggregator: `initialize/agg/merge/result`.

Two halves:
- **counts**, folded from what the job decided: interaction outcomes (`agg`), import results
  (`agg_import`) and import links (`agg_link`). Counts are kept as deltas, so an interaction
  that goes PENDING -> LINKED/EXPIRED moves from one column to the other; shares from several
  workers (or partitions) add up with `merge` (every number is summed, at any depth);
- **the rest**, derived at the end by `result` from the config in force (every interaction
  rule set, with name, status and precedence) and from the final lead snapshots (`funnel`).

Choices where the contract is silent (README "Reports and integrity"):
- `by_source_code`, `by_interaction_type`, `by_day` count interactions that passed validation
  (a REJECTED record has no trustworthy type, source or time); `linked` counts interactions
  that ended LINKED (to an existing lead or into a new one); `leads_created` counts leads made
  from interactions, credited to the triggering interaction's type and UTC day and to the new
  lead's own `source_code` (the campaign the lead names). A missing value is `(none)`.
- `funnel` is computed from the final lead snapshots (leads deleted meanwhile are gone), so it
  reads as the pipeline now: `converted` counts leads whose status is marked `won: true`.
- `import_batches` counts every import result by its `batch_id` (`(none)` without one) and the
  links imports made.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from models.records import Lead, Link, Outcome, OutcomeCode

COLUMNS = ("scored", "linked_existing", "linked_new_lead", "leads_created", "pending", "expired")
OTHER = ("guest", "duplicate", "no_rule", "type_disabled", "rejected")
DIMENSIONS = ("by_source_code", "by_interaction_type", "by_day")
DIM_COLUMNS = ("interactions", "scored", "linked", "leads_created")
IMPORT_RESULTS = ("SUCCESS", "DUPLICATE", "ERROR")
NONE_KEY = "(none)"

Report = dict[str, Any]


def initialize() -> Report:
    return {
        "rule_sets": {},
        "total": {**dict.fromkeys(COLUMNS, 0), **dict.fromkeys(OTHER, 0), "interactions": 0},
        "imports": dict.fromkeys(IMPORT_RESULTS, 0),
        "by_source_code": {}, "by_interaction_type": {}, "by_day": {},
        "import_batches": {},
    }


def _bump(report: Report, rule_set_id: str | None, column: str, n: int = 1) -> None:
    report["total"][column] += n
    if rule_set_id is not None:
        row = report["rule_sets"].setdefault(rule_set_id, dict.fromkeys(COLUMNS, 0))
        row[column] += n


def utc_day(ts: str | None) -> str:
    """The UTC date of an ISO-8601 timestamp with offset; `(none)` when it cannot be read."""
    if not ts:
        return NONE_KEY
    try:
        dt = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return NONE_KEY
    if dt.tzinfo is None:
        return NONE_KEY
    return dt.astimezone(UTC).date().isoformat()


_DAYS: dict[str, str] = {}  # (local date and hour, whole-hour offset) -> UTC date


def _valid_utc_day(ts: str | None) -> str:
    """`utc_day` of a timestamp validation accepted (an outcome's `occurred_at`). With a
    whole-hour offset the UTC date depends only on the local date, the hour and the offset,
    so those key a cache: one parse per hour and offset instead of one per outcome."""
    if (ts and len(ts) >= 19 and ts[4] == "-" and ts[7] == "-" and ts[10] in "T "
            and ts[13] == ":" and ts[-6] in "+-" and ts[-3:] == ":00"):
        key = ts[:13] + ts[-6:]
        day = _DAYS.get(key)
        if day is None:
            if len(_DAYS) >= 1 << 16:
                _DAYS.clear()
            day = _DAYS[key] = utc_day(ts)
        return day
    return utc_day(ts)


def _dim(report: Report, section: str, key: str | None, column: str) -> None:
    row = report[section].setdefault(key if key else NONE_KEY, dict.fromkeys(DIM_COLUMNS, 0))
    row[column] += 1


def _rows(report: Report, o: Outcome) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """The outcome's rows of `by_source_code`, `by_interaction_type` and `by_day`."""
    by_src, by_type, by_day = (report["by_source_code"], report["by_interaction_type"],
                               report["by_day"])
    src, typ = o.source_code or NONE_KEY, o.interaction_type or NONE_KEY
    day = _valid_utc_day(o.occurred_at)
    return (by_src.get(src) or by_src.setdefault(src, dict.fromkeys(DIM_COLUMNS, 0)),
            by_type.get(typ) or by_type.setdefault(typ, dict.fromkeys(DIM_COLUMNS, 0)),
            by_day.get(day) or by_day.setdefault(day, dict.fromkeys(DIM_COLUMNS, 0)))


def agg(report: Report, outcome: Outcome) -> Report:
    """Fold one emitted outcome record into the report (mutates and returns it)."""
    code, rs = outcome.outcome, outcome.rule_set_id
    valid = code is not OutcomeCode.REJECTED
    rows = _rows(report, outcome) if valid and (
        not outcome.was_pending or code is OutcomeCode.LINKED) else None
    if outcome.was_pending:
        _bump(report, rs, "pending", -1)
    else:
        report["total"]["interactions"] += 1
        if rows is not None:
            scored = outcome.score is not None
            for row in rows:
                row["interactions"] += 1
                if scored:
                    row["scored"] += 1
            if scored:
                _bump(report, rs, "scored")
    if code is OutcomeCode.PENDING:
        _bump(report, rs, "pending")
    elif code is OutcomeCode.EXPIRED:
        _bump(report, rs, "expired")
    elif code is OutcomeCode.LINKED:
        assert rows is not None
        for row in rows:
            row["linked"] += 1
        if not outcome.created_lead:
            _bump(report, rs, "linked_existing")
        else:
            _bump(report, rs, "linked_new_lead")
            if not outcome.was_pending:
                _bump(report, rs, "leads_created")
                _dim(report, "by_source_code", outcome.lead_source_code, "leads_created")
                rows[1]["leads_created"] += 1
                rows[2]["leads_created"] += 1
    else:
        report["total"][code.value.lower()] += 1
    return report


def _batch_row(report: Report, batch_id: str | None) -> dict[str, int]:
    row: dict[str, int] = report["import_batches"].setdefault(
        batch_id if batch_id else NONE_KEY, {**dict.fromkeys(IMPORT_RESULTS, 0), "links": 0})
    return row


def agg_import(report: Report, result: str | Mapping[str, Any],
               batch_id: str | None = None) -> Report:
    """Count one import result: a result record (its `result` and `batch_id`), or a code."""
    if isinstance(result, Mapping):
        code, batch_id = str(result.get("result")), result.get("batch_id")
    else:
        code = result
    report["imports"][code] = report["imports"].get(code, 0) + 1
    row = _batch_row(report, batch_id)
    row[code] = row.get(code, 0) + 1
    return report


def agg_link(report: Report, link: Link) -> Report:
    """Count a link an import made (in its batch); links from matching are counted through
    their outcomes."""
    if link.import_interface_id is not None:
        _batch_row(report, link.batch_id)["links"] += 1
    return report


def agg_all(report: Report, outcomes: Iterable[Outcome]) -> Report:
    for o in outcomes:
        agg(report, o)
    return report


def _add(dst: dict[str, Any], src: Mapping[str, Any]) -> None:
    for k, v in src.items():
        if isinstance(v, Mapping):
            _add(dst.setdefault(k, {}), v)
        elif isinstance(v, int | float) and not isinstance(v, bool):
            dst[k] = dst.get(k, 0) + v
        else:
            dst.setdefault(k, v)


COUNT_SECTIONS = ("rule_sets", "total", "imports", *DIMENSIONS, "import_batches")


def merge(a: Mapping[str, Any], b: Mapping[str, Any]) -> Report:
    """Sum the count sections of two reports (two workers, two partitions): every number."""
    out = initialize()
    for src in (a, b):
        for section in COUNT_SECTIONS:
            _add(out[section], src.get(section) or {})
    return out


def _ordered(row: Mapping[str, Any], columns: Iterable[str]) -> dict[str, Any]:
    """A row with its known columns first, in their order, then any others."""
    cols = list(columns)
    return {**{c: row.get(c, 0) for c in cols},
            **{k: v for k, v in sorted(row.items()) if k not in cols}}


def counts_of(report: Mapping[str, Any]) -> Report:
    """Only the count sections (what `merge` sums), in a stable order: values by key, the
    columns of a row in their documented order."""
    def rows(section: str, columns: tuple[str, ...]) -> dict[str, Any]:
        return {k: _ordered(v, columns)
                for k, v in sorted((report.get(section) or {}).items())}

    return {
        "rule_sets": rows("rule_sets", COLUMNS),
        "total": _ordered(report.get("total") or {}, ("interactions", *COLUMNS, *OTHER)),
        "imports": _ordered(report.get("imports") or {}, IMPORT_RESULTS),
        **{d: rows(d, DIM_COLUMNS) for d in DIMENSIONS},
        "import_batches": rows("import_batches", (*IMPORT_RESULTS, "links")),
    }


def _sorted(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (_sorted(v) if isinstance(v, Mapping) else v) for k, v in sorted(d.items())}


# ---------------------------------------------------------------------------------------------
# What the counts do not hold: the config's rule sets and the funnel of the final leads


def _bucket(d: dict[str, int], key: Any) -> None:
    k = str(key) if key is not None else NONE_KEY
    d[k] = d.get(k, 0) + 1


def funnel(leads: Iterable[Lead | Mapping[str, Any] | None], open_statuses: Iterable[str],
           won_statuses: Iterable[str]) -> dict[str, Any]:
    """The lead funnel of the final lead snapshots (CONTRACT §12): created by origin,
    qualified, rated per rating, routed per channel, unrouted (open, no channel), assigned
    per owner, converted (status marked `won`). None entries (deleted leads) are skipped."""
    open_set, won_set = set(open_statuses), set(won_statuses)
    out: dict[str, Any] = {"leads": {}, "qualified": 0, "rated": {}, "routed": {},
                           "unrouted": 0, "assigned": {}, "converted": 0}
    for lead in leads:
        if lead is None:
            continue
        d = lead.to_json() if isinstance(lead, Lead) else lead
        _bucket(out["leads"], d.get("origin"))
        if d.get("qualified") is True:
            out["qualified"] += 1
        if d.get("rating") is not None:
            _bucket(out["rated"], d["rating"])
        if d.get("channel") is not None:
            _bucket(out["routed"], d["channel"])
        elif d.get("status") in open_set:
            out["unrouted"] += 1
        if d.get("owner") is not None:
            _bucket(out["assigned"], d["owner"])
        if d.get("status") in won_set:
            out["converted"] += 1
    for k in ("leads", "rated", "routed", "assigned"):
        out[k] = dict(sorted(out[k].items()))
    return out


def merge_funnels(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _add(out, a)
    _add(out, b)
    return {k: (_sorted(v) if isinstance(v, Mapping) else v) for k, v in out.items()}


def rule_set_rows(counts: Mapping[str, Any], rule_sets: Iterable[Any]) -> dict[str, Any]:
    """Every interaction rule set of the config in force (name, status, precedence and its
    counts, zeros when it scored nothing), then any other set that has counts (a set since
    removed from the config: name/status/precedence null). In id order."""
    rows: dict[str, Any] = {}
    for rs in rule_sets:
        status = getattr(rs, "status", None)
        rows[rs.id] = {"name": getattr(rs, "name", None),
                       "status": getattr(status, "value", status),
                       "precedence": getattr(rs, "precedence", None),
                       **dict.fromkeys(COLUMNS, 0)}
    for rs_id, row in (counts.get("rule_sets") or {}).items():
        dst = rows.setdefault(rs_id, {"name": None, "status": None, "precedence": None,
                                      **dict.fromkeys(COLUMNS, 0)})
        for c in COLUMNS:
            dst[c] = row.get(c, 0)
    return dict(sorted(rows.items()))


def result(counts: Mapping[str, Any], rules: Any = None,
           leads: Iterable[Lead | Mapping[str, Any] | None] | None = None, *,
           funnel_doc: Mapping[str, Any] | None = None) -> Report:
    """The report: `rules_version`, `rule_sets` (with the config's sets when `rules` is
    given), the count sections in stable order, `leads` and `funnel` (from `leads`, or an
    already computed `funnel_doc`)."""
    c = counts_of(counts)
    out: Report = {}
    if rules is not None:
        out["rules_version"] = rules.version
        out["rule_sets"] = rule_set_rows(c, rules.config.interaction_rule_sets)
    else:
        out["rule_sets"] = c["rule_sets"]
    for s in COUNT_SECTIONS[1:]:
        out[s] = c[s]
    if funnel_doc is None and leads is not None:
        statuses = rules.config.lead_statuses if rules is not None else []
        funnel_doc = funnel(leads, [s.code for s in statuses if s.open],
                            [s.code for s in statuses if s.won])
    if funnel_doc is not None:
        out["leads"] = sum(funnel_doc.get("leads", {}).values())
        out["funnel"] = dict(funnel_doc)
    return out
