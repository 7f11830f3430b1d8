"""`GET /reports/integrity` (CONTRACT §12): the link table's integrity, from the job's output
topics.

Links live only on `interaction-leads` (keyed by link id, not by party), so a worker cannot
check them against its own tables: the view reads the output topics from their beginning to
their end with a consumer of its own (no group, nothing committed) and runs the same checks as
`python app.py links check` (core/integrity.py): the last `leads` value per lead (a tombstone:
deleted), every link, the interactions that got an outcome other than REJECTED, and the import
results' `import_interface_id`s. Any worker answers for the whole job. It reads everything
each time: an audit, not a dashboard (bounded by `timeout`).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable
from typing import Any

import orjson

from core.integrity import check
from tables.engine_internals import force_metadata_update


def _client_options(settings: Any) -> dict[str, Any]:
    """aiokafka options for the worker's broker (TLS, SASL) from its settings."""
    opts: dict[str, Any] = {"bootstrap_servers": settings.bootstrap_servers()}
    context = None
    if settings.broker_ssl or settings.broker_ssl_cafile is not None:
        context = ssl.create_default_context(
            cafile=str(settings.broker_ssl_cafile) if settings.broker_ssl_cafile else None)
    if settings.broker_sasl_mechanism is not None:
        opts.update(security_protocol="SASL_SSL" if context else "SASL_PLAINTEXT",
                    sasl_mechanism=str(getattr(settings.broker_sasl_mechanism, "value",
                                               settings.broker_sasl_mechanism)),
                    sasl_plain_username=settings.broker_sasl_username,
                    sasl_plain_password=settings.broker_sasl_password)
    elif context is not None:
        opts["security_protocol"] = "SSL"
    if context is not None:
        opts["ssl_context"] = context
    return opts


async def read_topics(options: dict[str, Any], topics: Iterable[str], *,
                      idle_ms: int = 400) -> dict[str, list[tuple[bytes | None, bytes | None]]]:
    """(key, value) of every record of `topics`, in partition order, up to their ends: at least
    the ends the broker reports, then until a poll brings nothing new (some brokers report
    ends short)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    names = list(topics)
    out: dict[str, list[tuple[bytes | None, bytes | None]]] = {t: [] for t in names}
    consumer = AIOKafkaConsumer(enable_auto_commit=False, auto_offset_reset="earliest",
                                **options)
    await consumer.start()
    try:
        tps = []
        for t in names:
            for p in sorted(consumer.partitions_for_topic(t) or
                            (await _fetch_partitions(consumer, t))):
                tps.append(TopicPartition(t, p))
        if not tps:
            return out
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        while True:
            batch = await consumer.getmany(timeout_ms=idle_ms, max_records=5000)
            for tp, recs in batch.items():
                out[tp.topic].extend((r.key, r.value) for r in recs)
            if not batch and all([await consumer.position(tp) >= ends[tp] for tp in tps]):
                break
    finally:
        await consumer.stop()
    return out


async def _fetch_partitions(consumer: Any, topic: str) -> set[int]:
    await force_metadata_update(consumer)
    return set(consumer.partitions_for_topic(topic) or ())


def _json(v: bytes | None) -> Any:
    if not v:
        return None
    try:
        return orjson.loads(v)
    except orjson.JSONDecodeError:
        return None


def integrity_of(records: dict[str, list[tuple[bytes | None, bytes | None]]],
                 leads: str, links: str, outcomes: str, results: str) -> dict[str, Any]:
    """The integrity lists of the topics' records (pure: tests feed it directly)."""
    lead_docs: dict[str, dict[str, Any]] = {}
    for key, value in records.get(leads, []):
        doc = _json(value)
        lid = key.decode("utf-8", "replace") if key else (doc or {}).get("lead_id")
        if not lid:
            continue
        lead_docs[lid] = doc if isinstance(doc, dict) else {"lead_id": lid, "deleted": True}
    link_docs = [d for _, v in records.get(links, []) if isinstance(d := _json(v), dict)]
    interactions = {str(d["interaction_id"]) for _, v in records.get(outcomes, [])
                    if isinstance(d := _json(v), dict) and d.get("interaction_id") is not None
                    and d.get("outcome") != "REJECTED"}
    imports = {str(d["import_interface_id"]) for _, v in records.get(results, [])
               if isinstance(d := _json(v), dict) and d.get("import_interface_id") is not None}
    return check(lead_docs.values(), link_docs, interactions, imports)


async def integrity_report(settings: Any, names: Any, timeout: float = 60.0) -> dict[str, Any]:
    topics = [names.leads, names.interaction_leads, names.interaction_outcomes,
              names.lead_import_results]
    async with asyncio.timeout(timeout):
        records = await read_topics(_client_options(settings), topics)
    return integrity_of(records, *topics)
