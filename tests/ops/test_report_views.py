"""HTML and CSV forms of the Lead Linking Report (ops/report_views.py)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from offline.simulate import run_simulation
from ops.report_views import funnel_stages, render_report_csv, render_report_html
from rules.loader import load_rules_file
from tests.builders import ROOT


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    rules = load_rules_file(ROOT / "config/examples/vision-enterprises.yaml")
    return run_simulation(rules, tmp_path_factory.mktemp("sim"),
                          interactions=ROOT / "data/samples/interactions.jsonl",
                          imports=ROOT / "data/samples/imports.jsonl", progress=False)


def test_html_has_both_pictures_and_every_section(report: dict) -> None:
    page = render_report_html(report)
    assert page.count("<svg ") == 2 and "id='funnel'" in page and "id='by-day'" in page
    for title in ("Rule sets", "By source code", "By interaction type", "By day",
                  "Import batches", "Funnel (final leads)", "Lead imports"):
        assert f"<h2>{title}" in page, title
    assert "https://" not in page and "<script" not in page  # nothing fetched from elsewhere


def test_html_escapes_values() -> None:
    page = render_report_html({"by_source_code": {"<b>x</b>": {"interactions": 1}},
                               "by_day": {"2026-01-01": {"interactions": 1}}})
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page


def test_funnel_stages_follow_the_report(report: dict) -> None:
    stages = dict(funnel_stages(report))
    f = report["funnel"]
    assert stages["Leads"] == report["leads"] == sum(f["leads"].values())
    assert stages["Rated"] == sum(f["rated"].values())
    assert stages["Unrouted (open, no channel)"] == f["unrouted"]


def test_csv_one_table_wide(report: dict) -> None:
    rows = list(csv.reader(io.StringIO(render_report_csv(report, "by_day"))))
    assert rows[0] == ["day", "interactions", "scored", "linked", "leads_created"]
    assert [r[0] for r in rows[1:]] == sorted(report["by_day"])
    assert sum(int(r[1]) for r in rows[1:]) == sum(
        v["interactions"] for v in report["by_day"].values())
    batches = list(csv.DictReader(io.StringIO(render_report_csv(report, "import_batches"))))
    assert {b["batch_id"] for b in batches} == set(report["import_batches"])
    with pytest.raises(KeyError):
        render_report_csv(report, "nope")


def test_csv_every_table_long(report: dict, tmp_path: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(render_report_csv(report))))
    assert {r["table"] for r in rows} == {"rule_sets", "total", "imports", "by_source_code",
                                          "by_interaction_type", "by_day", "import_batches",
                                          "funnel"}
    total = {r["column"]: int(r["value"]) for r in rows if r["table"] == "total"}
    assert total == report["total"]
    rated = {r["key"]: int(r["value"]) for r in rows
             if r["table"] == "funnel" and r["column"] == "rated"}
    assert rated == report["funnel"]["rated"]


def test_funnel_metrics_count_each_stage_once() -> None:
    from types import SimpleNamespace as L

    from ops import metrics

    def val(name: str, **labels: str) -> float:
        return metrics.REGISTRY.get_sample_value(name, labels) or 0.0

    before = {s: val("leadstream_funnel_total", stage=s) for s in metrics.FUNNEL_STAGES}
    unrouted = val("leadstream_leads_unrouted_total")
    new = L(qualified=True, rating="A", channel=None, owner=None, status="NEW")
    metrics.count_funnel(None, new, {"NEW"}, {"WON"})
    routed = L(qualified=True, rating="A", channel="DIRECT", owner="REP", status="WON")
    metrics.count_funnel(new, routed, {"NEW"}, {"WON"})
    metrics.count_funnel(routed, routed, {"NEW"}, {"WON"})  # nothing new
    after = {s: val("leadstream_funnel_total", stage=s) - before[s]
             for s in metrics.FUNNEL_STAGES}
    assert after == dict.fromkeys(metrics.FUNNEL_STAGES, 1.0)
    assert val("leadstream_leads_unrouted_total") - unrouted == 1.0
