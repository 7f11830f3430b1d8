"""Topic names (CONTRACT §5) and their Faust declarations. `TOPIC_PREFIX` applies to all.

| topic | key | written by | read by |
|---|---|---|---|
| interactions | party_id | producers, feeds agents | matching |
| feed.callcenter, feed.web | any | producers | feeds agents |
| lead-updates | party_id | sales system | matching |
| lead-imports | orig_system_reference | `app.py import` | imports |
| leadstream-party-imports (internal) | party_id | imports | matching |
| leadstream-lead-events (internal) | party_id | matching, assignment | processing |
| leadstream-lead-owners (internal) | lead_id | matching | owners |
| leadstream-assignments (internal) | territory id | processing, assignment | assignment |
| leads | lead_id | processing | users |
| interaction-leads | interaction_lead_id | matching | users |
| interaction-outcomes | interaction_id | matching, feeds | users |
| lead-import-results | import_interface_id | imports, matching | users |
| dead-letters | original key | every agent | operators |

Every value is raw bytes (orjson); agents decode inside their loop so a poison record can
never stop a partition.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import faust

INTERACTIONS = "interactions"
FEED_CALLCENTER = "feed.callcenter"
FEED_WEB = "feed.web"
LEAD_UPDATES = "lead-updates"
LEAD_IMPORTS = "lead-imports"
LEADS = "leads"
INTERACTION_LEADS = "interaction-leads"
INTERACTION_OUTCOMES = "interaction-outcomes"
DEAD_LETTERS = "dead-letters"
LEAD_IMPORT_RESULTS = "lead-import-results"
LEAD_EVENTS = "leadstream-lead-events"
PARTY_IMPORTS = "leadstream-party-imports"
LEAD_OWNERS = "leadstream-lead-owners"
ASSIGNMENTS = "leadstream-assignments"


@dataclass(frozen=True, slots=True)
class TopicNames:
    """The full (prefixed) name of every topic."""

    interactions: str
    feed_callcenter: str
    feed_web: str
    lead_updates: str
    lead_imports: str
    leads: str
    interaction_leads: str
    interaction_outcomes: str
    dead_letters: str
    lead_import_results: str
    lead_events: str
    party_imports: str
    lead_owners: str
    assignments: str

    @classmethod
    def with_prefix(cls, prefix: str = "") -> TopicNames:
        return cls(
            interactions=prefix + INTERACTIONS,
            feed_callcenter=prefix + FEED_CALLCENTER,
            feed_web=prefix + FEED_WEB,
            lead_updates=prefix + LEAD_UPDATES,
            lead_imports=prefix + LEAD_IMPORTS,
            leads=prefix + LEADS,
            interaction_leads=prefix + INTERACTION_LEADS,
            interaction_outcomes=prefix + INTERACTION_OUTCOMES,
            dead_letters=prefix + DEAD_LETTERS,
            lead_import_results=prefix + LEAD_IMPORT_RESULTS,
            lead_events=prefix + LEAD_EVENTS,
            party_imports=prefix + PARTY_IMPORTS,
            lead_owners=prefix + LEAD_OWNERS,
            assignments=prefix + ASSIGNMENTS,
        )

    def all(self) -> list[str]:
        return [getattr(self, f.name) for f in fields(self)]

    def code(self, topic: str) -> str:
        """A short, stable code for a topic, used in per-party progress keys."""
        return _CODES.get(topic.removeprefix(self._prefix()), topic)

    def _prefix(self) -> str:
        return self.interactions[: -len(INTERACTIONS)]


_CODES = {
    INTERACTIONS: "i", FEED_CALLCENTER: "fc", FEED_WEB: "fw", LEAD_UPDATES: "u",
    LEAD_IMPORTS: "li", PARTY_IMPORTS: "pi", LEAD_EVENTS: "le", LEAD_OWNERS: "lo",
    ASSIGNMENTS: "as",
}


@dataclass(frozen=True, slots=True)
class Topics:
    """The Faust topic objects of one app (raw keys and values)."""

    names: TopicNames
    interactions: Any
    feed_callcenter: Any
    feed_web: Any
    lead_updates: Any
    lead_imports: Any
    party_imports: Any
    lead_events: Any
    lead_owners: Any
    assignments: Any
    matching_sources: Any  # interactions + lead-updates + party-imports, one co-partitioned set
    feed_sources: Any  # feed.callcenter + feed.web
    outputs: tuple[Any, ...]

    def every(self) -> list[Any]:
        return [self.interactions, self.feed_callcenter, self.feed_web, self.lead_updates,
                self.lead_imports, self.party_imports, self.lead_events, self.lead_owners,
                self.assignments,
                *self.outputs]


def declare_topics(app: faust.App, names: TopicNames, partitions: int,
                   replicas: int) -> Topics:
    """Faust topic objects. All are `internal=True` so Faust creates them, with `partitions`
    partitions, before the consumer joins the group: the assignor only co-partitions topics
    of equal partition count, and the matching agent needs its three inputs and its table's
    changelog co-partitioned."""

    def topic(*topic_names: str) -> Any:
        return app.topic(
            *topic_names, key_type=bytes, value_type=bytes, key_serializer="raw",
            value_serializer="raw", partitions=partitions, replicas=replicas, internal=True,
        )

    outputs = tuple(topic(n) for n in (
        names.leads, names.interaction_leads, names.interaction_outcomes, names.dead_letters,
        names.lead_import_results,
    ))
    return Topics(
        names=names,
        interactions=topic(names.interactions),
        feed_callcenter=topic(names.feed_callcenter),
        feed_web=topic(names.feed_web),
        lead_updates=topic(names.lead_updates),
        lead_imports=topic(names.lead_imports),
        party_imports=topic(names.party_imports),
        lead_events=topic(names.lead_events),
        lead_owners=topic(names.lead_owners),
        assignments=topic(names.assignments),
        matching_sources=topic(names.interactions, names.lead_updates, names.party_imports),
        feed_sources=topic(names.feed_callcenter, names.feed_web),
        outputs=outputs,
    )
