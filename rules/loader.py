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


def _is_union_tag(part: object) -> bool:
    """Union branches add their type name to the loc ("int", "dict[str,...]", "function-...")."""
    return isinstance(part, str) and (
        part in _UNION_TAGS or "[" in part or "(" in part or part.startswith("function-")
    )


def _pydantic_errors(exc: ValidationError) -> list[str]:
    found: list[tuple[str, str]] = []
    for e in exc.errors():
        loc = tuple(p for p in e["loc"] if not _is_union_tag(p))
        found.append((format_loc(loc), e["msg"].removeprefix("Value error, ")))
    # A union reports every branch; keep the most specific: drop an error whose path is a
    # strict prefix of another error's path (`scores: should be 'default'` vs `scores.X: ...`).
    paths = {p for p, _ in found}
    kept = [
        f"{p}: {m}" for p, m in found
        if not any(q != p and (q.startswith(p + ".") or q.startswith(p + "[")) for q in paths)
    ]
    return list(dict.fromkeys(kept))


_UNION_TAGS = {"int", "float", "str", "bool", "none"}


class _Loader(yaml.SafeLoader):
    """Safe YAML that keeps timestamps as strings, so a bad date is named by its path."""


_Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_yaml(text: str | bytes) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise RulesError([f"(root): not valid YAML: {exc}"]) from exc
    except ValueError as exc:  # e.g. an impossible unquoted date such as 2024-13-01
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
