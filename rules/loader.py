"""Load a rules config: bounded parse, strict validation, compile, or refuse it whole.

One function path for every way a config arrives (`rules validate`, `rules push`, the file
reloader, the Redis reloader, worker start-up): `load_rules_text`. In order: the bounds
(`rules.bounds`: text size, alias expansion, depth, rule count) before anything else; then
the codes upper-cased (`rules.codes`); then the schema (unknown keys are errors) and the
cross-reference checks, every error at once, named by its path in plain words.
`rules_version` hashes the document as written, only once it is known to be bounded.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from rules.bounds import MAX_TEXT_BYTES, BoundsError, check_rule_count, parse_bounded, too_big
from rules.codes import normalise_codes
from rules.compiled import Rules, compile_rules
from rules.schema import RulesConfig
from rules.semantics import semantic_errors
from rules.version import rules_version
from rules.wording import format_loc, pydantic_errors

__all__ = ["RulesError", "format_loc", "load_rules_doc", "load_rules_file", "load_rules_text",
           "parse_yaml", "validate_doc"]


class RulesError(ValueError):
    """A refused config; `errors` names every problem by its path."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("invalid rules config:\n" + "\n".join(f"  {e}" for e in errors))
        self.errors = errors


def _source_name(source: str) -> str:
    """What a YAML error calls the text: the file's path, or where it came from."""
    return source.removeprefix("file:") if source.startswith("file:") else f"rules from {source}"


def parse_yaml(text: str | bytes, name: str = "config") -> Any:
    """The parsed document, within the bounds; RulesError naming `name` otherwise."""
    try:
        return parse_bounded(text, name)
    except BoundsError as exc:
        raise RulesError([f"(root): {exc}"]) from None
    except yaml.YAMLError as exc:
        plain = " ".join(str(exc).split("\n  ")).replace("\n", "; ")
        raise RulesError([f"(root): not valid YAML: {plain}"]) from None
    except ValueError as exc:  # e.g. an impossible unquoted date such as 2024-13-01
        raise RulesError([f"(root): not valid YAML in {name}: {exc}"]) from None


def validate_doc(doc: Any) -> RulesConfig:
    """The validated config of a parsed document (codes upper-cased), or RulesError with
    every error."""
    if not isinstance(doc, dict):
        raise RulesError(["(root): the config must be a mapping"])
    try:
        check_rule_count(doc)
    except BoundsError as exc:
        raise RulesError([f"(root): {exc}"]) from None
    normalised, errors = normalise_codes(doc)
    config: RulesConfig | None = None
    try:
        config = RulesConfig.model_validate(normalised)
    except ValidationError as exc:
        errors += pydantic_errors(exc, normalised)
    reported = {e.split(": ", 1)[0] for e in errors}
    errors += [e for e in semantic_errors(normalised)
               if e not in errors and e.split(": ", 1)[0] not in reported]
    if errors or config is None:
        raise RulesError(errors)
    return config


def load_rules_doc(doc: Any, source: str = "file") -> Rules:
    """Validate a parsed document; raise RulesError with every error, or return Rules."""
    config = validate_doc(doc)
    try:
        version = rules_version(doc)
    except TypeError as exc:  # a document built in Python with a non-JSON value (a set)
        raise RulesError([f"(root): the config holds a value JSON cannot hold: {exc}"]) from None
    return compile_rules(config, version, source)


def load_rules_text(text: str | bytes, source: str = "file") -> Rules:
    return load_rules_doc(parse_yaml(text, _source_name(source)), source)


def load_rules_file(path: str | Path) -> Rules:
    p = Path(path)
    try:
        with p.open("rb") as f:  # never read a huge file whole: the bound refuses it anyway
            text = f.read(MAX_TEXT_BYTES + 1)
            size = max(len(text), os.fstat(f.fileno()).st_size)
    except OSError as exc:
        raise RulesError([f"(root): cannot read {p}: {exc.strerror}"]) from exc
    if size > MAX_TEXT_BYTES:
        raise RulesError([f"(root): {too_big(size)}"])
    return load_rules_text(text, source=f"file:{p}")
