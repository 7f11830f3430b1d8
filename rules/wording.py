"""Pydantic's validation errors as plain sentences named by their config path.

An admin reads `interaction_rule_sets[0].precedence: must be a whole number`, never
"Input should be a valid integer" nor a union branch name such as `dict[str,any]`.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

_UNION_TAGS = {"int", "float", "str", "bool", "none"}

# pydantic error type -> sentence; `{name}` is filled from the error's ctx.
_PLAIN: dict[str, str] = {
    "extra_forbidden": "unknown key",
    "missing": "is required",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be text",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "greater_than": "must be greater than {gt}",
    "greater_than_equal": "must be at least {ge}",
    "less_than": "must be less than {lt}",
    "less_than_equal": "must be at most {le}",
    "string_too_short": "must not be empty",
    "too_short": "must have at least {min_length} item(s)",
    "too_long": "must have at most {max_length} item(s)",
    "literal_error": "must be {expected}",
    "enum": "must be one of {expected}",
    "date_type": "must be a date (YYYY-MM-DD)",
    "date_parsing": "must be a date (YYYY-MM-DD)",
    "date_from_datetime_parsing": "must be a date (YYYY-MM-DD)",
    "date_from_datetime_inexact": "must be a date (YYYY-MM-DD), without a time",
    "none_required": "must be null",
}


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


def _config_loc(loc: tuple[Any, ...], doc: Any, kind: str) -> tuple[Any, ...]:
    """The loc without union branch names, told apart by walking the document itself: a
    part that is a key (or index) of the value there is the config's, so a key that happens
    to be called `bool` or `int` keeps its place in the path."""
    out: list[Any] = []
    node: Any = doc
    for n, part in enumerate(loc):
        inside = (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node))
        if inside:
            node = node[part]
        elif n == len(loc) - 1 and kind == "missing":
            pass  # the required key itself
        elif _is_union_tag(part):
            continue
        else:
            node = None
        out.append(part)
    return tuple(out)


def plain_message(err: Any) -> str:
    """One pydantic error as a sentence an admin can act on."""
    kind = err.get("type", "")
    msg = str(err.get("msg", ""))
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    template = _PLAIN.get(kind)
    if template is not None:
        try:
            return template.format(**(err.get("ctx") or {}))
        except (KeyError, IndexError):
            pass
    # Anything not listed: keep the gist, never pydantic's "Input should be".
    return msg.replace("Input should be", "must be").replace("Input", "the value")


def pydantic_errors(exc: ValidationError, doc: Any) -> list[str]:
    """Every error of validating `doc` as `path: sentence`, union branches merged
    (`must be 'default' or a mapping`)."""
    by_path: dict[str, list[str]] = {}
    for e in exc.errors():
        loc = _config_loc(tuple(e["loc"]), doc, e.get("type", ""))
        msgs = by_path.setdefault(format_loc(loc), [])
        msg = plain_message(e)
        if msg not in msgs:
            msgs.append(msg)
    # A union reports every branch; keep the most specific: drop a path that is a strict
    # prefix of another error's path (`scores: must be 'default'` vs `scores.X: ...`).
    paths = set(by_path)
    out = []
    for p, msgs in by_path.items():
        if any(q != p and (q.startswith(p + ".") or q.startswith(p + "[")) for q in paths):
            continue
        first, *rest = msgs
        out.append(f"{p}: " + " or ".join([first, *(m.removeprefix("must be ") for m in rest)]))
    return out
