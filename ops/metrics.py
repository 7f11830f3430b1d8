"""Prometheus metrics (prometheus-client naming: base units, `_total` counters, `_seconds`
histograms, low-cardinality labels: never a party, lead or interaction id)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

# `_created` gauges double the series count and Prometheus does not need them.
disable_created_metrics()

REGISTRY = CollectorRegistry(auto_describe=True)

INTERACTIONS = Counter(
    "leadstream_interactions", "Interaction outcome records emitted, by outcome.",
    ["outcome"], registry=REGISTRY,
)
LEADS_CREATED = Counter(
    "leadstream_leads_created", "Leads created, by origin.", ["origin"], registry=REGISTRY,
)
LINKS = Counter("leadstream_links", "Interaction-lead link records emitted.", registry=REGISTRY)
PROCESSING_RESULTS = Counter(
    "leadstream_processing_results", "Lead processing engine runs, by engine and result.",
    ["engine", "result"], registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "leadstream_dead_letters", "Records sent to the dead-letter topic, by reason.",
    ["reason"], registry=REGISTRY,
)
DECISION_LATENCY = Histogram(
    "leadstream_decision_latency_seconds",
    "From receipt of an interaction to its outcome handed to the producer.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=REGISTRY,
)
EVENT_TIME_LAG = Gauge(
    "leadstream_event_time_lag_seconds",
    "Wall clock minus occurred_at of the last interaction processed.", registry=REGISTRY,
)
CONSUMER_LAG = Gauge(
    "leadstream_consumer_lag", "Records behind the end of each assigned input partition.",
    ["topic", "partition"], registry=REGISTRY,
)
PENDING_PARTIES = Gauge(
    "leadstream_pending_parties", "Parties with a non-empty pending window (this worker).",
    registry=REGISTRY,
)
STATE_ENTRIES = Gauge(
    "leadstream_state_entries", "Keys in each state table (this worker).", ["table"],
    registry=REGISTRY,
)
BATCH_SIZE = Histogram(
    "leadstream_batch_records", "Records per batch handled by an agent.", ["agent"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000), registry=REGISTRY,
)
PARTS_REPAIRED = Counter(
    "leadstream_parts_repaired",
    "Party parts a batch lost in a crash had written ahead of their header, set back.",
    registry=REGISTRY)
REBALANCES = Counter("leadstream_rebalances", "Consumer group rebalances seen.", registry=REGISTRY)
RULE_RELOADS = Counter(
    "leadstream_rule_reloads", "Rules reload attempts, by result (ok, refused, error).",
    ["result"], registry=REGISTRY,
)
RULES_INFO = Gauge(
    "leadstream_rules_info", "The rules version in force (value 1).", ["version"],
    registry=REGISTRY,
)


def set_rules_version(version: str) -> None:
    """Keep exactly one `leadstream_rules_info` series, the version in force."""
    RULES_INFO.clear()
    RULES_INFO.labels(version=version).set(1)


def count_outcomes(outcomes: Iterable[str]) -> None:
    for code in outcomes:
        INTERACTIONS.labels(outcome=code).inc()


_INTERACTIONS_BY_OUTCOME: dict[str, Counter] = {}


def interactions_counter(outcome: str) -> Counter:
    """`leadstream_interactions_total{outcome}`'s child, kept: `labels()` takes a lock and
    builds a key for every outcome record otherwise."""
    child = _INTERACTIONS_BY_OUTCOME.get(outcome)
    if child is None:
        child = _INTERACTIONS_BY_OUTCOME[outcome] = INTERACTIONS.labels(outcome=outcome)
    return child
