"""deploy/prometheus: the alert rules pass `promtool check rules` and their unit tests
(`promtool test rules`), and the Prometheus config loads them (`promtool check config`)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

PROM = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
ALERTS = {"LeadstreamWorkerDown", "LeadstreamConsumerLagGrowing", "LeadstreamDeadLettersRising",
          "LeadstreamRulesReloadFailing", "LeadstreamBatchFailStop"}


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool not found: `make tools` (Debian package prometheus); "
                    "this check must not be skipped")
    return path


def _run(*args: str, cwd: Path = PROM) -> str:
    res = subprocess.run([_promtool(), *args], cwd=cwd, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout + res.stderr


def test_alert_rules_check_and_cover_the_operators_cases() -> None:
    out = _run("check", "rules", "alerts.yml")
    assert "SUCCESS" in out
    text = (PROM / "alerts.yml").read_text()
    missing = [a for a in ALERTS if f"alert: {a}\n" not in text]
    assert not missing, missing


def test_alert_rules_unit_tests() -> None:
    assert "SUCCESS" in _run("test", "rules", "alerts_test.yml")


def test_prometheus_config_loads_the_rules(tmp_path: Path) -> None:
    config = (PROM / "prometheus.yml").read_text()
    assert "/etc/prometheus/alerts.yml" in config  # where compose mounts it
    shutil.copy(PROM / "alerts.yml", tmp_path / "alerts.yml")
    (tmp_path / "prometheus.yml").write_text(
        config.replace("/etc/prometheus/alerts.yml", str(tmp_path / "alerts.yml")))
    assert "SUCCESS" in _run("check", "config", "prometheus.yml", cwd=tmp_path)
