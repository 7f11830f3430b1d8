"""Load a rules config: parse YAML, validate it whole, compile it, or refuse it whole."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from rules.compiled import Rules, compile_rules
from rules.schema import RulesConfig
from rules.semantics import semantic_errors
from rules.version import rules_version


class RulesError(ValueError):
    """A refused config; `errors` names every problem by its path."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("invalid rules config:\n" + "\n".join(f"  {e}" for e in errors))
        self.errors = errors


def format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(root)"


def _pydantic_errors(exc: ValidationError) -> list[str]:
    errors = []
    for e in exc.errors():
        # Union branches add their type name to the loc ("int", "float", "function-after"...).
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p in _UNION_TAGS))
        errors.append(f"{format_loc(loc)}: {e['msg'].removeprefix('Value error, ')}")
    return list(dict.fromkeys(errors))


_UNION_TAGS = {
    "int", "float", "str", "bool", "literal['default']", "dict[str,union[int,float]]",
    "dict[str,any]", "list[dict[str,any]]", "function-after", "none",
}


def parse_yaml(text: str | bytes) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RulesError([f"(root): not valid YAML: {exc}"]) from exc


def load_rules_doc(doc: Any, source: str = "file") -> Rules:
    """Validate a parsed document; raise RulesError with every error, or return Rules."""
    if not isinstance(doc, dict):
        raise RulesError(["(root): the config must be a mapping"])
    errors: list[str] = []
    config: RulesConfig | None = None
    try:
        config = RulesConfig.model_validate(doc)
    except ValidationError as exc:
        errors += _pydantic_errors(exc)
    errors += [e for e in semantic_errors(doc) if e not in errors]
    if errors or config is None:
        raise RulesError(errors)
    return compile_rules(config, rules_version(doc), source)


def load_rules_text(text: str | bytes, source: str = "file") -> Rules:
    return load_rules_doc(parse_yaml(text), source)


def load_rules_file(path: str | Path) -> Rules:
    p = Path(path)
    try:
        text = p.read_bytes()
    except OSError as exc:
        raise RulesError([f"(root): cannot read {p}: {exc.strerror}"]) from exc
    return load_rules_text(text, source=f"file:{p}")
