"""Web: pure functions, then the views on minimal Faust apps (no broker: the partition
owner lookup is stubbed, Faust's own request forwarding is real)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace
from typing import Any

import pytest
from yarl import URL

from core import report as rep
from models.records import Outcome, OutcomeCode
from ops import web
from ops.reload import FileReloader
from rules.holder import RulesHolder
from state.party import LeadRef, PartyState, PendingEntry
from tests.ops.conftest import BASE_TEXT, variant, version_of

# ---------------------------------------------------------------- pure functions


@pytest.mark.parametrize(("header", "token", "ok"), [
    ("Bearer s3cret", "s3cret", True),
    ("bearer s3cret", "s3cret", True),
    ("Bearer  s3cret ", "s3cret", True),
    ("Bearer wrong", "s3cret", False),
    ("Bearer s3cre", "s3cret", False),
    ("Basic s3cret", "s3cret", False),
    ("s3cret", "s3cret", False),
    ("Bearer ", "s3cret", False),
    (None, "s3cret", False),
    ("Bearer s3cret", None, False),
    ("Bearer ", "", False),
    ("Bearer é", "é", True),
])
def test_check_bearer(header: str | None, token: str | None, ok: bool) -> None:
    assert web.check_bearer(header, token) is ok


def test_admin_refusal() -> None:
    assert web.admin_refusal("Bearer t", "t") is None
    assert web.admin_refusal("Bearer x", "t") == (401, web.admin_refusal(None, "t")[1])  # type: ignore[index]
    status, msg = web.admin_refusal("Bearer t", None)  # type: ignore[misc]
    assert status == 503 and "ADMIN_TOKEN is not set" in msg


def _outcome(iid: str, code: OutcomeCode, rs: str = "seeded", **kw: Any) -> Outcome:
    return Outcome(iid, code, "P1", score=5, rule_set_id=rs, rules_version="v", **kw)


def test_render_report_html_escapes_and_shows_columns() -> None:
    r = rep.initialize()
    rep.agg(r, _outcome("a", OutcomeCode.PENDING, rs="<script>alert(1)</script>"))
    rep.agg(r, _outcome("b", OutcomeCode.LINKED, lead_id="L1", created_lead=True))
    rep.agg(r, _outcome("c", OutcomeCode.DUPLICATE))
    r = rep.result(r)
    r["workers"] = {"answered": ["http://w1:6066"], "failed": {"http://<w2>": "Timeout<&>"}}
    page = web.render_report_html(r)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "http://&lt;w2&gt;" in page and "Timeout&lt;&amp;&gt;" in page
    for title in ("Scored", "Linked to existing leads", "Linked to new leads",
                  "Leads created", "Pending", "Expired", "Duplicate", "Rejected", "Total"):
        assert title in page
    assert "Partial report" in page


def test_wants_html() -> None:
    assert web.wants_html("text/html,application/xhtml+xml", None)
    assert not web.wants_html("application/json", None)
    assert not web.wants_html(None, None)
    assert web.wants_html(None, "html") and not web.wants_html("text/html", "json")


def _state() -> PartyState:
    return PartyState(
        window=(PendingEntry("i1", "2026-01-01T00:00:00+00:00", 1767225600.0, 1, 3, "seeded",
                             "v1", attributes={"email": "a@example.com"}),),
        leads=(LeadRef("L1", "NEW", "2026-01-01T00:00:00+00:00", 1767225600.0,
                       attributes={"budget": 5}),),
        seen={"i1": 1767225600.0}, watermark=1767225600.0, seq=1,
    )


def test_party_view_hides_attributes_unless_asked() -> None:
    lead = {"lead_id": "L1", "status": "NEW", "attributes": {"budget": 5}}
    v = web.party_view(_state().to_bytes(), [lead], party_id="P1")
    assert v["found"] and v["party_id"] == "P1"
    assert [p["interaction_id"] for p in v["pending"]] == ["i1"]
    assert v["pending_score"] == 3 and v["seen_interactions"] == 1
    assert v["watermark"].startswith("2026-01-01T00:00:00")
    assert "a@example.com" not in repr(v) and v["pending"][0]["attribute_names"] == ["email"]
    assert v["lead_refs"][0]["lead_id"] == "L1" and v["leads"][0]["attribute_names"] == ["budget"]
    full = web.party_view(_state(), [lead], include_attributes=True)
    assert full["pending"][0]["attributes"] == {"email": "a@example.com"}
    assert full["leads"][0]["attributes"] == {"budget": 5}
    assert web.party_view(None, [])["found"] is False


def test_merge_reports_sums_shares_and_adds_the_config() -> None:
    rules = __import__("rules.loader").loader.load_rules_text(BASE_TEXT)
    a, b = rep.initialize(), rep.initialize()
    rep.agg(a, _outcome("a", OutcomeCode.PENDING))
    rep.agg(b, _outcome("a", OutcomeCode.EXPIRED, was_pending=True))
    rep.agg_import(b, {"result": "SUCCESS", "batch_id": "B"})
    funnel = rep.funnel([{"origin": "IMPORT", "status": "NEW", "channel": "DIRECT"}],
                        ["NEW"], [])
    r = web.merge_reports([{**a, "funnel": funnel, "partitions": [0]},
                           {**b, "funnel": funnel, "partitions": [1]}], rules)
    assert r["total"]["expired"] == 1 and r["total"]["pending"] == 0
    assert r["import_batches"]["B"]["SUCCESS"] == 1
    assert r["rules_version"] == rules.version
    assert set(r["rule_sets"]) >= {rs.id for rs in rules.config.interaction_rule_sets}
    assert r["funnel"]["routed"] == {"DIRECT": 2} and r["leads"] == 2
    assert r["partitions"] == [0, 1]
    assert web.empty_share()["total"]["interactions"] == 0
    assert "incomplete" not in r
    # mid-rebalance: two workers counted partition 1, or one is still recovering
    twice = web.merge_reports([{**a, "partitions": [0, 1]}, {**b, "partitions": [1]}], rules)
    assert twice["partitions_counted_twice"] == [1] and twice["incomplete"]
    assert web.merge_reports([{**a, "complete": False}], rules)["incomplete"]


# ---------------------------------------------------------------- views on Faust apps
TOKEN = "t0ken"


class Worker:
    def __init__(self, app: Any, server: Any, client: Any, url: str) -> None:
        self.app, self.server, self.client, self.url = app, server, client, url


@pytest.fixture
async def workers(free_port: Callable[[], int], tmp_path: Any,
                  monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[list[Worker]]:
    """Two Faust apps (web only), each owning the parties of its own parity."""
    faust = pytest.importorskip("faust")
    from aiohttp.test_utils import TestClient, TestServer
    from faust.app.router import Router

    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(BASE_TEXT)
    ports = [free_port(), free_port()]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    out: list[Worker] = []

    def key_store(self: Router, table_name: str, key: Any) -> URL:
        return URL(urls[int(str(key)[-1]) % 2])  # P0, P2.. on worker 0; P1, P3.. on 1

    monkeypatch.setattr(Router, "key_store", key_store)
    monkeypatch.setattr(Router, "tables_metadata", lambda self: {u: {} for u in urls})

    for i, port in enumerate(ports):
        app = faust.App(f"ops-web-{i}-{port}", broker="kafka://127.0.0.1:1", store="memory://",
                        web_port=port, canonical_url=urls[i], loop=asyncio.get_running_loop())
        app.Table("parties", default=None, key_type=str, value_type=bytes)
        holder = RulesHolder(__import__("rules.loader").loader.load_rules_text(BASE_TEXT))
        settings = SimpleNamespace(admin_token=TOKEN, redis_url=None, rules_path=str(rules_file))
        reloader = FileReloader(rules_file, holder)
        report = rep.initialize()
        rep.agg(report, _outcome(f"w{i}", OutcomeCode.LINKED, lead_id="L", created_lead=True))
        states = {f"P{i}": _state().to_bytes()}
        web.register_views(
            app, holder, reloader, settings, report_source=lambda r=report: r,
            party_source=lambda pid, s=states, i=i: (
                s.get(pid), [{"lead_id": f"L{i}"}] if pid in s else []),
        )
        app.finalize()
        app.web.init_server()
        server = TestServer(app.web.web_app, host="127.0.0.1", port=port)
        client = TestClient(server)
        await client.start_server()
        app.holder, app.reloader = holder, reloader  # for the tests
        out.append(Worker(app, server, client, urls[i]))
    try:
        yield out
    finally:
        for w in out:
            await w.client.close()
            if w.app._http_client is not None:
                await w.app._http_client.close()


async def test_rules_views_and_token(workers: list[Worker]) -> None:
    w = workers[0]
    r = await w.client.get("/rules")
    body = await r.json()
    assert r.status == 200 and body["version"] == version_of(BASE_TEXT)
    assert body["reloader"]["kind"] == "file"

    assert (await w.client.post("/rules/reload")).status == 401
    bad = await w.client.post("/rules/reload", headers={"Authorization": "Bearer nope"})
    assert bad.status == 401 and bad.headers["WWW-Authenticate"] == "Bearer"
    w.app.reloader.path.write_text(variant(41))
    good = await w.client.post("/rules/reload", headers={"Authorization": f"Bearer {TOKEN}"})
    assert good.status == 200
    assert (await good.json())["version"] == version_of(variant(41)) == w.app.holder.version
    assert (await (await w.client.get("/rules")).json())["version"] == version_of(variant(41))


async def test_reload_refused_without_configured_token(free_port: Callable[[], int]) -> None:
    import faust
    from aiohttp.test_utils import TestClient, TestServer

    port = free_port()
    app = faust.App(f"ops-web-notoken-{port}", broker="kafka://127.0.0.1:1", store="memory://",
                    web_port=port, loop=asyncio.get_running_loop())
    holder = RulesHolder(__import__("rules.loader").loader.load_rules_text(BASE_TEXT))
    settings = SimpleNamespace(admin_token=None, redis_url=None, rules_path="config/rules.yaml")
    web.register_views(app, holder, None, settings)
    app.finalize()
    app.web.init_server()
    async with TestClient(TestServer(app.web.web_app)) as client:
        r = await client.post("/rules/reload", headers={"Authorization": "Bearer "})
        assert r.status == 503 and "ADMIN_TOKEN is not set" in (await r.json())["error"]
        # /parties is an admin endpoint (issue 17): disabled without ADMIN_TOKEN
        p = await client.get("/parties/P1")
        assert p.status == 503 and "ADMIN_TOKEN is not set" in (await p.json())["error"]


async def test_parties_without_table_is_a_clear_503(free_port: Callable[[], int]) -> None:
    import faust
    from aiohttp.test_utils import TestClient, TestServer

    port = free_port()
    app = faust.App(f"ops-web-notable-{port}", broker="kafka://127.0.0.1:1", store="memory://",
                    web_port=port, loop=asyncio.get_running_loop())
    holder = RulesHolder(__import__("rules.loader").loader.load_rules_text(BASE_TEXT))
    settings = SimpleNamespace(admin_token=TOKEN, redis_url=None, rules_path="config/rules.yaml")
    web.register_views(app, holder, None, settings)
    app.finalize()
    app.web.init_server()
    async with TestClient(TestServer(app.web.web_app)) as client:
        p = await client.get("/parties/P1", headers={"Authorization": f"Bearer {TOKEN}"})
        assert p.status == 503 and "parties" in (await p.json())["error"]


async def test_report_merges_workers(workers: list[Worker]) -> None:
    local = await (await workers[0].client.get("/reports/lead-linking/local")).json()
    assert local["total"]["leads_created"] == 1
    r = await workers[0].client.get("/reports/lead-linking")
    doc = await r.json()
    assert r.status == 200 and doc["total"]["leads_created"] == 2
    assert doc["rule_sets"]["seeded"]["linked_new_lead"] == 2
    assert doc["workers"]["answered"] == [w.url for w in workers] and not doc["partial"]

    html = await workers[1].client.get("/reports/lead-linking",
                                       headers={"Accept": "text/html"})
    assert html.status == 200 and html.content_type == "text/html"
    assert "Lead Linking Report" in await html.text()
    assert (await workers[1].client.get("/reports/lead-linking?format=html")
            ).content_type == "text/html"


async def test_report_is_partial_when_a_worker_is_down(workers: list[Worker]) -> None:
    await workers[1].client.close()
    doc = await (await workers[0].client.get("/reports/lead-linking")).json()
    assert doc["partial"] and workers[1].url in doc["workers"]["failed"]
    assert doc["total"]["leads_created"] == 1


ADMIN = {"Authorization": f"Bearer {TOKEN}"}


async def test_parties_need_the_token_and_are_routed_to_owner(workers: list[Worker]) -> None:
    # issue 17: /parties shows contacts, leads and source codes: admin token only (no
    # public view any more); a wrong token is 401, not the public view
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic x"}):
        r = await workers[0].client.get("/parties/P1", headers=headers)
        assert r.status == 401 and r.headers["WWW-Authenticate"] == "Bearer", headers
        assert "a@example.com" not in await r.text()
    # P1 lives on worker 1: asked on worker 0, the request is forwarded (token included)
    r = await workers[0].client.get("/parties/P1", headers=ADMIN)
    doc = await r.json()
    assert r.status == 200 and doc["served_by"] == workers[1].url
    assert doc["leads"] == [{"lead_id": "L1", "attributes": {}}]
    assert doc["pending"][0]["attributes"] == {"email": "a@example.com"}

    r0 = await workers[1].client.get("/parties/P0", headers=ADMIN)
    assert r0.status == 200 and (await r0.json())["served_by"] == workers[0].url
    missing = await workers[0].client.get("/parties/P2", headers=ADMIN)  # owned by 0
    assert missing.status == 404 and (await missing.json())["found"] is False


async def test_wrong_token_is_401_everywhere(workers: list[Worker]) -> None:
    client = workers[0].client
    for path in ("/rules", "/reports/lead-linking", "/reports/lead-linking/local",
                 "/parties/P0", "/router/", "/table/parties/"):
        r = await client.get(path, headers={"Authorization": "Bearer wrong"})
        assert r.status == 401, path
    ok = await client.get("/rules", headers=ADMIN)  # the right token is fine anywhere
    assert ok.status == 200
    assert (await client.get("/rules")).status == 200  # public without a header


def test_faust_router_and_table_views_are_off() -> None:
    from job.app import faust_options
    from streaming.settings import load_settings

    opts = faust_options(load_settings({"BROKER_URL": "kafka://127.0.0.1:1"}))
    assert opts["web_router_enabled"] is False and opts["web_tables_enabled"] is False
