"""The difference between two sets of leads (`rules diff`, CONTRACT §13): pure, no I/O.

Leads are matched by `lead_id` (ids derive from the input, so the same lead under both
configs has the same id; a lead made by another interaction is another lead).

Compared fields: every field of a lead snapshot except three that change whenever the
rules change, whatever the rules decide, and so would mark every lead CHANGED:
- `processing`: the audit trail (each entry carries the `rules_version` and the time of the
  run); what the engines decided is compared through `qualified`, `rating`, `channel`,
  `territory_id` and `owner`;
- `rules_version`: the config that last processed the lead, always the one being compared;
- `updated_at`: the event time of the lead's last change; moves with every re-run.
An ADDED or REMOVED line lists every compared field, `null` on the side where the lead does
not exist, so the line alone says what the lead is.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

ADDED, REMOVED, CHANGED = "ADDED", "REMOVED", "CHANGED"
IGNORED_FIELDS = frozenset({"processing", "rules_version", "updated_at"})
COMPARED_FIELDS = (
    "party_id", "contact_id", "status", "created_at", "interaction_score", "interaction_ids",
    "country", "source_code", "attributes", "origin", "import_interface_id", "batch_id",
    "qualified", "rating", "channel", "territory_id", "owner",
)
#: the decisions a reviewer looks at first, in the summary
DECISIONS = ("qualified", "rating", "channel", "owner")


def compared_fields(*leads: Mapping[str, Any]) -> list[str]:
    """COMPARED_FIELDS, then any other field the snapshots carry (a field added later is
    compared too, unless it is in IGNORED_FIELDS)."""
    extra = sorted({k for lead in leads for k in lead}
                   - set(COMPARED_FIELDS) - IGNORED_FIELDS - {"lead_id"})
    return [*COMPARED_FIELDS, *extra]


def diff_lead(before: Mapping[str, Any] | None,
              after: Mapping[str, Any] | None) -> JSON | None:
    """The diff line of one lead, or None when it is the same under both configs."""
    if before is None and after is None:
        return None
    b, a = before or {}, after or {}
    lead_id = (a or b)["lead_id"]
    names = compared_fields(b, a)
    if before is None or after is None:
        change = ADDED if before is None else REMOVED
        return {"lead_id": lead_id, "change": change,
                "fields": {n: [b.get(n), a.get(n)] for n in names}}
    fields = {n: [b.get(n), a.get(n)] for n in names if b.get(n) != a.get(n)}
    if not fields:
        return None
    return {"lead_id": lead_id, "change": CHANGED, "fields": fields}


def diff_leads(before: Mapping[str, Mapping[str, Any]],
               after: Mapping[str, Mapping[str, Any]]) -> list[JSON]:
    """One line per lead that differs, sorted by lead_id. Inputs: lead_id -> snapshot."""
    out = []
    for lead_id in sorted(set(before) | set(after)):
        line = diff_lead(before.get(lead_id), after.get(lead_id))
        if line is not None:
            out.append(line)
    return out


def _label(v: Any) -> str:
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "yes" if v else "no"
    return str(v)


@dataclass(slots=True)
class Summary:
    """What `rules diff` prints: counts a person reads in ten seconds."""

    leads_before: int
    leads_after: int
    added: int = 0
    removed: int = 0
    changed: int = 0
    #: decision field -> Counter of (before, after) labels over CHANGED leads
    transitions: dict[str, Counter[tuple[str, str]]] = field(default_factory=dict)
    #: decision field -> (Counter before, Counter after) over all leads
    totals: dict[str, tuple[Counter[str], Counter[str]]] = field(default_factory=dict)
    #: field name -> how many CHANGED leads differ on it
    fields_changed: Counter[str] = field(default_factory=Counter)
    report_before: Mapping[str, Any] = field(default_factory=dict)
    report_after: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> JSON:
        return {
            "leads": {"before": self.leads_before, "after": self.leads_after,
                      "added": self.added, "removed": self.removed, "changed": self.changed},
            "fields_changed": dict(sorted(self.fields_changed.items())),
            "decisions": {
                name: {
                    "before": dict(sorted(self.totals[name][0].items())),
                    "after": dict(sorted(self.totals[name][1].items())),
                    "changed": [{"from": f, "to": t, "leads": n}
                                for (f, t), n in _ranked(self.transitions[name])],
                } for name in DECISIONS
            },
            "report_totals": {"before": dict(self.report_before),
                              "after": dict(self.report_after)},
        }


def _ranked(c: Counter[tuple[str, str]]) -> list[tuple[tuple[str, str], int]]:
    return sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))


def summarize(before: Mapping[str, Mapping[str, Any]], after: Mapping[str, Mapping[str, Any]],
              lines: Iterable[JSON], report_before: Mapping[str, Any] | None = None,
              report_after: Mapping[str, Any] | None = None) -> Summary:
    """Counts over the diff lines and both lead sets; `report_*` are the reports' totals."""
    s = Summary(len(before), len(after), report_before=dict(report_before or {}),
                report_after=dict(report_after or {}))
    for name in DECISIONS:
        s.transitions[name] = Counter()
        s.totals[name] = (Counter(_label(v.get(name)) for v in before.values()),
                          Counter(_label(v.get(name)) for v in after.values()))
    for line in lines:
        kind = line["change"]
        if kind == ADDED:
            s.added += 1
        elif kind == REMOVED:
            s.removed += 1
        else:
            s.changed += 1
            s.fields_changed.update(line["fields"].keys())
            for name in DECISIONS:
                if name in line["fields"]:
                    f, t = line["fields"][name]
                    s.transitions[name][(_label(f), _label(t))] += 1
    return s


def _counts(before: Counter[str], after: Counter[str]) -> str:
    keys = sorted(set(before) | set(after), key=lambda k: (k == "none", k))
    parts = [f"{k} {before[k]}->{after[k]}" if before[k] != after[k] else f"{k} {before[k]}"
             for k in keys]
    return ", ".join(parts) or "-"


REPORT_KEYS = ("interactions", "scored", "linked_existing", "linked_new_lead", "leads_created",
               "pending", "expired", "no_rule", "type_disabled", "guest", "duplicate",
               "rejected")


def render(s: Summary, *, top: int = 4) -> str:
    """The summary as a few short lines."""
    out = [
        f"leads: {s.leads_before} -> {s.leads_after}   added {s.added}, removed {s.removed}, "
        f"changed {s.changed}",
    ]
    for name in DECISIONS:
        b, a = s.totals[name]
        line = f"  {name:<9} {_counts(b, a)}"
        ranked = _ranked(s.transitions[name])
        if ranked:
            moves = ", ".join(f"{f}->{t} {n}" for (f, t), n in ranked[:top])
            more = f", +{len(ranked) - top} more" if len(ranked) > top else ""
            line += f"   changed on {sum(n for _, n in ranked)} lead(s): {moves}{more}"
        out.append(line)
    others = [f for f in s.fields_changed if f not in DECISIONS]
    if others:
        out.append("  other fields changed: " + ", ".join(
            f"{f} {s.fields_changed[f]}" for f in sorted(others)))
    keys = [k for k in REPORT_KEYS if k in s.report_before or k in s.report_after]
    keys += sorted((set(s.report_before) | set(s.report_after)) - set(REPORT_KEYS))
    if keys:
        cells = []
        for k in keys:
            b, a = s.report_before.get(k, 0), s.report_after.get(k, 0)
            if not b and not a:
                continue  # zero on both sides: noise
            cells.append(f"{k} {b}->{a}" if b != a else f"{k} {b}")
        out.append("report totals: " + ", ".join(cells))
    return "\n".join(out)
