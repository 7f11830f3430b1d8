"""The Lead Linking Report as HTML (tables + inline SVG pictures drawn here, no script, no CDN)
and as CSV (CONTRACT §12). Pure functions of the report document.

- HTML: the funnel (`<svg id="funnel">`, one bar per stage) and the per-day series
  (`<svg id="by-day">`, one line per column) drawn on the server, then every table.
- CSV: `table=NAME` gives that table wide (one row per key, one column per count);
  without it, every table in long form: `table,key,column,value`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from html import escape
from typing import Any

from core import report as rep

COLUMN_TITLES = {
    "scored": "Scored",
    "linked_existing": "Linked to existing leads",
    "linked_new_lead": "Linked to new leads",
    "leads_created": "Leads created",
    "pending": "Pending",
    "expired": "Expired",
    "interactions": "Interactions",
    "linked": "Linked",
}
OTHER_TITLES = {
    "interactions": "Interactions",
    "guest": "Guest",
    "duplicate": "Duplicate",
    "no_rule": "No rule set",
    "type_disabled": "Type disabled",
    "rejected": "Rejected",
}
SECTION_TITLES = {
    "by_source_code": "By source code",
    "by_interaction_type": "By interaction type",
    "by_day": "By day (UTC date of occurred_at)",
    "import_batches": "Import batches",
}
SERIES_COLORS = {"interactions": "#4e79a7", "scored": "#59a14f", "linked": "#f28e2b",
                 "leads_created": "#e15759"}

SVG_NS = "http://www.w3.org/2000/svg"
_STYLE = (
    "body{font-family:sans-serif;margin:1.5em;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0 1.5em}"
    "th,td{border:1px solid #bbb;padding:.3em .7em}td{text-align:right}"
    "th[scope=row]{text-align:left}tr.total{font-weight:bold;background:#eee}"
    "svg{display:block;margin:.5em 0 1.5em;background:#fafafa;border:1px solid #ddd}"
    "svg text{font-family:sans-serif;font-size:12px}"
)


def _cell(v: Any) -> str:
    return f"<td>{escape('' if v is None else str(v))}</td>"


def _num(v: Any) -> float:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else 0.0


def funnel_stages(report: Mapping[str, Any]) -> list[tuple[str, int]]:
    """(stage title, count) in pipeline order, from the report's `funnel`."""
    f = report.get("funnel") or {}

    def total(k: str) -> int:
        v = f.get(k)
        return int(sum(_num(x) for x in v.values())) if isinstance(v, Mapping) else int(_num(v))

    return [("Leads", total("leads")), ("Qualified", total("qualified")),
            ("Rated", total("rated")), ("Routed", total("routed")),
            ("Assigned", total("assigned")), ("Converted", total("converted")),
            ("Unrouted (open, no channel)", total("unrouted"))]


def funnel_svg(report: Mapping[str, Any]) -> str:
    """One horizontal bar per funnel stage, widths relative to the created leads."""
    stages = funnel_stages(report)
    top = max([n for _, n in stages] + [1])
    label_w, bar_w, row_h = 200, 420, 28
    height = row_h * len(stages) + 16
    out = [f"<svg id='funnel' role='img' aria-label='Lead funnel' xmlns='{SVG_NS}' "
           f"width='{label_w + bar_w + 80}' height='{height}'><title>Lead funnel</title>"]
    for i, (title, n) in enumerate(stages):
        y = 8 + i * row_h
        w = max(1.0, bar_w * n / top) if n else 0.0
        color = "#bbb" if title.startswith("Unrouted") else "#4e79a7"
        out.append(
            f"<g class='stage'><text x='{label_w - 8}' y='{y + 17}' text-anchor='end'>"
            f"{escape(title)}</text><rect x='{label_w}' y='{y}' width='{w:.1f}' "
            f"height='{row_h - 6}' fill='{color}'><title>{escape(title)}: {n}</title></rect>"
            f"<text x='{label_w + w + 6:.1f}' y='{y + 17}'>{n}</text></g>")
    out.append("</svg>")
    return "".join(out)


def by_day_svg(report: Mapping[str, Any]) -> str:
    """The per-day series (interactions, scored, linked, leads created) as lines with points."""
    days = report.get("by_day") or {}
    keys = sorted(k for k in days if k != rep.NONE_KEY)
    width, height, left, bottom, top_pad = 720, 260, 50, 40, 30
    plot_w, plot_h = width - left - 20, height - bottom - top_pad
    out = [f"<svg id='by-day' role='img' aria-label='Interactions per day' "
           f"xmlns='{SVG_NS}' width='{width}' height='{height}'>"
           "<title>Interactions per day</title>"]
    if not keys:
        out.append(f"<text x='{left}' y='{top_pad + 20}'>no interactions yet</text></svg>")
        return "".join(out)
    peak = max([_num(days[k].get(c)) for k in keys for c in rep.DIM_COLUMNS] + [1.0])
    step = plot_w / max(len(keys) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return left + i * step, top_pad + plot_h - plot_h * v / peak

    out.append(f"<line x1='{left}' y1='{top_pad + plot_h}' x2='{left + plot_w}' "
               f"y2='{top_pad + plot_h}' stroke='#888'/>")
    out.append(f"<line x1='{left}' y1='{top_pad}' x2='{left}' y2='{top_pad + plot_h}' "
               "stroke='#888'/>")
    out.append(f"<text x='{left - 6}' y='{top_pad + 4}' text-anchor='end'>{int(peak)}</text>")
    out.append(f"<text x='{left - 6}' y='{top_pad + plot_h}' text-anchor='end'>0</text>")
    for i in sorted({0, len(keys) - 1, len(keys) // 2}):
        x, _ = xy(i, 0)
        anchor = "start" if i == 0 else "end" if i == len(keys) - 1 else "middle"
        out.append(f"<text x='{x:.1f}' y='{height - 12}' text-anchor='{anchor}'>"
                   f"{escape(keys[i])}</text>")
    for j, col in enumerate(rep.DIM_COLUMNS):
        color = SERIES_COLORS[col]
        pts = [xy(i, _num(days[k].get(col))) for i, k in enumerate(keys)]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
        out.append(f"<g class='series' data-column='{col}'><polyline points='{path}' "
                   f"fill='none' stroke='{color}' stroke-width='2'/>")
        out += [f"<circle cx='{x:.1f}' cy='{y:.1f}' r='2.5' fill='{color}'><title>"
                f"{escape(k)} {escape(col)}: {int(_num(days[k].get(col)))}</title></circle>"
                for (x, y), k in zip(pts, keys, strict=True)]
        out.append(f"<rect x='{left + 10 + j * 150}' y='8' width='12' height='12' "
                   f"fill='{color}'/><text x='{left + 26 + j * 150}' y='18'>"
                   f"{escape(COLUMN_TITLES.get(col, col))}</text></g>")
    out.append("</svg>")
    return "".join(out)


def _table(title: str, rows: Mapping[str, Mapping[str, Any]], cols: Iterable[str],
           key_title: str) -> list[str]:
    cols = list(cols)
    out = [f"<h2>{escape(title)}</h2><table><thead><tr><th scope='col'>"
           f"{escape(key_title)}</th>",
           *(f"<th scope='col'>{escape(COLUMN_TITLES.get(c, c))}</th>" for c in cols),
           "</tr></thead><tbody>"]
    for key, row in rows.items():
        out.append(f"<tr><th scope='row'>{escape(str(key))}</th>")
        out += [_cell(row.get(c, 0)) for c in cols]
        out.append("</tr>")
    out.append("</tbody></table>")
    return out


def _pairs(title: str, items: Mapping[str, Any]) -> list[str]:
    out = [f"<h2>{escape(title)}</h2><table><tbody>"]
    for k, v in items.items():
        out.append(f"<tr><th scope='row'>{escape(str(k))}</th>{_cell(v)}</tr>")
    out.append("</tbody></table>")
    return out


def render_report_html(report: Mapping[str, Any]) -> str:
    """The Lead Linking Report as a standalone HTML page (every value escaped)."""
    cols = list(rep.COLUMNS)
    total = report.get("total", {})
    version = report.get("rules_version")
    out = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        "<title>Lead Linking Report</title>", f"<style>{_STYLE}</style></head><body>",
        "<h1>Lead Linking Report</h1>",
    ]
    if version:
        out.append(f"<p>Rules version {escape(str(version))}; "
                   f"{escape(str(report.get('leads', 0)))} leads.</p>")
    out.append("<h2>Funnel</h2>")
    out.append(funnel_svg(report))
    out.append("<h2>Per day</h2>")
    out.append(by_day_svg(report))

    out.append("<h2>Rule sets</h2><table><thead><tr><th scope='col'>Rule set</th>"
               "<th scope='col'>Name</th><th scope='col'>Status</th>"
               "<th scope='col'>Precedence</th>")
    out += [f"<th scope='col'>{escape(COLUMN_TITLES.get(c, c))}</th>" for c in cols]
    out.append("</tr></thead><tbody>")
    for rs, row in (report.get("rule_sets") or {}).items():
        out.append(f"<tr><th scope='row'>{escape(str(rs))}</th>")
        out += [f"<td style='text-align:left'>{escape(str(row.get(k) or ''))}</td>"
                for k in ("name", "status", "precedence")]
        out += [_cell(row.get(c, 0)) for c in cols]
        out.append("</tr>")
    out.append("<tr class='total'><th scope='row'>Total</th><td></td><td></td><td></td>")
    out += [_cell(total.get(c, 0)) for c in cols]
    out.append("</tr></tbody></table>")

    others = [k for k in OTHER_TITLES if k in total]
    others += [k for k in total if k not in OTHER_TITLES and k not in cols]
    out += _pairs("Other outcomes", {OTHER_TITLES.get(k, k): total[k] for k in others})
    if report.get("imports"):
        out += _pairs("Lead imports", report["imports"])
    for section in rep.DIMENSIONS:
        out += _table(SECTION_TITLES[section], report.get(section) or {}, rep.DIM_COLUMNS,
                      section.removeprefix("by_").replace("_", " "))
    out += _table(SECTION_TITLES["import_batches"], report.get("import_batches") or {},
                  (*rep.IMPORT_RESULTS, "links"), "batch_id")
    funnel = report.get("funnel")
    if isinstance(funnel, Mapping):
        flat = {}
        for k, v in funnel.items():
            if isinstance(v, Mapping):
                flat.update({f"{k}: {kk}": vv for kk, vv in v.items()})
            else:
                flat[k] = v
        out += _pairs("Funnel (final leads)", flat)

    workers = report.get("workers")
    if isinstance(workers, Mapping):
        answered = ", ".join(escape(str(w)) for w in workers.get("answered", [])) or "none"
        out.append(f"<p>Workers counted: {answered}.</p>")
        failed = workers.get("failed") or {}
        if failed:
            items = "".join(f"<li>{escape(str(w))}: {escape(str(e))}</li>"
                            for w, e in failed.items())
            out.append(f"<p><strong>Partial report</strong>, not counted:</p><ul>{items}</ul>")
    if report.get("since"):
        out.append(f"<p>Counts since {escape(str(report['since']))}.</p>")
    out.append("</body></html>")
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# CSV

CSV_TABLES = ("rule_sets", "total", "imports", *rep.DIMENSIONS, "import_batches", "funnel")


def _wide_rows(report: Mapping[str, Any], table: str) -> tuple[list[str], list[list[Any]]]:
    v = report.get(table) or {}
    if table == "funnel":
        rows = []
        for k, x in v.items():
            if isinstance(x, Mapping):
                rows += [[k, kk, vv] for kk, vv in x.items()]
            else:
                rows.append([k, "", x])
        return ["stage", "key", "count"], rows
    if table in ("total", "imports"):
        return ["column", "count"], [[k, x] for k, x in v.items()]
    cols: list[str] = []
    for row in v.values():
        cols += [c for c in row if c not in cols]
    key = {"rule_sets": "rule_set_id", "import_batches": "batch_id"}.get(table, table[3:])
    return [key, *cols], [[k, *(row.get(c) for c in cols)] for k, row in v.items()]


def render_report_csv(report: Mapping[str, Any], table: str | None = None) -> str:
    """One table wide (`table`), or every table long (`table,key,column,value`).
    Raises KeyError for an unknown table name."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    if table is not None:
        if table not in CSV_TABLES:
            raise KeyError(table)
        header, rows = _wide_rows(report, table)
        w.writerow(header)
        w.writerows(rows)
        return buf.getvalue()
    w.writerow(["table", "key", "column", "value"])
    for name in CSV_TABLES:
        header, rows = _wide_rows(report, name)
        for row in rows:
            if name == "funnel":
                w.writerow([name, row[1], row[0], row[2]])
            elif name in ("total", "imports"):
                w.writerow([name, "", row[0], row[1]])
            else:
                for col, val in zip(header[1:], row[1:], strict=True):
                    w.writerow([name, row[0], col, "" if val is None else val])
    return buf.getvalue()
