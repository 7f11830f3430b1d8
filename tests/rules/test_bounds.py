"""Bounded configs (CONTRACT §4, issue 17 finding 1): a config over 2 MiB, whose aliases
expand past 10x its text, or with more than 10,000 rule sets and rules, is refused with a
clear error before anything else is done with it: fast, in bounded memory."""

from __future__ import annotations

import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from rules.bounds import MAX_RULES, MAX_TEXT_BYTES, rule_count
from rules.loader import RulesError, load_rules_doc, load_rules_file, load_rules_text
from tests.builders import ROOT, RULES_YAML, make_doc

BASE = RULES_YAML.read_text(encoding="utf-8")


def alias_bomb(levels: int = 9, under: str = "notes") -> str:
    """The billion-laughs shape: each level lists the previous one 9 times (9**levels)."""
    lines = [f"{under}:", '  a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels + 1):
        p = f"*a{i - 1}"
        lines.append(f"  a{i}: &a{i} [{', '.join([p] * 9)}]")
    return "\n".join(lines) + "\n"


def _errors(text: str) -> list[str]:
    with pytest.raises(RulesError) as exc:
        load_rules_text(text)
    return exc.value.errors


@pytest.mark.parametrize("under", ["notes", "processing"])
def test_alias_bomb_refused_fast_in_bounded_memory(under: str) -> None:
    """3 KB of text that would expand to ~10**9 nodes: refused in milliseconds, a few MB."""
    text = BASE.replace("processing:\n", "processing_old:\n") if under == "processing" else BASE
    text += alias_bomb(9, under)
    assert len(text) < 8000
    tracemalloc.start()
    t0 = time.monotonic()
    try:
        errors = _errors(text)
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert time.monotonic() - t0 < 1.0
    assert peak < 5 * 1024 * 1024, peak
    assert errors == ["(root): YAML aliases expand the config past 10 times its text; "
                      "write the repeated parts out instead of aliasing them"]


def test_moderate_aliases_are_fine() -> None:
    """A shared guard written once and aliased a few times stays well under 10x."""
    text = BASE.replace(
        "    guard: {}\n    scores: default\n",
        "    guard: &g {country: [US, CA]}\n    scores: default\n"
        "  - {id: two, status: ACTIVE, guard: *g, scores: default}\n"
        "  - {id: three, status: ACTIVE, guard: *g, scores: default}\n")
    rules = load_rules_text(text)
    assert [s.id for s in rules.scoring_sets] == ["seeded", "two", "three"]
    assert rules.scoring_sets[2].guard == rules.scoring_sets[0].guard


def test_recursive_alias_refused() -> None:
    errors = _errors(BASE + "notes: &loop [a, *loop]\n")
    assert errors == ["(root): a YAML alias refers to a mapping or list that contains it"]


def test_deep_nesting_refused() -> None:
    deep = "[" * 200 + "]" * 200
    errors = _errors(BASE + f"notes: {deep}\n")
    assert errors == ["(root): the config is nested more than 64 levels deep"]


def test_text_over_2_mib_refused_before_parsing(tmp_path: Path) -> None:
    padding = "#" + "x" * 1022 + "\n"  # 1 KiB
    text = BASE + padding * (MAX_TEXT_BYTES // 1024 + 1)
    errors = _errors(text)
    assert len(errors) == 1 and "more than 2.0 MiB" in errors[0], errors
    path = tmp_path / "big.yaml"
    path.write_text(text + padding * 10_000)  # ~12 MiB: refused from its size, never read
    with pytest.raises(RulesError) as exc:
        load_rules_file(path)
    assert "more than 2.0 MiB" in exc.value.errors[0]
    # just under the bound: loads
    ok = BASE + padding * ((MAX_TEXT_BYTES - len(BASE.encode())) // 1024 - 1)
    assert len(ok.encode()) <= MAX_TEXT_BYTES
    load_rules_text(ok)


def _many_sets(n: int) -> str:
    lines = [f"  - {{id: r{i}, status: DRAFT, scores: default}}\n" for i in range(n - 1)]
    anchor = "    scores: default\n"
    return BASE.replace(anchor, anchor + "".join(lines), 1)


def test_more_than_10000_rules_refused_fast() -> None:
    text = _many_sets(MAX_RULES + 1)
    t0 = time.monotonic()
    errors = _errors(text)
    assert time.monotonic() - t0 < 5.0  # the YAML parse of 450 KB; nothing is validated
    assert errors == ["(root): the config has 10,001 rule sets, rules and territories in all "
                      "(more than 10,000)"]


def test_10000_rules_load() -> None:
    rules = load_rules_text(_many_sets(MAX_RULES))
    assert len(rules.scoring_sets) == MAX_RULES


def test_rule_count_counts_rules_and_territories() -> None:
    doc = {
        "interaction_rule_sets": [{}, {}],
        "processing": {"qualification": [{"rules": [{}, {}, {}]}], "rating": [{}]},
        "assignment": {"territories": [{}, {}]},
    }
    assert rule_count(doc) == 2 + (1 + 3) + 1 + 2


def _limit_memory() -> None:  # runs in the child: 1 GiB of address space at most
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def test_cli_validate_refuses_the_bomb_fast(tmp_path: Path) -> None:
    """Issue 17: the 9-level variant passed `rules validate` (9.5 s, 2.7 GB)."""
    path = tmp_path / "bomb.yaml"
    path.write_text(BASE + alias_bomb(9))
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "app.py", "rules", "validate", str(path)], cwd=ROOT,
                       capture_output=True, text=True, timeout=60, preexec_fn=_limit_memory)
    assert time.monotonic() - t0 < 10
    assert p.returncode == 1, p.stderr
    assert "YAML aliases expand the config past 10 times its text" in p.stderr
    assert "OK" not in p.stdout


def test_yaml_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BASE + "notes: [unclosed\n")
    with pytest.raises(RulesError) as exc:
        load_rules_file(path)
    [err] = exc.value.errors
    assert str(path) in err and "<byte string>" not in err and "line" in err, err
    assert "\n" not in err


@pytest.mark.parametrize(("value", "error"), [
    ("!!binary aGk=", "the YAML tag !!binary is not allowed in a rules config"),
    ("!!set {a, b}", "the YAML tag !!set is not allowed in a rules config"),
    ("!!omap [a: 1]", "the YAML tag !!omap is not allowed in a rules config"),
    ("!!timestamp 2024-01-01T00:00:00Z", "the YAML tag !!timestamp is not allowed"),
    (".nan", "numbers must be finite"),
    ("-.inf", "numbers must be finite"),
])
def test_only_json_values(value: str, error: str) -> None:
    """The version is the hash of the config's JSON form: values JSON cannot hold (bytes,
    sets, pairs, infinities) are refused, never a crash while hashing."""
    [err] = _errors(BASE.replace("    guard: {}", f"    guard: {{x: {value}}}"))
    assert err.startswith("(root): not valid YAML: ") and error in err, err
    assert "line 33" in err


def test_document_with_a_set_is_refused_not_a_crash() -> None:
    doc = make_doc()
    doc["interaction_rule_sets"][0]["guard"] = {"x": {"a", "b"}}
    with pytest.raises(RulesError):
        load_rules_doc(doc)
