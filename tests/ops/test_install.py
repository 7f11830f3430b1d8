"""`install` wiring on a minimal Faust app, and the rules a worker starts with."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from ops.install import initial_rules, install
from ops.reload import FileReloader, RedisReloader
from ops.rules_store import push_rules
from rules.holder import RulesHolder
from tests.ops.conftest import (
    BASE_TEXT,
    BROKEN_TEXT,
    metric,
    reloads,
    variant,
    version_of,
    wait_for,
)


def _settings(tmp_path: Path, redis_url: str | None = None) -> SimpleNamespace:
    path = tmp_path / "rules.yaml"
    if not path.exists():
        path.write_text(BASE_TEXT)
    return SimpleNamespace(redis_url=redis_url, rules_path=str(path), admin_token="t",
                           web_port=6066, topic_prefix="", data_dir=str(tmp_path))


def test_initial_rules_from_redis_or_file(clean_redis_url: str, tmp_path: Path,
                                          free_port: Callable[[], int]) -> None:
    assert initial_rules(_settings(tmp_path)).version == version_of(BASE_TEXT)
    # REDIS_URL set, nothing stored: the file
    assert initial_rules(_settings(tmp_path, clean_redis_url)).source.startswith("file:")
    text = variant(50)
    push_rules(clean_redis_url, text, version_of(text))
    r = initial_rules(_settings(tmp_path, clean_redis_url))
    assert (r.version, r.source) == (version_of(text), "redis")
    assert metric("leadstream_rules_info", version=version_of(text)) == 1
    # a refused stored config or an unreachable Redis: the file, counted
    refused, errors = reloads("refused"), reloads("error")
    push_rules(clean_redis_url, BROKEN_TEXT, "broken")
    assert initial_rules(_settings(tmp_path, clean_redis_url)).version == version_of(BASE_TEXT)
    down = f"redis://127.0.0.1:{free_port()}/0"
    assert initial_rules(_settings(tmp_path, down)).version == version_of(BASE_TEXT)
    assert (reloads("refused"), reloads("error")) == (refused + 1, errors + 1)


async def test_install_wires_reloader_views_and_rebalances(tmp_path: Path,
                                                           free_port: Callable[[], int]) -> None:
    faust = pytest.importorskip("faust")
    settings = _settings(tmp_path)
    app = faust.App(f"ops-install-{free_port()}", broker="kafka://127.0.0.1:1",
                    store="memory://", web_port=free_port(), loop=asyncio.get_running_loop())
    holder = RulesHolder(initial_rules(settings))
    tasks_before = len(app._app_tasks)
    reloader = install(app, holder, settings)
    assert isinstance(reloader, FileReloader)
    assert len(app._app_tasks) == tasks_before + 1
    paths = set(app.web.views)
    assert {"/rules", "/rules/reload", "/reports/lead-linking", "/reports/lead-linking/local",
            "/parties/{party_id}"} <= paths

    before = metric("leadstream_rebalances_total")
    await app.on_partitions_assigned.send(set())
    assert metric("leadstream_rebalances_total") == before + 1

    reloader.interval = 0.02
    task = asyncio.ensure_future(app._app_tasks[-1]())  # what the worker starts
    try:
        text = variant(51)
        Path(settings.rules_path).write_text(text)
        await wait_for(lambda: holder.version == version_of(text), what="file reload")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    assert isinstance(install(faust.App(f"ops-install-r-{free_port()}",
                                        broker="kafka://127.0.0.1:1", web_port=free_port()),
                              holder, _settings(tmp_path, "redis://127.0.0.1:1/0")),
                      RedisReloader)
