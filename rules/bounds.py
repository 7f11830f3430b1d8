"""Bounded YAML parsing of a rules config (CONTRACT §4 "Bounded").

Checked before anything else is done with a config, so no document can make a worker or
`rules validate` spend unbounded time or memory: the text size, then the size the document
would have with every YAML alias written out (measured on the composed node graph, where an
alias is one shared node: an alias bomb is measured in microseconds and never built), then
the nesting depth, and, once built, the number of rule sets and rules.
"""

from __future__ import annotations

import math
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.error import Mark
from yaml.nodes import MappingNode, Node, ScalarNode

MAX_TEXT_BYTES = 2 * 1024 * 1024
MAX_EXPANSION = 10  # the expanded document may be at most this many times its text
MAX_RULES = 10_000  # rule sets + rules + territories, in all
MAX_DEPTH = 64  # nesting levels; a real config has fewer than 10

ENGINES = ("qualification", "rating", "channel_selection")

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available


class BoundsError(ValueError):
    """A config refused before validation; the message is one plain sentence."""


class _Loader(_Base):  # type: ignore[misc]
    """Safe YAML that keeps timestamps as strings, so a bad date is named by its path."""


_Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _not_allowed(loader: Any, node: Node) -> Any:
    """A config holds JSON's types only (its version is the hash of its JSON form)."""
    tag = node.tag.replace("tag:yaml.org,2002:", "!!")
    raise ConstructorError(None, None, f"the YAML tag {tag} is not allowed in a rules config",
                           node.start_mark)


def _finite_float(loader: Any, node: ScalarNode) -> float:
    value: float = yaml.SafeLoader.construct_yaml_float(loader, node)
    if not math.isfinite(value):
        raise ConstructorError(None, None, "numbers must be finite (.inf and .nan are not "
                               "allowed)", node.start_mark)
    return value


for _tag in ("binary", "set", "omap", "pairs", "timestamp"):
    _Loader.add_constructor(f"tag:yaml.org,2002:{_tag}", _not_allowed)
_Loader.add_constructor("tag:yaml.org,2002:float", _finite_float)


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB"


def check_text_size(text: str | bytes) -> int:
    """The text's size in bytes; BoundsError past MAX_TEXT_BYTES (without copying a huge str)."""
    size = len(text)
    if isinstance(text, str) and size <= MAX_TEXT_BYTES:
        size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > MAX_TEXT_BYTES:
        raise BoundsError(too_big(size))
    return size


def too_big(size: int) -> str:
    return (f"the config is {_mib(size)} of text (more than {_mib(MAX_TEXT_BYTES)}); "
            "split it or remove unused rule sets")


def check_node_graph(root: Node, text_size: int) -> None:
    """Refuse a document whose alias expansion or nesting is past the bounds.

    Sizes (characters the node adds when written out: a scalar and its separator, two for
    brackets) and heights are memoised per node (an alias is the same node object), so this
    is linear in the composed graph however much the aliases would multiply it. A node met
    again while it is being measured is a recursive alias: infinite, refused.
    """
    limit = max(text_size, 1) * MAX_EXPANSION
    done: dict[int, tuple[int, int]] = {}  # id(node) -> (size, height)
    open_nodes: set[int] = set()
    stack: list[Node] = [root]
    while stack:
        node = stack[-1]
        key = id(node)
        if key in done:
            stack.pop()
            continue
        value = node.value
        if isinstance(node, ScalarNode):
            done[key] = (len(value) + 1, 1)
            stack.pop()
            continue
        kids: list[Node] = (
            [n for pair in value for n in pair] if isinstance(node, MappingNode) else value)
        if key not in open_nodes:
            open_nodes.add(key)
            for k in kids:
                if id(k) in open_nodes:
                    raise BoundsError("a YAML alias refers to a mapping or list that contains it")
                if id(k) not in done:
                    stack.append(k)
            continue
        stack.pop()
        open_nodes.discard(key)
        size, height = 2, 0
        for k in kids:
            ks, kh = done[id(k)]
            size += ks
            if kh > height:
                height = kh
        done[key] = (size, height + 1)
        if size > limit:
            raise BoundsError(
                f"YAML aliases expand the config past {MAX_EXPANSION} times its text; "
                "write the repeated parts out instead of aliasing them")
        if height + 1 > MAX_DEPTH:
            raise BoundsError(f"the config is nested more than {MAX_DEPTH} levels deep")


def _mark_name(exc: yaml.YAMLError, name: str) -> None:
    for attr in ("context_mark", "problem_mark"):
        mark = getattr(exc, attr, None)
        if mark is not None:  # libyaml's marks are read-only: replace them
            setattr(exc, attr, Mark(name, getattr(mark, "index", 0), mark.line, mark.column,
                                    None, 0))


def parse_bounded(text: str | bytes, name: str = "config") -> Any:
    """Parse YAML text within the bounds; BoundsError, or yaml.YAMLError naming `name`."""
    text_size = check_text_size(text)
    loader = _Loader(text)
    try:
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            check_node_graph(node, text_size)
            return loader.construct_document(node)
        except yaml.YAMLError as exc:
            _mark_name(exc, name)
            raise
        except RecursionError:
            raise BoundsError(
                f"the config is nested more than {MAX_DEPTH} levels deep") from None
    finally:
        loader.dispose()


def _count(seq: Any) -> list[Any]:
    return seq if isinstance(seq, list) else []


def rule_count(doc: Any) -> int:
    """Rule sets (interaction, processing), their rules, and territories, in all."""
    if not isinstance(doc, dict):
        return 0
    n = len(_count(doc.get("interaction_rule_sets")))
    processing = doc.get("processing")
    if isinstance(processing, dict):
        for engine in ENGINES:
            for rs in _count(processing.get(engine)):
                n += 1 + (len(_count(rs.get("rules"))) if isinstance(rs, dict) else 0)
    assignment = doc.get("assignment")
    if isinstance(assignment, dict):
        n += len(_count(assignment.get("territories")))
    return n


def check_rule_count(doc: Any) -> None:
    n = rule_count(doc)
    if n > MAX_RULES:
        raise BoundsError(f"the config has {n:,} rule sets, rules and territories in all "
                          f"(more than {MAX_RULES:,})")
