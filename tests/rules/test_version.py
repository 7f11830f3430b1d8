"""`rules_version` (CONTRACT §4): first 12 hex digits of SHA-256 of the config's canonical JSON."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from typing import Any

import yaml

from rules.loader import load_rules_doc, load_rules_file, load_rules_text
from tests.builders import RULES_YAML, base_doc, make_doc


def _canonical(doc: Any) -> bytes:
    """Independent canonical form: sorted keys, no whitespace, UTF-8, dates as ISO."""
    def default(o: Any) -> str:
        if isinstance(o, date):
            return o.isoformat()
        raise TypeError(type(o))
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=default).encode()


def _reorder(o: Any) -> Any:
    """The same document with every mapping's keys in reverse order."""
    if isinstance(o, dict):
        return {k: _reorder(o[k]) for k in reversed(list(o))}
    if isinstance(o, list):
        return [_reorder(x) for x in o]
    return o


def test_version_is_12_hex_of_sha256_of_canonical_json() -> None:
    rules = load_rules_file(RULES_YAML)
    assert re.fullmatch(r"[0-9a-f]{12}", rules.version)
    expected = hashlib.sha256(_canonical(base_doc())).hexdigest()[:12]
    assert rules.version == expected


def test_version_with_dates_matches_independent_hash() -> None:
    doc = make_doc("""
interaction_rule_sets:
  - {id: seeded, status: ACTIVE, start_date: 2024-01-01, end_date: 2024-12-31, scores: default}
""")
    assert load_rules_doc(doc).version == hashlib.sha256(_canonical(doc)).hexdigest()[:12]


def test_reordered_keys_same_version() -> None:
    doc = base_doc()
    again = _reorder(doc)
    assert list(again) != list(doc)
    assert load_rules_doc(again).version == load_rules_doc(doc).version


def test_comments_and_layout_do_not_change_version() -> None:
    text = RULES_YAML.read_text()
    restyled = yaml.safe_dump(_reorder(yaml.safe_load(text)), default_flow_style=False)
    assert load_rules_text(restyled).version == load_rules_text(text).version


def test_version_changes_with_a_score() -> None:
    a = make_doc()
    b = make_doc()
    b["interaction_types"][0]["default_score"] = 11
    assert load_rules_doc(a).version != load_rules_doc(b).version


def test_version_changes_with_a_profile() -> None:
    assert (load_rules_doc(make_doc(interaction_score_threshold=21)).version
            != load_rules_doc(make_doc()).version)


def test_version_is_stable_across_loads() -> None:
    assert load_rules_file(RULES_YAML).version == load_rules_file(RULES_YAML).version
