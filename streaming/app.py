"""The Faust app of the streaming job: settings -> app with topics, tables, agents and pages.

`create_app(settings, holder)` builds everything; `streaming.worker.main()` runs it. The Faust
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

from agents import feeds, imports, matching, processing
from agents.runtime import Runtime
from models.state import PartyState
from ops import metrics
from ops.rules_runtime import RulesHolder
from streaming import faust_patches
from streaming.settings import Settings
from streaming.topics import TopicNames, declare_topics
from tables.definitions import define_tables
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
        "processing_guarantee": "at_least_once",  # no transactions on the dev broker
        "web_enabled": True,
        "web_bind": settings.web_bind,
        "web_host": "127.0.0.1" if settings.web_bind in ("127.0.0.1", "localhost")
        else None,
        "web_port": settings.web_port,
        "web_tables_enabled": False,
        "web_stats_enabled": False,
        "web_graph_enabled": False,
        "web_metrics_enabled": False,
        "autodiscover": False,
    }
    if settings.producer_max_batch_size is not None:
        opts["producer_max_batch_size"] = settings.producer_max_batch_size
    if opts["web_host"] is None:
        del opts["web_host"]
    credentials = _credentials(settings)
    if credentials is not None:
        opts["broker_credentials"] = credentials
    return opts


def patch_options(settings: Settings) -> faust_patches.PatchOptions:
    """Options of the Faust patches (streaming/faust_patches.py) for these settings."""
    return faust_patches.PatchOptions(
        log_end_probe=settings.log_end_probe,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        drain_fast_path=settings.consumer_drain_fast_path,
    )


def create_app(settings: Settings, holder: RulesHolder) -> faust.App:
    faust_patches.apply(patch_options(settings))
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
    _register_pages(app, rt)
    _register_signals(app, rt)
    _install_ops(app, rt)
    from streaming import diagnostics

    diagnostics.install(app, _input_topics(rt))
    metrics.set_rules_version(holder.version)
    return app


def _register_pages(app: faust.App, rt: Runtime) -> None:
    from faust.web import View

    @app.page("/metrics")
    class MetricsView(View):
        async def get(self, request: Any, **kw: Any) -> Any:
            _update_lag(rt)
            return self.bytes(generate_latest(metrics.REGISTRY),
                              headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})

    @app.page("/healthz")
    class HealthView(View):
        async def get(self, request: Any, **kw: Any) -> Any:
            if not rt.ready:
                return self.json({"status": "starting"}, status=503)
            status = "rebalancing" if app.rebalancing else "ok"
            return self.json({"status": status, "rules_version": rt.holder.version,
                              "assigned": _assigned_inputs(rt)})


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
        for db in list(getattr(table.data, "_dbs", {}).values()):
            try:
                count += int(db.property_int_value("rocksdb.estimate-num-keys") or 0)
            except Exception:  # closed by a rebalance meanwhile
                continue
        metrics.STATE_ENTRIES.labels(table=name).set(count)
    pending = 0
    for db in list(getattr(rt.tables.parties.data, "_dbs", {}).values()):
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


def _update_lag(rt: Runtime) -> None:
    """`leadstream_consumer_lag{topic, partition}` for this worker's input partitions."""
    try:
        assigned = rt.app.consumer.assignment()
    except Exception:
        return
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
        lag = hw - (done + 1 if done is not None else 0)
        metrics.CONSUMER_LAG.labels(topic=tp.topic, partition=str(tp.partition)).set(max(lag, 0))


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


def _install_ops(app: faust.App, rt: Runtime) -> None:
    try:
        from ops.install import install
    except ImportError:
        log.info("ops.install not available: no ops pages, no rules reloading")
        return
    try:
        install(app, rt.holder, rt.settings, party_source=_party_source(rt))
    except TypeError:  # an older install() without keyword hooks
        install(app, rt.holder, rt.settings)
