"""`GET /territories` (CONTRACT §11): the pure view and page behind it, and the metrics'
pre-initialised series."""

from __future__ import annotations

from prometheus_client import generate_latest

from ops import metrics
from ops.web import render_territories_html, territories_view
from tests.builders import make_rules

RULES = make_rules("""
assignment:
  territories:
    - id: us
      precedence: 2
      guard: {country: [US]}
      members:
        - {resource: ANN, weight: 2, capacity: 4}
        - {resource: "<BOB>", capacity: null}
    - id: eu
      precedence: 1
      members: [{resource: CLO}]
  fallback: POOL
""")


def test_view_lists_every_member_with_load_and_leftovers() -> None:
    doc = territories_view({"us": {"ANN": 3, "GONE": 1}, "old": {"X": 2}, "empty": {}}, RULES)
    assert doc["rules_version"] == RULES.version and doc["fallback"] == "POOL"
    assert doc["territories"] == [
        {"id": "us", "precedence": 2, "members": [
            {"resource": "ANN", "weight": 2, "capacity": 4, "load": 3},
            {"resource": "<BOB>", "weight": 1, "capacity": None, "load": 0},
            # no longer a member: its leads still count until they close
            {"resource": "GONE", "weight": None, "capacity": None, "load": 1}]},
        {"id": "eu", "precedence": 1, "members": [
            {"resource": "CLO", "weight": 1, "capacity": None, "load": 0}]},
        {"id": "old", "precedence": None, "members": [
            {"resource": "X", "weight": None, "capacity": None, "load": 2}]},
    ]


def test_page_escapes_and_draws_bars() -> None:
    html = render_territories_html(territories_view({"us": {"ANN": 3}}, RULES))
    assert "&lt;BOB&gt;" in html and "<BOB>" not in html
    assert "width:75%" in html  # 3 of 4
    assert "Fallback: POOL" in html


def test_assignment_series_are_pre_initialised() -> None:
    metrics.init_assignment_labels((t.id, [m.resource for m in t.members])
                                   for t in RULES.config.assignment.territories)
    text = generate_latest(metrics.REGISTRY).decode()
    assert 'leadstream_assignments_total{result="assigned",territory="us"} 0.0' in text
    assert 'leadstream_assignments_total{result="fallback",territory="none"} 0.0' in text
    assert 'leadstream_territory_member_open_leads{member="CLO",territory="eu"} 0.0' in text
