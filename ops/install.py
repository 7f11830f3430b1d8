"""Wire operations into the Faust app: rules reloader, ops web views, rules/rebalance metrics.

The streaming app calls, after defining its tables and its own `/metrics` and `/healthz`:

    holder = RulesHolder(ops.install.initial_rules(settings))
    reloader = ops.install.install(app, holder, settings)

`settings` needs: redis_url, rules_path, admin_token (and web_port, topic_prefix, data_dir,
which are the app's business).
"""

from __future__ import annotations

import logging
from typing import Any

from ops.metrics import REBALANCES, RULE_RELOADS, set_rules_version
from ops.reload import FileReloader, RedisReloader
from ops.rules_check import load_checked
from ops.rules_store import RulesStoreError, fetch_stored, redacted
from ops.web import PartySource, ReportSource, register_views
from rules.compiled import Rules
from rules.holder import RulesHolder
from rules.loader import load_rules_file

log = logging.getLogger(__name__)

__all__ = ["initial_rules", "install", "make_reloader"]


def initial_rules(settings: Any) -> Rules:
    """The rules to start with, before the app runs (so the first event already has them):
    the config stored in Redis when REDIS_URL is set and it validates, else RULES_PATH.
    The stored config is checked in a child process with a time and memory limit
    (`ops.rules_check`), so a hostile one in Redis can never crash or stall the start: the
    worker starts on the file instead. Raises RulesError only when the file is refused too."""
    url = getattr(settings, "redis_url", None)
    if url:
        try:
            stored = fetch_stored(url)
        except RulesStoreError as exc:
            RULE_RELOADS.labels(result="error").inc()
            log.warning("starting on %s: %s", settings.rules_path, exc.message)
        else:
            if stored is None:
                log.info("no rules in redis %s; starting on %s", redacted(url),
                         settings.rules_path)
            else:
                checked, rules = load_checked(stored.yaml, "redis")
                if rules is None:
                    RULE_RELOADS.labels(
                        result="error" if checked.result == "error" else "refused").inc()
                    log.warning("rules %s in redis refused (%d error(s):\n%s); starting on %s",
                                stored.version, len(checked.errors),
                                "\n".join(f"  {e}" for e in checked.errors),
                                settings.rules_path)
                else:
                    set_rules_version(rules.version)
                    return rules
    rules = load_rules_file(settings.rules_path)
    set_rules_version(rules.version)
    return rules


def make_reloader(holder: RulesHolder, settings: Any) -> RedisReloader | FileReloader:
    url = getattr(settings, "redis_url", None)
    if url:
        return RedisReloader(url, holder)
    return FileReloader(settings.rules_path, holder)


def install(app: Any, holder: RulesHolder, settings: Any, *,
            report_source: ReportSource | None = None,
            party_source: PartySource | None = None,
            parties_table: str = "parties") -> RedisReloader | FileReloader:
    """Start the reloader with the worker, add the ops views, count rebalances."""
    reloader = make_reloader(holder, settings)
    set_rules_version(holder.version)

    async def leadstream_rules_reloader() -> None:
        log.info("rules %s in force; following %s", holder.version,
                 f"redis {redacted(settings.redis_url)}" if settings.redis_url
                 else f"file {settings.rules_path}")
        await reloader.run()  # never returns; cancelled when the app stops

    app.task(leadstream_rules_reloader)

    register_views(app, holder, reloader, settings, report_source, party_source,
                   parties_table=parties_table)

    async def count_rebalance(sender: Any, assigned: Any = None, **kwargs: Any) -> None:
        REBALANCES.inc()

    app.on_partitions_assigned.connect(count_rebalance)
    return reloader
