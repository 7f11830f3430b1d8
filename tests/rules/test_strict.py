"""Strict config (CONTRACT §4, issue 12): every unknown key anywhere is an error named by its
path, all errors at once, in plain words; a typo never goes live silently."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from rules.loader import RulesError, load_rules_doc, load_rules_text
from rules.schema import (
    Assignment,
    InteractionRuleSet,
    InteractionType,
    LeadStatus,
    Processing,
    ProcessingDefaults,
    ProcessingRule,
    ProcessingRuleSet,
    Profiles,
    RulesConfig,
    Territory,
    TerritoryMember,
)
from tests.builders import ROOT, make_doc
from tests.rules.test_loader import CASES

# A config that uses every section, with both forms of conditions.
FULL = """
interaction_rule_sets:
  - id: seeded
    status: ACTIVE
    precedence: 1
    guard: [{attribute: country, op: in, value: [US, CA]}]
    scores: default
processing:
  attribute_codes: {budget_status: [APPROVED, PENDING, NOT_APPROVED]}
  qualification:
    - id: q
      status: ACTIVE
      guard: {country: [US]}
      rules:
        - id: q1
          when: [{attribute: budget_status, op: eq, value: APPROVED}]
          then: true
  rating:
    - id: r
      status: ACTIVE
      rules: [{id: r1, when: {budget_status: APPROVED}, then: A}]
  channel_selection:
    - id: c
      status: ACTIVE
      rules: [{id: c1, then: DIRECT}]
assignment:
  territories:
    - id: us-direct
      precedence: 10
      guard: {country: [US], channel: [DIRECT]}
      members:
        - {resource: REP-ANN, weight: 2, capacity: 50}
        - {resource: REP-BOB}
  fallback: REP-DESK
"""


def full_doc() -> dict[str, Any]:
    return make_doc(FULL)


def test_full_config_is_valid() -> None:
    rules = load_rules_doc(full_doc())
    assert [t.id for t in rules.territories] == ["us-direct"]


def _errors(doc: dict[str, Any]) -> list[str]:
    with pytest.raises(RulesError) as exc:
        load_rules_doc(doc)
    return exc.value.errors


# (where, typo) -> the error path; `where` is a path of keys/indexes into FULL
TYPOS: list[tuple[tuple[Any, ...], str, str]] = [
    ((), "interaction_rulesets", "interaction_rulesets"),
    (("profiles",), "interaction_score_treshold", "profiles.interaction_score_treshold"),
    (("lead_statuses", 0), "opne", "lead_statuses[0].opne"),
    (("interaction_types", 2), "enabeld", "interaction_types[2].enabeld"),
    (("interaction_rule_sets", 0), "gaurd", "interaction_rule_sets[0].gaurd"),
    (("interaction_rule_sets", 0), "precednce", "interaction_rule_sets[0].precednce"),
    (("interaction_rule_sets", 0, "guard", 0), "vaule",
     "interaction_rule_sets[0].guard[0].vaule"),
    (("processing",), "qualifcation", "processing.qualifcation"),
    (("processing", "defaults"), "ratng", "processing.defaults.ratng"),
    (("processing", "qualification", 0), "rule", "processing.qualification[0].rule"),
    (("processing", "qualification", 0, "rules", 0), "wen",
     "processing.qualification[0].rules[0].wen"),
    (("processing", "qualification", 0, "rules", 0, "when", 0), "operator",
     "processing.qualification[0].rules[0].when[0].operator"),
    (("processing", "rating", 0, "rules", 0), "thn", "processing.rating[0].rules[0].thn"),
    (("assignment",), "fallbak", "assignment.fallbak"),
    (("assignment", "territories", 0), "gaurd", "assignment.territories[0].gaurd"),
    (("assignment", "territories", 0, "members", 1), "wieght",
     "assignment.territories[0].members[1].wieght"),
]


def _at(doc: Any, where: tuple[Any, ...]) -> Any:
    for part in where:
        doc = doc[part]
    return doc


@pytest.mark.parametrize(("where", "typo", "path"), TYPOS, ids=[t[2] for t in TYPOS])
def test_each_typo_refused_with_its_path(where: tuple[Any, ...], typo: str, path: str) -> None:
    doc = full_doc()
    _at(doc, where)[typo] = 1
    assert f"{path}: unknown key" in _errors(doc)


def test_all_typos_reported_at_once() -> None:
    doc = full_doc()
    for where, typo, _ in TYPOS:
        _at(doc, where)[typo] = 1
    errors = _errors(doc)
    missing = [p for _, _, p in TYPOS if f"{p}: unknown key" not in errors]
    assert not missing, errors


def test_misspelt_key_also_misses_its_required_field() -> None:
    """`defualt_score` for `default_score`: both the typo and the missing key are named."""
    doc = full_doc()
    t = doc["interaction_types"][0]
    t["defualt_score"] = t.pop("default_score")
    errors = _errors(doc)
    assert "interaction_types[0].defualt_score: unknown key" in errors
    assert "interaction_types[0].default_score: is required" in errors


def test_unknown_feed_and_unknown_type_in_scores() -> None:
    doc = full_doc()
    doc["feeds"]["webb"] = {"x": "WEB_AD_VISIT"}
    doc["interaction_rule_sets"][0]["scores"] = {"SURVEY_CALLBAK": 3}
    errors = _errors(doc)
    assert "feeds.webb: unknown feed (callcenter, web)" in errors
    assert "interaction_rule_sets[0].scores.SURVEY_CALLBAK: unknown interaction type" in errors


# -- plain wording ----------------------------------------------------------------------
PLAIN = [
    ("interaction_rule_sets: [{id: a, status: ACTIVE, precedence: 1.5, scores: default}]",
     "interaction_rule_sets[0].precedence: must be a whole number"),
    ("profiles: {match_b2b_lead_contact: 'yes'}",
     "profiles.match_b2b_lead_contact: must be true or false"),
    ("lead_statuses!: [{code: NEW}]", "lead_statuses[0].open: is required"),
    ("interaction_rule_sets: [{id: a, status: LIVE, scores: default}]",
     "interaction_rule_sets[0].status: must be one of 'DRAFT', 'ACTIVE' or 'INACTIVE'"),
    ("interaction_rule_sets: [{id: a, status: ACTIVE, scores: 5}]",
     "interaction_rule_sets[0].scores: must be 'default' or a mapping"),
    ("profiles: {lead_interaction_lookback_days: -1}",
     "profiles.lead_interaction_lookback_days: must be at least 0"),
    ("assignment: {territories: [{id: t, members: [{resource: R, weight: 0}]}]}",
     "assignment.territories[0].members[0].weight: must be greater than 0"),
    ("assignment: {territories: [{id: t, members: [{resource: R, capacity: 0}]}]}",
     "assignment.territories[0].members[0].capacity: must be at least 1"),
    ("assignment: {territories: [{id: t, members: []}]}",
     "assignment.territories[0].members: must have at least 1 item(s)"),
    ("interaction_rule_sets: [{id: a, status: ACTIVE, start_date: '2024-02-30', "
     "scores: default}]",
     "interaction_rule_sets[0].start_date: must be a date (YYYY-MM-DD)"),
    ("profiles: {guest_party_ids: GUEST}", "profiles.guest_party_ids: must be a list"),
    ("processing: {defaults: {rating: 1}}", "processing.defaults.rating: must be text"),
    ("processing: {qualification: [{id: q, status: ACTIVE, rules: "
     "[{id: q1, when: [{op: eq, value: 1}], then: true}]}]}",
     "processing.qualification[0].rules[0].when[0].attribute: is required"),
]


@pytest.mark.parametrize(("snippet", "error"), PLAIN, ids=[e.split(":")[0] for _, e in PLAIN])
def test_plain_wording(snippet: str, error: str) -> None:
    assert error in _errors(make_doc(snippet))


@pytest.mark.parametrize("snippet", [c[1] for c in CASES] + [s for s, _ in PLAIN])
def test_no_pydantic_wording_anywhere(snippet: str) -> None:
    for e in _errors(make_doc(snippet)):
        assert "Input should" not in e and "Field required" not in e, e
        assert "Extra inputs" not in e and "[str," not in e and "function-" not in e, e


# -- property: a random key anywhere in a valid config is refused -----------------------
MODELS_AT: list[tuple[tuple[Any, ...], frozenset[str]]] = []


def _fields(model: type) -> frozenset[str]:
    return frozenset(model.model_fields)  # type: ignore[attr-defined]


def _schema_mappings(doc: dict[str, Any]) -> list[tuple[tuple[Any, ...], frozenset[str]]]:
    """Every mapping of `doc` whose keys the schema fixes, with the keys it knows."""
    out: list[tuple[tuple[Any, ...], frozenset[str]]] = [((), _fields(RulesConfig))]
    cond = frozenset({"attribute", "op", "value"})

    def conditions(where: tuple[Any, ...], spec: Any) -> None:
        if isinstance(spec, list):
            out.extend(((*where, i), cond) for i in range(len(spec)))

    out.append((("profiles",), _fields(Profiles)))
    out += [(("lead_statuses", i), _fields(LeadStatus)) for i in range(len(doc["lead_statuses"]))]
    out += [(("interaction_types", i), _fields(InteractionType))
            for i in range(len(doc["interaction_types"]))]
    for i, rs in enumerate(doc["interaction_rule_sets"]):
        out.append((("interaction_rule_sets", i), _fields(InteractionRuleSet)))
        conditions(("interaction_rule_sets", i, "guard"), rs.get("guard"))
    out += [(("processing",), _fields(Processing)),
            (("processing", "defaults"), _fields(ProcessingDefaults))]
    for engine in ("qualification", "rating", "channel_selection"):
        for i, rs in enumerate(doc["processing"][engine]):
            where = ("processing", engine, i)
            out.append((where, _fields(ProcessingRuleSet)))
            conditions((*where, "guard"), rs.get("guard"))
            for j, rule in enumerate(rs["rules"]):
                out.append(((*where, "rules", j), _fields(ProcessingRule)))
                conditions((*where, "rules", j, "when"), rule.get("when"))
    out.append((("assignment",), _fields(Assignment)))
    for i, t in enumerate(doc["assignment"]["territories"]):
        out.append((("assignment", "territories", i), _fields(Territory)))
        conditions(("assignment", "territories", i, "guard"), t.get("guard"))
        out += [(("assignment", "territories", i, "members", j), _fields(TerritoryMember))
                for j in range(len(t["members"]))]
    return out


FULL_DOC = full_doc()
PLACES = _schema_mappings(FULL_DOC)


def _path(where: tuple[Any, ...], key: str) -> str:
    out = ""
    for part in (*where, key):
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out


def test_property_covers_every_section() -> None:
    assert len(PLACES) >= 25
    assert {w[0] for w, _ in PLACES if w} == {
        "profiles", "lead_statuses", "interaction_types", "interaction_rule_sets",
        "processing", "assignment"}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(place=st.sampled_from(PLACES),
       key=st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz_0123456789"), min_size=1,
                   max_size=24),
       value=st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8),
                       st.lists(st.integers(), max_size=2)))
def test_random_key_anywhere_is_refused(place: tuple[tuple[Any, ...], frozenset[str]],
                                        key: str, value: Any) -> None:
    where, known = place
    assume(key not in known)
    doc = copy.deepcopy(FULL_DOC)
    _at(doc, where)[key] = value
    assert f"{_path(where, key)}: unknown key" in _errors(doc)


def test_cli_validate_and_push_refuse_a_typo(tmp_path: Path) -> None:
    """The same loader behind `rules validate` and `rules push` (push refuses before Redis)."""
    doc = full_doc()
    doc["interaction_rule_sets"][0]["gaurd"] = {"country": ["US"]}
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(doc))
    for cmd in (["validate"], ["push"]):
        p = subprocess.run([sys.executable, "app.py", "rules", *cmd, str(path)], cwd=ROOT,
                           capture_output=True, text=True, timeout=60,
                           env={"PATH": "/usr/bin:/bin", "REDIS_URL": "redis://127.0.0.1:1/0"})
        assert p.returncode == 1, (cmd, p.stdout, p.stderr)
        assert "interaction_rule_sets[0].gaurd: unknown key" in p.stderr


# -- property: any value anywhere is an error list, never a crash ------------------------
JSON_LIKE = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
              st.text(max_size=6), st.dates()),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.one_of(st.text(max_size=6), st.integers(),
                                                      st.none(), st.booleans()),
                                            inner, max_size=3)),
    max_leaves=8)


def _all_places(doc: Any, where: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key or index path in `doc`."""
    out = [where] if where else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _all_places(v, (*where, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _all_places(v, (*where, i))
    return out


ALL_PLACES = _all_places(FULL_DOC)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(where=st.sampled_from(ALL_PLACES), value=JSON_LIKE)
def test_any_value_anywhere_is_refused_or_loaded_never_a_crash(where: tuple[Any, ...],
                                                              value: Any) -> None:
    doc = copy.deepcopy(FULL_DOC)
    _at(doc, where[:-1])[where[-1]] = value
    try:
        load_rules_doc(doc)
    except RulesError as exc:
        assert exc.errors and all(isinstance(e, str) and ": " in e for e in exc.errors)
        assert all("Input should" not in e for e in exc.errors), exc.errors


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.text(max_size=200),
                      st.text(st.sampled_from("{}[]:,-&*!|>'\" \n\tab1?#%@`"), max_size=200),
                      st.binary(max_size=100)))
def test_any_text_is_refused_or_loaded_never_a_crash(text: str | bytes) -> None:
    try:
        load_rules_text(text)
    except RulesError as exc:
        assert exc.errors and all(isinstance(e, str) for e in exc.errors)
