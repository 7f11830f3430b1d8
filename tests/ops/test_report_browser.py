"""The HTML Lead Linking Report in a real browser (Debian's chromium, headless): the page the
report view serves (`render_report_html` of a simulate report, written to a file) draws the
funnel and the per-day series as pictures.

`make tools` installs chromium when it is missing and apt is available."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from offline.simulate import run_simulation
from ops.report_views import render_report_html
from rules.loader import load_rules_file
from tests.builders import ROOT

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "chromium is missing: run `make tools` (Debian package chromium)"
    return path


def _page(tmp_path: Path) -> Path:
    rules = load_rules_file(ROOT / "config/examples/vision-enterprises.yaml")
    report = run_simulation(rules, tmp_path / "out",
                            interactions=ROOT / "data/samples/interactions.jsonl",
                            imports=ROOT / "data/samples/imports.jsonl", progress=False)
    page = tmp_path / "report.html"
    page.write_text(render_report_html(report), encoding="utf-8")
    return page


def test_browser_renders_the_funnel_and_the_per_day_pictures(tmp_path: Path) -> None:
    page = _page(tmp_path)
    dom = subprocess.run(
        [chromium(), *FLAGS, "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    ).stdout
    funnel = re.search(r'<svg id="funnel".*?</svg>', dom, re.S)
    assert funnel, dom[:500]
    bars = re.findall(r'<rect [^>]*width="([\d.]+)"', funnel.group(0))
    assert len(bars) == 7 and float(bars[0]) > 100  # one bar per stage, the first the widest
    assert "Qualified" in funnel.group(0) and "Converted" in funnel.group(0)
    by_day = re.search(r'<svg id="by-day".*?</svg>', dom, re.S)
    assert by_day and len(re.findall(r"<polyline ", by_day.group(0))) == 4


def test_browser_screenshot_of_the_report(tmp_path: Path) -> None:
    page = _page(tmp_path)
    shot = tmp_path / "report.png"
    subprocess.run(
        [chromium(), *FLAGS, "--window-size=1000,1400", f"--screenshot={shot}",
         page.as_uri()],
        capture_output=True, timeout=120, cwd=tmp_path, check=True,
    )
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1000, 1400)
    assert len(data) > 20_000  # a drawn page, not a blank one
