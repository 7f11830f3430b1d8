"""The Faust app of the streaming job: settings -> app with topics, tables, agents and pages.

`create_app(settings, holder)` builds everything; `job.worker.main()` runs it. The Faust
configuration comes from `Settings` only (Faust's own environment lookups are switched off
with ``env={}``: its names, such as ``WEB_PORT`` or ``BROKER_URL``, would otherwise override
ours).

Pages: ``/metrics`` (Prometheus text of `ops.metrics.REGISTRY`) and ``/healthz`` (200 once the
worker has joined its group and recovered its tables, 503 before). Then, when the module
`ops.install` exists, `ops.install.install(app, holder, settings, ...)` adds the ops pages
and the rules reloader.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from typing import Any

import faust
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from agents import assignment, feeds, imports, matching, owners, processing
from agents.runtime import Runtime
from ops import metrics
from ops.health import BrokerProbe, SizeWarning, StallWatch, health, process_rss_bytes
from rules.holder import RulesHolder
from state.party import PartyState
from streaming.logs import faust_logging_config, install_repeat_filter
from streaming.settings import Settings
from streaming.topics import TopicNames, declare_topics
from tables import engine_internals
from tables.definitions import define_tables
from tables.engine_internals import committed_offset, open_partition_dbs
from tables.options import RocksOptions

log = logging.getLogger("leadstream.app")

__all__ = ["create_app", "faust_options", "patch_options"]


def _credentials(settings: Settings) -> Any:
    context = None
    if settings.broker_ssl or settings.broker_ssl_cafile is not None:
        context = ssl.create_default_context(
            purpose=ssl.Purpose.SERVER_AUTH,
            cafile=str(settings.broker_ssl_cafile) if settings.broker_ssl_cafile else None,
        )
    if settings.broker_sasl_mechanism is not None:
        return faust.SASLCredentials(
            username=settings.broker_sasl_username, password=settings.broker_sasl_password,
            mechanism=settings.broker_sasl_mechanism, ssl_context=context,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def faust_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of `faust.App` for these settings (NOTES-stack, STACK-FINDINGS)."""
    if settings.broker_url is None:
        raise ValueError("broker_url is not set (the worker starts the embedded broker first)")
    opts: dict[str, Any] = {
        "env": {},  # settings come from streaming.settings only
        "broker": settings.broker_url,
        "store": "rocksdb://",  # rocksdict driver (python-rocksdb is not installed; forced too)
        "datadir": str(settings.faust_datadir),
        "topic_partitions": settings.topic_partitions,
        "topic_replication_factor": settings.topic_replication,
        "broker_rebalance_timeout": settings.broker_rebalance_timeout,
        "broker_session_timeout": settings.broker_session_timeout,
        "broker_heartbeat_interval": settings.broker_heartbeat_interval,
        "broker_commit_interval": settings.broker_commit_interval,
        "broker_client_id": f"leadstream-{settings.worker_id}" if settings.worker_id
        else "leadstream",
        "consumer_auto_offset_reset": "earliest",
        "producer_linger": settings.producer_linger,
        "producer_acks": -1,
        # at_least_once + idempotent state by default (docs/STREAMING.md); Tansu has no
        # transactions
        "processing_guarantee": settings.processing_guarantee,
        "web_enabled": True,
        "web_bind": settings.web_bind,
        "web_host": "127.0.0.1" if settings.web_bind in ("127.0.0.1", "localhost")
        else None,
        "web_port": settings.web_port,
        "web_tables_enabled": False,
        "web_router_enabled": False,  # /router/ would list the partition assignment
        "web_stats_enabled": False,
        "web_graph_enabled": False,
        "web_metrics_enabled": False,
        "autodiscover": False,
    }
    logging_config = faust_logging_config(settings.log_format, settings.log_level)
    if logging_config is not None:
        opts["logging_config"] = logging_config
    if settings.producer_max_batch_size is not None:
        opts["producer_max_batch_size"] = settings.producer_max_batch_size
    if opts["web_host"] is None:
        del opts["web_host"]
    credentials = _credentials(settings)
    if credentials is not None:
        opts["broker_credentials"] = credentials
    return opts


def patch_options(settings: Settings) -> engine_internals.PatchOptions:
    """Options of the Faust patches (tables/engine_internals.py) for these settings."""
    return engine_internals.PatchOptions(
        log_end_probe=settings.log_end_probe,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        drain_fast_path=settings.consumer_drain_fast_path,
    )


def create_app(settings: Settings, holder: RulesHolder) -> faust.App:
    engine_internals.apply(patch_options(settings))
    if settings.processing_guarantee == "exactly_once":
        log.warning("PROCESSING_GUARANTEE=exactly_once: Faust then commits offsets without "
                    "flushing the outputs first; a hard kill can lose or reorder records "
                    "(measured: docs/STREAMING.md). Use at_least_once in production.")
    app = faust.App(settings.faust_app_id, **faust_options(settings))
    names = TopicNames.with_prefix(settings.topic_prefix)
    topics = declare_topics(app, names, settings.topic_partitions, settings.topic_replication)
    options = RocksOptions.from_settings(settings.rocksdb_block_cache_mb,
                                         settings.rocksdb_write_buffer_mb)
    tables = define_tables(app, settings.topic_partitions, options)
    rt = Runtime(app=app, settings=settings, holder=holder, topics=topics, tables=tables)
    app.leadstream = rt  # type: ignore[attr-defined]

    feeds.register(rt)
    matching.register(rt)
    processing.register(rt)
    imports.register(rt)
    owners.register(rt)
    assignment.register(rt)
    _register_pages(app, rt)
    _install_health(app, rt)
    _register_lead_view(app, rt)
    _register_signals(app, rt)
    _install_ops(app, rt)
    from streaming import diagnostics

    diagnostics.install(app, _input_topics(rt))
    metrics.set_rules_version(holder.version)
    _preinitialize_metrics(holder)
    metrics.init_assignment_labels((t.id, [m.resource for m in t.members])
                                   for t in holder.current.config.assignment.territories)
    return app


def _preinitialize_metrics(holder: RulesHolder) -> None:
    from core.processing import CHANNEL_SELECTION, QUALIFICATION, RATING
    from models.records import Origin, OutcomeCode
    from streaming.deadletter import REASON_CODES

    proc = holder.current.config.processing
    pairs = [(QUALIFICATION, "true"), (QUALIFICATION, "false")]
    pairs += [(RATING, str(r)[:32]) for r in [*proc.ratings, None] if r is not None]
    pairs += [(CHANNEL_SELECTION, str(c)[:32]) for c in proc.channels]
    pairs += [(RATING, "none"), (CHANNEL_SELECTION, "none")]
    metrics.preinitialize(outcomes=[o.value for o in OutcomeCode],
                          origins=[o.value for o in Origin], dead_letter_reasons=REASON_CODES,
                          processing=pairs)


def _register_pages(app: faust.App, rt: Runtime) -> None:
    from faust.web import View

    @app.page("/metrics")
    class MetricsView(View):
        async def get(self, request: Any, **kw: Any) -> Any:
            _update_lag(rt)
            return self.bytes(generate_latest(metrics.REGISTRY),
                              headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})

    @app.page("/reports/integrity")
    class IntegrityView(View):
        """CONTRACT §12: orphan links, unknown interactions and imports, leads without
        links, read from the output topics (ops/integrity_view.py)."""

        async def get(self, request: Any, **kw: Any) -> Any:
            from ops.integrity_view import integrity_report

            try:
                doc = await integrity_report(rt.settings, rt.topics.names)
            except Exception as exc:  # broker unreachable, timeout
                log.warning("integrity report failed: %s: %s", type(exc).__name__, exc)
                return self.json({"error": f"could not read the output topics: "
                                           f"{type(exc).__name__}"}, status=503)
            return self.json(doc)

    @app.page("/healthz")
    class HealthView(View):
        async def get(self, request: Any, **kw: Any) -> Any:
            status, doc = _health(rt)
            if status == 200:
                doc.update({"rules_version": rt.holder.version,
                            "assigned": _assigned_inputs(rt)})
            return self.json(doc, status=status)


def _health(rt: Runtime) -> tuple[int, dict[str, Any]]:
    """`/healthz` (CONTRACT §9): ops/health.py."""
    probe = getattr(rt, "broker_probe", None)
    watch: StallWatch | None = getattr(rt, "stall_watch", None)
    s = rt.settings
    stall_timeout = s.health_stall_timeout
    return health(
        ready=rt.ready, rebalancing=bool(rt.app.rebalancing),
        broker_down_s=probe.unreachable_for() if probe is not None else 0.0,
        stalled_s=watch.stalled_for() if watch is not None else 0.0,
        broker_timeout=s.health_broker_timeout, stall_timeout=stall_timeout,
        stalled=watch.stalled_partitions(stall_timeout) if watch is not None else None,
    )


def _install_health(app: faust.App, rt: Runtime) -> None:
    """The broker probe thread, the stall watch, the embedded broker's size warning."""
    s = rt.settings
    probe = BrokerProbe.from_bootstrap(
        s.bootstrap_servers(), plain=not s.broker_ssl and s.broker_sasl_mechanism is None)
    watch = StallWatch()
    rt.broker_probe = probe  # type: ignore[attr-defined]
    rt.stall_watch = watch  # type: ignore[attr-defined]

    @app.task
    async def leadstream_health_start() -> None:
        probe.start()
        install_repeat_filter()  # Faust has set up its log handlers by now

    @app.timer(1.0, name="leadstream.health")
    async def health_tick() -> None:
        metrics.BROKER_UNREACHABLE.set(probe.unreachable_for())
        if not rt.ready or app.rebalancing:
            watch.reset()
        else:
            lags = _update_lag(rt)
            watch.observe(lags, rt.positions)
        metrics.CONSUMER_STALLED.set(watch.stalled_for())

    async def on_revoked(sender: Any, revoked: Any = None, **kwargs: Any) -> None:
        watch.reset()

    app.on_partitions_revoked.connect(on_revoked)  # type: ignore[arg-type]

    pid = s.embedded_broker_pid
    if pid is not None:
        warn = SizeWarning(s.embedded_broker_warn_mb << 20)

        @app.timer(10.0, name="leadstream.embedded_broker_size")
        async def embedded_broker_size() -> None:
            size = process_rss_bytes(pid)
            if size is not None:
                metrics.EMBEDDED_BROKER_BYTES.set(size)
                warn.check(size)

    from ops.web import register_territory_views

    register_territory_views(app, rt.holder, lambda: assignment.local_territories(rt))


def _register_signals(app: faust.App, rt: Runtime) -> None:
    async def on_rebalance_complete(sender: Any, **kwargs: Any) -> None:
        if not rt.ready:
            rt.ready = True
            log.info("leadstream ready %.2fs after start: group joined, tables recovered, "
                     "rules %s", time.monotonic() - rt.started_at, rt.holder.version)

    app.on_rebalance_complete.connect(on_rebalance_complete)  # type: ignore[arg-type]

    @app.timer(10.0, name="leadstream.consumer_lag")
    async def consumer_lag() -> None:
        _update_lag(rt)

    @app.timer(30.0, name="leadstream.state_sizes")
    async def state_sizes() -> None:
        if rt.ready and not app.rebalancing:
            await _update_state_gauges(rt)


async def _update_state_gauges(rt: Runtime) -> None:
    """`leadstream_state_entries{table}` (RocksDB's own key estimate per local partition: no
    scan) and `leadstream_pending_parties` (a scan of the party headers only, which yields to
    the event loop every `_SCAN_SLICE` keys so decisions are not held up)."""
    for name, table in rt.tables.all().items():
        count = 0
        for db in open_partition_dbs(table.data).values():
            try:
                count += int(db.property_int_value("rocksdb.estimate-num-keys") or 0)
            except Exception:  # closed by a rebalance meanwhile
                continue
        metrics.STATE_ENTRIES.labels(table=name).set(count)
    pending = 0
    for db in open_partition_dbs(rt.tables.parties.data).values():
        try:
            it = db.iter()
            it.seek_to_first()
            n = 0
            while it.valid():
                if PartyState.has_pending(bytes(it.value())):
                    pending += 1
                it.next()
                n += 1
                if n % _SCAN_SLICE == 0:
                    await asyncio.sleep(0)
        except Exception:  # closed by a rebalance meanwhile: report what was counted
            break
    metrics.PENDING_PARTIES.set(pending)


_SCAN_SLICE = 2000


def _input_topics(rt: Runtime) -> set[str]:
    n = rt.topics.names
    return {n.interactions, n.lead_updates, n.party_imports, n.feed_callcenter, n.feed_web,
            n.lead_imports, n.lead_events}


def _assigned_inputs(rt: Runtime) -> dict[str, list[int]]:
    """Input partitions this worker owns, by topic (co-partitioned topics share numbers)."""
    try:
        assigned = rt.app.consumer.assignment()
    except Exception:
        return {}
    inputs = _input_topics(rt)
    out: dict[str, list[int]] = {}
    for tp in assigned:
        if tp.topic in inputs:
            out.setdefault(tp.topic, []).append(tp.partition)
    return {t: sorted(p) for t, p in sorted(out.items())}


def _update_lag(rt: Runtime) -> dict[tuple[str, int], int]:
    """`leadstream_consumer_lag{topic, partition}` for this worker's input partitions;
    returns the lags."""
    lags: dict[tuple[str, int], int] = {}
    try:
        assigned = rt.app.consumer.assignment()
    except Exception:
        return lags
    inputs = _input_topics(rt)
    metrics.CONSUMER_LAG.clear()
    for tp in assigned:
        if tp.topic not in inputs:
            continue
        try:
            hw = rt.app.consumer.highwater(tp)
        except Exception:
            continue
        if hw is None:
            continue
        done = rt.positions.get((tp.topic, tp.partition))
        if done is not None:
            nxt = done + 1
        else:  # nothing handled since start: the group's committed offset (next to read)
            committed = committed_offset(rt.app.consumer, tp)
            nxt = committed if isinstance(committed, int) else 0
        lag = max(hw - nxt, 0)
        lags[(tp.topic, tp.partition)] = lag
        metrics.CONSUMER_LAG.labels(topic=tp.topic, partition=str(tp.partition)).set(lag)
    return lags


def _party_source(rt: Runtime) -> Any:
    """`/parties/{id}` data for ops: the party's state and its leads (both local tables)."""
    import orjson

    def source(party_id: str) -> tuple[PartyState, list[Any]]:
        raw = rt.tables.parties.get(party_id.encode())
        state = PartyState.from_bytes(raw, rt.tables.party_parts.get)
        leads: list[Any] = []
        for ref in state.leads:
            stored = rt.tables.leads.get(ref.lead_id.encode())
            if stored:
                leads.append(orjson.loads(stored)["lead"])
        return state, leads

    return source


def _register_lead_view(app: faust.App, rt: Runtime) -> None:
    """`GET /leads/{lead_id}` (ops/lead_view.py) over the local `leads` and `lead-owners`."""
    import orjson

    from ops.lead_view import register_lead_view

    def stored(table: Any) -> Any:
        def get(lead_id: str) -> Any:
            raw = table.get(lead_id.encode())
            return orjson.loads(raw) if raw else None

        return get

    register_lead_view(app, rt.settings, stored(rt.tables.leads), stored(rt.tables.lead_owners),
                       owners_table=rt.tables.lead_owners.name,
                       parties_table=rt.tables.parties.name)


def _install_ops(app: faust.App, rt: Runtime) -> None:
    try:
        from ops.install import install
    except ImportError:
        log.info("ops.install not available: no ops pages, no rules reloading")
        return
    try:
        install(app, rt.holder, rt.settings, party_source=_party_source(rt),
                report_source=rt.report_share)
    except TypeError:  # an older install() without keyword hooks
        install(app, rt.holder, rt.settings)
