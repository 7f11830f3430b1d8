"""Prometheus metrics (prometheus-client naming: base units, `_total` counters, `_seconds`
histograms, low-cardinality labels: never a party, lead or interaction id)."""

from __future__ import annotations

from collections.abc import Container, Iterable
from typing import Any

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

# `_created` gauges double the series count and Prometheus does not need them.
disable_created_metrics()

REGISTRY = CollectorRegistry(auto_describe=True)
# process_* (RSS, CPU, open fds, start time) and python_* (version, GC) on our registry.
for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    REGISTRY.register(_collector)

#: Decision latency buckets (seconds): a decision takes ~50 µs, so they start at 10 µs.
LATENCY_BUCKETS = (0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                   0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

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
    buckets=LATENCY_BUCKETS, registry=REGISTRY,
)
INTERACTIONS_HANDLED = Counter(
    "leadstream_interactions_handled",
    "Interactions handled, one per input interaction (outcome records are counted apart: a "
    "PENDING then LINKED interaction is one here, two in leadstream_interactions_total).",
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
ASSIGNMENTS = Counter(
    "leadstream_assignments",
    "Assignment decisions (CONTRACT §11), by territory (none: fallback or by hand) and result "
    "(assigned, fallback, unassigned, manual).", ["territory", "result"], registry=REGISTRY,
)
MEMBER_LOAD = Gauge(
    "leadstream_territory_member_open_leads",
    "Open leads a territory member holds (on the worker that owns the territory).",
    ["territory", "member"], registry=REGISTRY,
)
REBALANCES = Counter("leadstream_rebalances", "Consumer group rebalances seen.", registry=REGISTRY)
RULE_RELOADS = Counter(
    "leadstream_rule_reloads", "Rules reload attempts, by result (ok, refused, error).",
    ["result"], registry=REGISTRY,
)
RULES_INFO = Gauge(
    "leadstream_rules_info", "The rules version in force (value 1).", ["version"],
    registry=REGISTRY,
)

FUNNEL = Counter(
    "leadstream_funnel", "Leads reaching a funnel stage (created, qualified, rated, routed, "
    "assigned, converted), counted when the lead first gets there.", ["stage"],
    registry=REGISTRY,
)
LEADS_UNROUTED = Counter(
    "leadstream_leads_unrouted", "Leads that came out of processing open and without a "
    "channel (nobody will work them until a rule routes them).", registry=REGISTRY,
)
FUNNEL_STAGES = ("created", "qualified", "rated", "routed", "assigned", "converted")


def funnel_steps(old: Any, new: Any, won: Container[str]) -> list[str]:
    """The funnel stages a lead snapshot change reaches for the first time (old None: a new
    lead). Pure: `old`/`new` need `qualified`, `rating`, `channel`, `owner`, `status`."""
    steps = ["created"] if old is None else []
    if new.qualified is True and (old is None or old.qualified is not True):
        steps.append("qualified")
    for stage, name in (("rated", "rating"), ("routed", "channel"), ("assigned", "owner")):
        if getattr(new, name) is not None and (old is None or getattr(old, name) is None):
            steps.append(stage)
    if new.status in won and (old is None or old.status not in won):
        steps.append("converted")
    return steps


def count_funnel(old: Any, new: Any, open_statuses: Container[str],
                 won: Container[str]) -> None:
    """`leadstream_funnel_total{stage}` and `leadstream_leads_unrouted_total` for one lead
    snapshot change (the processing agent calls it for every lead it sends)."""
    for stage in funnel_steps(old, new, won):
        FUNNEL.labels(stage=stage).inc()
    if old is None and new.channel is None and new.status in open_statuses:
        LEADS_UNROUTED.inc()


def set_rules_version(version: str) -> None:
    """Keep exactly one `leadstream_rules_info` series, the version in force."""
    RULES_INFO.clear()
    RULES_INFO.labels(version=version).set(1)


def init_assignment_labels(territories: Iterable[tuple[str, Iterable[str]]]) -> None:
    """Pre-initialise the assignment series of the configured territories (and their
    members' load at 0 until this worker sees them), so a rate() starts from zero."""
    for result in ("fallback", "unassigned", "manual"):
        ASSIGNMENTS.labels(territory="none", result=result)
    for tid, members in territories:
        ASSIGNMENTS.labels(territory=tid, result="assigned")
        for m in members:
            MEMBER_LOAD.labels(territory=tid, member=m)


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

# ---------------------------------------------------------------- health (ops/health.py)
BROKER_UNREACHABLE = Gauge(
    "leadstream_broker_unreachable_seconds",
    "Seconds since a broker last answered this worker's probe (0 when it answers).",
    registry=REGISTRY,
)
CONSUMER_STALLED = Gauge(
    "leadstream_consumer_stalled_seconds",
    "Seconds the longest-stuck input partition with records waiting has not moved.",
    registry=REGISTRY,
)
EMBEDDED_BROKER_BYTES = Gauge(
    "leadstream_embedded_broker_bytes",
    "Resident memory of the embedded (in-memory, development) broker this worker started.",
    registry=REGISTRY,
)
PREVIOUS_STOP = Gauge(
    "leadstream_previous_stop",
    "How the previous worker on this DATA_DIR stopped (1 for that kind): clean, unclean "
    "(killed), fail_stop (a batch's results could not be sent), stop_timeout.",
    ["kind"], registry=REGISTRY,
)
STOP_KINDS = ("clean", "unclean", "fail_stop", "stop_timeout")

RULE_RELOAD_RESULTS = ("ok", "refused", "error")


def set_previous_stop(kind: str) -> None:
    for k in STOP_KINDS:
        PREVIOUS_STOP.labels(kind=k).set(1 if k == kind else 0)


def preinitialize(*, outcomes: Iterable[str], origins: Iterable[str],
                  dead_letter_reasons: Iterable[str],
                  processing: Iterable[tuple[str, str]] = ()) -> None:
    """Create every labelled counter's series at 0, so rates and alerts see them from the
    start (Prometheus: a series that appears at 1 has no increase)."""
    for o in outcomes:
        interactions_counter(o)
    for o in origins:
        LEADS_CREATED.labels(origin=o)
    for r in dead_letter_reasons:
        DEAD_LETTERS.labels(reason=r)
    for r in RULE_RELOAD_RESULTS:
        RULE_RELOADS.labels(result=r)
    for engine, result in processing:
        PROCESSING_RESULTS.labels(engine=engine, result=result)
