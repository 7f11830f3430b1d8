"""Rules config loading (CONTRACT §4): a bad config is refused whole, every error named by path."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import yaml

from rules.loader import RulesError, load_rules_file, load_rules_text
from tests.builders import ROOT, RULES_YAML, make_doc, make_rules


def _errors(snippet: str | dict[str, Any]) -> list[str]:
    with pytest.raises(RulesError) as exc:
        make_rules(snippet)
    assert exc.value.errors, "a refused config names its errors"
    return exc.value.errors


def _has(errors: list[str], path: str, *words: str) -> bool:
    """An error starts with `path: ` and mentions every word (case-insensitive)."""
    return any(
        e.startswith(f"{path}: ") and all(w.lower() in e.lower() for w in words) for e in errors
    )


def test_shipped_config_is_valid() -> None:
    rules = load_rules_file(RULES_YAML)
    cfg = rules.config
    assert cfg.profiles.interaction_score_threshold == 20
    assert cfg.profiles.lead_interaction_lookback_days == 30
    assert cfg.profiles.default_lead_status == "NEW"
    assert [s.code for s in cfg.lead_statuses] == \
        ["NEW", "CONTACTED", "QUALIFIED", "CONVERTED", "DEAD"]
    assert [s.open for s in cfg.lead_statuses] == [True, True, True, False, False]
    # CONTRACT §7: the eight seeded types at their default scores
    assert {t.code: t.default_score for t in cfg.interaction_types} == {
        "SURVEY_CALLBACK": 10, "EVENT_REGISTRATION": 3, "SURVEY_COMPLETION": 3,
        "WEB_COLLABORATION": 2, "ITEM_INQUIRY": 3, "WEB_AD_VISIT": 1, "WEB_OFFER_VISIT": 1,
        "EMAIL_CLICKTHROUGH": 1,
    }
    assert all(t.enabled for t in cfg.interaction_types)
    [seeded] = cfg.interaction_rule_sets
    assert (seeded.status, seeded.scores, seeded.precedence) == ("ACTIVE", "default", 1)


def test_unknown_type_in_scores_exact_message() -> None:
    errors = _errors("""
interaction_rule_sets:
  - {id: seeded, status: ACTIVE, precedence: 1, scores: default}
  - {id: promo, status: ACTIVE, precedence: 1, scores: {FOO: 3, SURVEY_CALLBACK: 4}}
""")
    assert errors == ["interaction_rule_sets[1].scores.FOO: unknown interaction type"]


# (name, snippet, path of the error, words in the message)
CASES: list[tuple[str, str, str, tuple[str, ...]]] = [
    ("duplicate rule-set id", """
interaction_rule_sets:
  - {id: a, status: ACTIVE, scores: default}
  - {id: a, status: ACTIVE, scores: default}
""", "interaction_rule_sets[1].id", ("duplicate",)),
    ("duplicate type code", """
interaction_types:
  - {code: X, default_score: 1}
  - {code: X, default_score: 2}
interaction_rule_sets: []
feeds: {}
""", "interaction_types[1].code", ("duplicate",)),
    ("duplicate lead status", """
lead_statuses: [{code: NEW, open: true}, {code: NEW, open: false}]
""", "lead_statuses[1].code", ("duplicate",)),
    ("bad status", """
interaction_rule_sets: [{id: a, status: LIVE, scores: default}]
""", "interaction_rule_sets[0].status", ()),
    ("start after end", """
interaction_rule_sets:
  - {id: a, status: ACTIVE, start_date: 2024-05-01, end_date: 2024-04-30, scores: default}
""", "interaction_rule_sets[0].start_date", ("end_date",)),
    ("unknown operator", """
interaction_rule_sets:
  - {id: a, status: ACTIVE, scores: default, guard: [{attribute: x, op: like, value: y}]}
""", "interaction_rule_sets[0].guard[0].op", ("like",)),
    ("gte with a string", """
interaction_rule_sets:
  - {id: a, status: ACTIVE, scores: default, guard: [{attribute: x, op: gte, value: ten}]}
""", "interaction_rule_sets[0].guard[0].value", ()),
    ("between with one value", """
interaction_rule_sets:
  - {id: a, status: ACTIVE, scores: default, guard: [{attribute: x, op: between, value: [1]}]}
""", "interaction_rule_sets[0].guard[0].value", ()),
    ("in with a scalar", """
interaction_rule_sets:
  - {id: a, status: ACTIVE, scores: default, guard: [{attribute: x, op: in, value: 5}]}
""", "interaction_rule_sets[0].guard[0].value", ()),
    ("precedence 1.5", """
interaction_rule_sets: [{id: a, status: ACTIVE, precedence: 1.5, scores: default}]
""", "interaction_rule_sets[0].precedence", ()),
    ("precedence '1'", """
interaction_rule_sets: [{id: a, status: ACTIVE, precedence: "1", scores: default}]
""", "interaction_rule_sets[0].precedence", ()),
    ("unknown default lead status", """
profiles: {default_lead_status: OPEN}
""", "profiles.default_lead_status", ("OPEN",)),
    ("feed value to unknown type", """
feeds: {web: {ad_click: NOPE}}
""", "feeds.web.ad_click", ("NOPE",)),
    ("rating then not in ratings", """
processing:
  rating: [{id: r, status: ACTIVE, rules: [{id: r1, then: Z}]}]
""", "processing.rating[0].rules[0].then", ("Z",)),
    ("channel then not in channels", """
processing:
  channel_selection: [{id: c, status: ACTIVE, rules: [{id: c1, then: PARTNER}]}]
""", "processing.channel_selection[0].rules[0].then", ("PARTNER",)),
    ("operator value type in a processing rule", """
processing:
  qualification:
    - id: q
      status: ACTIVE
      rules: [{id: q1, when: [{attribute: purchase_amount, op: gte, value: lots}], then: true}]
""", "processing.qualification[0].rules[0].when[0].value", ()),
    ("quoted impossible date", """
interaction_rule_sets: [{id: a, status: ACTIVE, start_date: "2024-13-01", scores: default}]
""", "interaction_rule_sets[0].start_date", ()),
    ("threshold not a number", """
profiles: {interaction_score_threshold: lots}
""", "profiles.interaction_score_threshold", ()),
    ("default_score not a number", """
interaction_types: [{code: SURVEY_CALLBACK, default_score: high}]
feeds: {}
""", "interaction_types[0].default_score", ()),
]


@pytest.mark.parametrize(("snippet", "path", "words"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_each_error_named_by_path(snippet: str, path: str, words: tuple[str, ...]) -> None:
    errors = _errors(snippet)
    assert _has(errors, path, *words), errors


def test_score_not_a_number_named_by_its_path() -> None:
    """CONTRACT §4: every error named by its path."""
    errors = _errors("interaction_rule_sets: [{id: a, status: ACTIVE, "
                     "scores: {SURVEY_CALLBACK: high}}]")
    assert all("function-plain" not in e and "dict[" not in e for e in errors), errors
    assert _has(errors, "interaction_rule_sets[0].scores.SURVEY_CALLBACK"), errors


def test_unquoted_impossible_date_is_refused_not_a_crash() -> None:
    """CONTRACT §4: a config that breaks this is refused as a whole, errors named by path."""
    text = RULES_YAML.read_text().replace("start_date: null", "start_date: 2024-13-01")
    with pytest.raises(RulesError):
        load_rules_text(text)


def test_unquoted_impossible_date_named_by_its_path() -> None:
    """CONTRACT §4: refused as a whole, with every error named by its path."""
    text = RULES_YAML.read_text().replace("start_date: null", "start_date: 2024-13-01")
    text = text.replace("precedence: 1", "precedence: 1.5")
    with pytest.raises(RulesError) as exc:
        load_rules_text(text)
    assert _has(exc.value.errors, "interaction_rule_sets[0].start_date"), exc.value.errors
    assert _has(exc.value.errors, "interaction_rule_sets[0].precedence"), exc.value.errors


def test_every_error_reported_at_once() -> None:
    """All of the above in one document: one error per problem, none lost."""
    errors = _errors("""
profiles: {default_lead_status: OPEN}
interaction_rule_sets:
  - {id: seeded, status: ACTIVE, precedence: 1, scores: default}
  - id: promo
    status: LIVE
    precedence: 1.5
    start_date: 2024-05-01
    end_date: 2024-04-01
    scores: {FOO: 3}
    guard:
      - {attribute: a, op: like, value: x}
      - {attribute: b, op: gte, value: ten}
      - {attribute: c, op: between, value: [1]}
      - {attribute: d, op: in, value: 5}
  - {id: promo, status: ACTIVE, precedence: "1", scores: {SURVEY_CALLBACK: 1}}
feeds: {web: {ad_click: NOPE}}
processing:
  ratings: [A, B]
  channels: [DIRECT]
  rating: [{id: r, status: ACTIVE, rules: [{id: r1, then: Z}]}]
  channel_selection: [{id: c, status: ACTIVE, rules: [{id: c1, then: PARTNER}]}]
""")
    expected = [
        ("profiles.default_lead_status", ("OPEN",)),
        ("interaction_rule_sets[1].status", ()),
        ("interaction_rule_sets[1].precedence", ()),
        ("interaction_rule_sets[1].start_date", ()),
        ("interaction_rule_sets[1].scores.FOO", ("unknown interaction type",)),
        ("interaction_rule_sets[1].guard[0].op", ()),
        ("interaction_rule_sets[1].guard[1].value", ()),
        ("interaction_rule_sets[1].guard[2].value", ()),
        ("interaction_rule_sets[1].guard[3].value", ()),
        ("interaction_rule_sets[2].id", ("duplicate",)),
        ("interaction_rule_sets[2].precedence", ()),
        ("feeds.web.ad_click", ()),
        ("processing.rating[0].rules[0].then", ()),
        ("processing.channel_selection[0].rules[0].then", ()),
    ]
    missing = [p for p, w in expected if not _has(errors, p, *w)]
    assert not missing, f"missing {missing} in {errors}"
    assert "interaction_rule_sets[1].scores.FOO: unknown interaction type" in errors
    assert len(errors) == len(set(errors)), "no error is repeated"


@pytest.mark.parametrize("snippet", [
    "interaction_rule_sets: [{id: a, status: ACTIVE, scores: {SURVEY_CALLBACK: -5}}]",
    "interaction_rule_sets: [{id: a, status: ACTIVE, scores: {SURVEY_CALLBACK: 2.5}}]",
    "interaction_rule_sets: [{id: a, status: DRAFT, scores: default}, "
    "{id: b, status: INACTIVE, scores: default}]",
    "interaction_rule_sets: [{id: a, status: ACTIVE, start_date: 2024-04-01, "
    "end_date: 2024-04-01, scores: default}]",
    "interaction_rule_sets: [{id: a, status: ACTIVE, precedence: -3, scores: default, "
    "guard: [{attribute: x, op: between, value: [1, 2]}, {attribute: y, op: is_null}, "
    "{attribute: z, op: in, value: [a, b]}, {attribute: w, op: begins_with, value: ab}]}]",
    "profiles: {default_interaction_score: 2, default_lead_status: CONTACTED}",
], ids=["negative score", "float score", "draft and inactive", "one-day range",
        "valid operators", "floor and other default status"])
def test_valid_variants_load(snippet: str) -> None:
    make_rules(snippet)


def test_not_yaml_or_not_mapping_is_refused() -> None:
    with pytest.raises(RulesError):
        load_rules_text("profiles: [unclosed")
    with pytest.raises(RulesError):
        load_rules_text("- just\n- a list\n")


def test_refused_as_a_whole_nothing_partial() -> None:
    """One bad rule set among good ones: no Rules at all."""
    doc = make_doc("""
interaction_rule_sets:
  - {id: seeded, status: ACTIVE, scores: default}
  - {id: bad, status: ACTIVE, scores: {NOT_A_TYPE: 1}}
""")
    with pytest.raises(RulesError):
        load_rules_text(yaml.safe_dump(doc))


def _app(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "app.py", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def test_cli_validate_ok() -> None:
    version = load_rules_file(RULES_YAML).version
    p = _app("rules", "validate", str(RULES_YAML))
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == f"OK {version}"


def test_cli_validate_errors_exit_1(tmp_path: Any) -> None:
    doc = make_doc("""
interaction_rule_sets:
  - {id: seeded, status: ACTIVE, scores: default}
  - {id: promo, status: ACTIVE, scores: {FOO: 3}}
""")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    p = _app("rules", "validate", str(bad))
    assert p.returncode == 1
    assert "interaction_rule_sets[1].scores.FOO: unknown interaction type" in p.stdout + p.stderr
    assert "OK" not in p.stdout
