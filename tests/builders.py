"""Test helpers: rules configs built from YAML snippets over config/rules.yaml, interaction
records as dicts, event-time stamps, and a small driver around `core.pipeline.Pipeline`.

Merging: a snippet's mappings are merged key by key into the shipped config; lists and
scalars replace what is there, and a key written `name!` replaces its mapping whole.
`profiles` can also be given as keyword arguments.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from core.pipeline import Pipeline
from models.records import Lead, Link, Outcome
from rules.compiled import Rules
from rules.loader import load_rules_doc

ROOT = Path(__file__).resolve().parent.parent
RULES_YAML = ROOT / "config" / "rules.yaml"

# Event time origin of the tests: 2024-03-01 00:00:00 UTC.
T0 = datetime(2024, 3, 1, tzinfo=UTC)
DAY = 86400


@functools.cache
def _base_text() -> str:
    return RULES_YAML.read_text(encoding="utf-8")


def base_doc() -> dict[str, Any]:
    """The shipped config as a fresh parsed document."""
    doc = yaml.safe_load(_base_text())
    assert isinstance(doc, dict)
    return doc


def merge(dst: dict[str, Any], src: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge mappings (in place); lists and scalars of `src` replace, and so does a
    mapping whose key ends with `!` (`feeds!: {}` empties the feeds)."""
    for k, v in src.items():
        if isinstance(k, str) and k.endswith("!"):
            dst[k[:-1]] = copy.deepcopy(v)
        elif isinstance(v, dict) and isinstance(dst.get(k), dict):
            merge(dst[k], v)
        else:
            dst[k] = copy.deepcopy(v)
    return dst


def make_doc(snippet: str | dict[str, Any] | None = None, **profiles: Any) -> dict[str, Any]:
    doc = base_doc()
    if snippet:
        over = yaml.safe_load(snippet) if isinstance(snippet, str) else snippet
        merge(doc, over or {})
    if profiles:
        merge(doc, {"profiles": profiles})
    return doc


def make_rules(snippet: str | dict[str, Any] | None = None, **profiles: Any) -> Rules:
    """A validated Rules from the shipped config plus `snippet` and profile overrides."""
    return load_rules_doc(make_doc(snippet, **profiles))


def ts(days: float = 0, seconds: float = 0, base: datetime = T0) -> str:
    """ISO-8601 UTC timestamp `days` + `seconds` after the test origin."""
    return (base + timedelta(days=days, seconds=seconds)).isoformat()


def interaction(iid: str, party: str = "P1", type: str = "SURVEY_CALLBACK",  # noqa: A002
                at: str | float = 0, **extra: Any) -> dict[str, Any]:
    """An interaction record; `at` is an ISO string or a number of days after T0."""
    rec: dict[str, Any] = {
        "interaction_id": iid,
        "party_id": party,
        "type": type,
        "occurred_at": at if isinstance(at, str) else ts(at),
    }
    rec.update({k: v for k, v in extra.items() if v is not None})
    return rec


def input_lead(lead_id: str, party: str = "P1", status: str = "NEW",
               created_at: str | float = 0, **extra: Any) -> dict[str, Any]:
    """A lead given as input ({lead_id, party_id, status, created_at} + optional fields)."""
    rec = {"lead_id": lead_id, "party_id": party, "status": status,
           "created_at": created_at if isinstance(created_at, str) else ts(created_at)}
    rec.update(extra)
    return rec


@dataclass
class Run:
    """Everything a pipeline emitted over a sequence of inputs."""

    pipe: Pipeline
    outcomes: list[Outcome] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    snapshots: list[Lead] = field(default_factory=list)

    @property
    def leads(self) -> dict[str, Lead]:
        return self.pipe.leads

    def outcomes_of(self, iid: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.interaction_id == iid]

    def last(self, iid: str) -> Outcome:
        """The final outcome of an interaction."""
        outs = self.outcomes_of(iid)
        assert outs, f"no outcome for {iid}"
        return outs[-1]

    def codes(self) -> dict[str, str]:
        """interaction_id -> final outcome code."""
        return {o.interaction_id: o.outcome.value for o in self.outcomes if o.interaction_id}

    def interaction_leads(self) -> list[Lead]:
        return [lead for lead in self.pipe.leads.values() if lead.origin == "INTERACTION"]

    def feed(self, *records: dict[str, Any] | str | bytes) -> Run:
        for r in records:
            em = self.pipe.interaction(r)
            self.outcomes += em.outcomes
            self.links += em.links
            self.snapshots += em.leads
        return self

    def update(self, *records: dict[str, Any]) -> Run:
        for r in records:
            em = self.pipe.lead_update(r)
            assert em.error is None, em.error
            self.snapshots += em.leads
        return self


def run(rules: Rules, *records: dict[str, Any] | str | bytes,
        leads: list[dict[str, Any]] | None = None) -> Run:
    """A fresh Pipeline; `leads` are registered first (as `simulate --leads`)."""
    r = Run(Pipeline(rules, history=True))
    r.update(*(leads or []))
    return r.feed(*records)
