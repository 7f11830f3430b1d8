"""Web endpoints of a worker (on Faust's web server) and the pure functions behind them.

Pure, testable without Faust: `check_bearer`, `admin_refusal`, `render_report_html`,
`party_view`, `merge_reports` (workers' Lead Linking Report shares into the report).
`register_views(app, ...)` adds:

- `GET /rules`: version in force, where it came from, reloader status.
- `POST /rules/reload`: `Authorization: Bearer $ADMIN_TOKEN`; re-reads the config now.
- `GET /rules/history`: admin token; the pushed versions in Redis (`rules_history_doc`).
- `GET /reports/lead-linking`: this worker's share (the runtime's durable counts of its
  partitions and the funnel of its leads, agents/report_state.py) merged with every other
  worker's (`/reports/lead-linking/local`, asked with a short timeout); JSON, HTML with
  `Accept: text/html` or `?format=html` (ops/report_views.py), or CSV with `?format=csv`
  (`&table=NAME` for one table).
- `GET /parties/{party_id}`: admin; pending window and leads, answered by the worker that
  owns the party (Faust's router over the `parties` table, as `@app.table_route` does).

Access (`auth_middleware`, on every route): `ADMIN_PATHS` need `Authorization: Bearer
$ADMIN_TOKEN`; a wrong token is 401 on every path.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from html import escape
from typing import Any

from core import report as rep
from models.records import Lead
from state.party import PartGetter, PartyState

log = logging.getLogger(__name__)

# ---------------------------------------------------------------- report share
def empty_share() -> dict[str, Any]:
    """The report share of a worker that counts nothing (no `report_source` given). The
    streaming job's share comes from its runtime (`Runtime.report_share`: the durable counts
    of the `reports` table and the funnel of the `leads` table, agents/report_state.py)."""
    return rep.counts_of(rep.initialize())


# ---------------------------------------------------------------- admin token
NO_TOKEN = "ADMIN_TOKEN is not set on this worker: admin endpoints are disabled"


def check_bearer(header_value: str | None, admin_token: str | None) -> bool:
    """True when `Authorization: Bearer <token>` carries the admin token (constant time).
    Always False when no admin token is configured."""
    if not admin_token or not header_value:
        return False
    scheme, _, given = header_value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8"), admin_token.encode("utf-8"))


def admin_refusal(header_value: str | None, admin_token: str | None) -> tuple[int, str] | None:
    """None when the request may proceed, else (HTTP status, message)."""
    if not admin_token:
        return 503, NO_TOKEN
    if not check_bearer(header_value, admin_token):
        return 401, "admin endpoint: send Authorization: Bearer <ADMIN_TOKEN>"
    return None


#: Paths that need the admin token (prefixes). `/parties/` shows a party's contacts, leads and
#: interactions (personal data); `/rules/reload` and `/rules/history` are administration.
ADMIN_PATHS: tuple[str, ...] = ("/parties/", "/rules/reload", "/rules/history")


def is_admin_path(path: str) -> bool:
    return any(path == p.rstrip("/") or path.startswith(p) for p in ADMIN_PATHS)


def request_refusal(path: str, header_value: str | None,
                    admin_token: str | None) -> tuple[int, str] | None:
    """The one access rule of every endpoint: admin paths need the token; anywhere else a
    request that brings an Authorization header must bring the right token (a wrong token
    is 401 everywhere, never quietly served the public view)."""
    if is_admin_path(path) or header_value is not None:
        return admin_refusal(header_value, admin_token)
    return None


def auth_middleware(admin_token: str | None) -> Any:
    """aiohttp middleware applying `request_refusal` to every route (ours and Faust's)."""
    from aiohttp import web as aioweb

    @aioweb.middleware
    async def leadstream_auth(request: Any, handler: Any) -> Any:
        no = request_refusal(request.path, request.headers.get("Authorization"), admin_token)
        if no is not None:
            status, message = no
            headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
            return aioweb.json_response({"error": message}, status=status, headers=headers)
        return await handler(request)

    return leadstream_auth


# ---------------------------------------------------------------- rules history
def rules_history_doc(redis_url: str | None, in_force: str, source: str, *,
                      with_yaml: bool = True) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) of `GET /rules/history`, as `rules history --json` lists it
    (`?yaml=false`: without the YAML texts, which may be up to 2 MiB each).

    Blocking (Redis): call it off the event loop. Without Redis the rules come from a file
    and no history is kept: 200 with an empty list and a note saying so.
    """
    from ops.rules_store import RulesStoreError, fetch_history, fetch_stored

    body: dict[str, Any] = {"version": in_force, "source": source}
    if not redis_url:
        return 200, {**body, "history": [],
                     "note": "REDIS_URL is not set: the rules history is kept only in Redis"}
    try:  # RulesStoreError is a SystemExit: never let it out of a worker thread
        history = fetch_history(redis_url)
        stored = fetch_stored(redis_url)
    except RulesStoreError as exc:
        return 503, {**body, "error": exc.message}
    body["stored_version"] = stored.version if stored else None
    body["history"] = [{**(e.to_json() if with_yaml else e.summary()),
                        "in_force": e.version == in_force} for e in history]
    return 200, body


# ---------------------------------------------------------------- report HTML / CSV
# (ops/report_views.py: tables, the funnel and per-day pictures as inline SVG, CSV export)
from ops.report_views import render_report_csv, render_report_html  # noqa: E402


def wants_html(accept: str | None, fmt: str | None) -> bool:
    if fmt:
        return fmt.lower() == "html"
    return "text/html" in (accept or "").lower()


def merge_reports(parts: Iterable[Mapping[str, Any]], rules: Any = None) -> dict[str, Any]:
    """Sum workers' shares: their counts, and their funnels when they carry one; with
    `rules`, the report as `simulate` writes it (rules version, every rule set, leads)."""
    merged: dict[str, Any] = rep.initialize()
    funnel: dict[str, Any] | None = None
    partitions: list[int] = []
    incomplete = False
    for part in parts:
        merged = rep.merge(merged, part)
        if isinstance(part.get("funnel"), Mapping):
            funnel = rep.merge_funnels(funnel or {}, part["funnel"])
        partitions += part.get("partitions") or []
        incomplete = incomplete or part.get("complete") is False
    out = rep.result(merged, rules, funnel_doc=funnel)
    if partitions:
        out["partitions"] = sorted(set(partitions))
        twice = sorted({p for p in partitions if partitions.count(p) > 1})
        if twice:  # two workers both counted them (mid-rebalance)
            out["partitions_counted_twice"] = twice
            incomplete = True
    if incomplete:
        out["incomplete"] = True
    return out


# ---------------------------------------------------------------- party view
def _ts_iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


def party_view(state_bytes: bytes | PartyState | None, leads: Iterable[Mapping[str, Any] | Lead],
               *, party_id: str | None = None, include_attributes: bool = False,
               parts: PartGetter | None = None) -> dict[str, Any]:
    """A party's pending window and leads, for `/parties/{party_id}`.

    `state_bytes` is the party's header (or its PartyState, loaded with its part getter);
    `parts` reads the window of a big party (`party-parts`), whose header holds no entries.
    Attributes (interaction and lead payload) are left out unless `include_attributes`
    (the views set it for requests carrying the admin token); their names stay visible.
    """
    st = (state_bytes if isinstance(state_bytes, PartyState)
          else PartyState.from_bytes(state_bytes, parts))
    window = st.window_entries() if st.wcount else []

    def attrs(d: dict[str, Any], a: Mapping[str, Any] | None) -> dict[str, Any]:
        if include_attributes:
            d["attributes"] = dict(a or {})
        else:
            d["attribute_names"] = sorted(a or {})
        return d

    pending = [attrs({
        "interaction_id": p.interaction_id, "occurred_at": p.occurred_at, "score": p.score,
        "rule_set_id": p.rule_set_id, "rules_version": p.rules_version,
        "contact_id": p.contact_id, "country": p.country, "source_code": p.source_code,
    }, p.attributes) for p in window]
    refs = [attrs({
        "lead_id": r.lead_id, "status": r.status, "created_at": r.created_at,
        "contact_id": r.contact_id, "source_code": r.source_code, "country": r.country,
        "updated_at": r.updated_at,
    }, r.attributes) for r in st.leads]
    snapshots = []
    for lead in leads:
        d = dict(lead.to_json() if isinstance(lead, Lead) else lead)
        snapshots.append(attrs(d, d.pop("attributes", None)))
    return {
        "party_id": party_id,
        "found": not st.is_empty or bool(snapshots),
        "pending": pending,
        "pending_score": sum(p.score for p in window),
        "lead_refs": refs,
        "leads": snapshots,
        "seen_interactions": st.seen_count,
        "watermark": _ts_iso(st.watermark),
    }


# ---------------------------------------------------------------- Faust views
#: the worker's report share, or a coroutine giving it (the streaming job's reads its table)
ReportSource = Callable[[], Mapping[str, Any] | Awaitable[Mapping[str, Any]]]
PartySource = Callable[[str], Any]  # -> (state bytes|PartyState|None, leads) or awaitable


async def _maybe_await(v: Any) -> Any:
    return await v if inspect.isawaitable(v) else v


def _ident(url: Any) -> tuple[str, int]:
    from yarl import URL

    u = URL(str(url))
    return (u.host or "", int(u.port or 80))


def peer_urls(app: Any) -> list[str]:
    """Web URLs of the other workers of the group, from the partition assignor's metadata
    (each worker advertises its `canonical_url`; hosts of table partitions are known)."""
    try:
        hosts = list(app.router.tables_metadata().keys())
    except Exception:  # not assigned yet, custom assignor
        return []
    me = _ident(app.conf.canonical_url)
    seen, out = {me}, []
    for h in hosts:
        ident = _ident(h)
        if ident not in seen:
            seen.add(ident)
            out.append(str(h).rstrip("/"))
    return out


async def fetch_peer_reports(app: Any, peers: list[str], timeout: float,
                             ) -> tuple[list[tuple[str, dict[str, Any]]], dict[str, str]]:
    """GET `<peer>/reports/lead-linking/local` from every peer at once, within `timeout`."""
    import aiohttp

    async def one(peer: str) -> dict[str, Any]:
        async with app.http_client.get(
            f"{peer}/reports/lead-linking/local", headers={"Accept": "application/json"},
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as resp:
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}")
            doc: dict[str, Any] = await resp.json(content_type=None)
            return doc

    results = await asyncio.gather(*(one(p) for p in peers), return_exceptions=True)
    ok, failed = [], {}
    for peer, res in zip(peers, results, strict=True):
        if isinstance(res, BaseException):
            failed[peer] = f"{type(res).__name__}: {res}".rstrip(": ")
        else:
            ok.append((peer, res))
    return ok, failed


def register_views(app: Any, holder: Any, reloader: Any, settings: Any,
                   report_source: ReportSource | None = None,
                   party_source: PartySource | None = None, *,
                   parties_table: str = "parties", peer_timeout: float = 2.0) -> None:
    """Add the ops views to a Faust app (`/metrics` and `/healthz` are the app's own)."""
    import aiohttp
    from faust.exceptions import NotReady, SameNode
    from faust.web import View

    get_report: ReportSource = report_source or empty_share
    admin_token = getattr(settings, "admin_token", None) or None

    def _default_party_source(party_id: str) -> tuple[Any, list[Any]]:
        return app.tables[parties_table].get(party_id), []

    parties = party_source or _default_party_source

    app.web.web_app.middlewares.append(auth_middleware(admin_token))

    def refused(view: View, status: int, message: str) -> Any:
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return view.json({"error": message}, status=status, headers=headers)

    @app.page("/rules")
    class RulesView(View):
        async def get(self, request: Any, **kw: Any) -> Any:
            rules = holder.current
            return self.json({"version": rules.version, "source": rules.source,
                              "reloader": reloader.status() if reloader else None})

    @app.page("/rules/reload")
    class RulesReloadView(View):
        async def post(self, request: Any, **kw: Any) -> Any:
            no = admin_refusal(request.headers.get("Authorization"), admin_token)
            if no is not None:
                return refused(self, *no)
            if reloader is None:
                return self.json({"error": "no reloader on this worker"}, status=503)
            res = await reloader.force_reload()
            status = {"refused": 422, "error": 503}.get(res.result, 200)
            return self.json(res.as_dict(), status=status)

    @app.page("/rules/history")
    class RulesHistoryView(View):
        async def get(self, request: Any, **kw: Any) -> Any:
            no = admin_refusal(request.headers.get("Authorization"), admin_token)
            if no is not None:
                return refused(self, *no)
            rules = holder.current
            with_yaml = request.query.get("yaml", "true").lower() not in ("false", "0", "no")
            status, doc = await asyncio.to_thread(
                lambda: rules_history_doc(getattr(settings, "redis_url", None), rules.version,
                                          rules.source, with_yaml=with_yaml))
            return self.json(doc, status=status)

    @app.page("/reports/lead-linking/local")
    class LocalReportView(View):
        async def get(self, request: Any, **kw: Any) -> Any:
            return self.json(dict(await _maybe_await(get_report())))

    @app.page("/reports/lead-linking")
    class ReportView(View):
        async def get(self, request: Any, **kw: Any) -> Any:
            local = dict(await _maybe_await(get_report()))
            peers = peer_urls(app)
            ok, failed = await fetch_peer_reports(app, peers, peer_timeout) if peers else ([], {})
            merged = merge_reports([local, *(doc for _, doc in ok)],
                                   holder.current if report_source is not None else None)
            me = str(app.conf.canonical_url).rstrip("/")
            merged["workers"] = {"answered": [me, *(p for p, _ in ok)], "failed": failed}
            merged["partial"] = bool(failed) or bool(merged.pop("incomplete", False))
            if local.get("since"):
                merged["since"] = min([local["since"], *(d.get("since") or local["since"]
                                                         for _, d in ok)])
            fmt = request.query.get("format")
            if fmt and fmt.lower() == "csv":
                table = request.query.get("table")
                try:
                    body = render_report_csv(merged, table)
                except KeyError:
                    return self.json({"error": f"unknown table {table!r}"}, status=400)
                return self.text(body, content_type="text/csv",
                                 headers={"Content-Disposition":
                                          "attachment; filename=lead-linking.csv"})
            if wants_html(request.headers.get("Accept"), fmt):
                return self.html(render_report_html(merged))
            return self.json(merged)

    @app.page("/parties/{party_id}")
    class PartyView(View):
        async def get(self, request: Any, party_id: str, **kw: Any) -> Any:
            if parties_table not in app.tables:
                return self.json({"error": f"table {parties_table!r} is not defined"},
                                 status=503)
            try:
                return await app.router.route_req(parties_table, party_id, self.web, request)
            except SameNode:
                pass
            except NotReady:  # before the worker has joined its group
                return self.json({"error": "worker not ready"}, status=503)
            except (TimeoutError, aiohttp.ClientError) as exc:
                return self.json({"error": f"owner of this party unreachable: {exc}"},
                                 status=502)
            state, leads = await _maybe_await(parties(party_id))
            # the auth middleware let only admin requests through
            doc = party_view(state, leads or [], party_id=party_id, include_attributes=True)
            doc["served_by"] = str(app.conf.canonical_url).rstrip("/")
            return self.json(doc, status=200 if doc["found"] else 404)


# ---------------------------------------------------------------- territories (CONTRACT §11)

def territories_view(load: Mapping[str, Mapping[str, int]], rules: Any) -> dict[str, Any]:
    """`GET /territories`: per territory of the rules in force, each member's weight,
    capacity and open load (`load`: territory id -> member -> open leads)."""
    from core import assignment as asg

    return {"rules_version": rules.version, "fallback": rules.config.assignment.fallback,
            "territories": asg.loads(load, rules)}


_TERRITORY_STYLE = (
    "body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;margin:.5em 0 1.5em}"
    "th,td{border:1px solid #bbb;padding:.3em .7em}td{text-align:right}"
    "th[scope=row]{text-align:left}.bar{background:#4a7;height:.9em;display:inline-block}"
)


def _td(v: Any) -> str:
    return f"<td>{escape(str(v))}</td>"


def render_territories_html(doc: Mapping[str, Any]) -> str:
    """The territories' load as a page: a table and a bar per member (load of capacity)."""
    out = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>Territories</title>",
           f"<style>{_TERRITORY_STYLE}</style>"
           "</head><body><h1>Territories</h1>"]
    for t in doc.get("territories", []):
        out.append(f"<h2>{escape(str(t['id']))}</h2><table><thead><tr><th scope='col'>Member"
                   "</th><th scope='col'>Weight</th><th scope='col'>Capacity</th>"
                   "<th scope='col'>Open leads</th><th scope='col'></th></tr></thead><tbody>")
        for m in t["members"]:
            cap, load = m.get("capacity"), int(m.get("load") or 0)
            width = min(100, round(100 * load / cap)) if cap else min(100, load)
            out.append(f"<tr><th scope='row'>{escape(str(m['resource']))}</th>"
                       f"{_td(m.get('weight') if m.get('weight') is not None else '')}"
                       f"{_td(cap if cap is not None else 'none')}{_td(load)}"
                       f"<td style='text-align:left;width:12em'><span class='bar' "
                       f"style='width:{width}%'></span></td></tr>")
        out.append("</tbody></table>")
    fb = doc.get("fallback")
    out.append(f"<p>Fallback: {escape(str(fb)) if fb is not None else 'none'}.</p>")
    if doc.get("partial"):
        out.append("<p><strong>Partial</strong>: some workers did not answer.</p>")
    out.append("</body></html>")
    return "".join(out)


def register_territory_views(app: Any, holder: Any,
                             local_source: Callable[[], Mapping[str, Mapping[str, int]]],
                             peer_timeout: float = 2.0) -> None:
    """`GET /territories/local` (this worker's territories: member -> open leads) and
    `GET /territories` (this worker's merged with every peer's: each territory lives on one
    worker)."""
    import aiohttp
    from faust.web import View

    def local_doc() -> dict[str, Any]:
        return dict(local_source())

    async def peer(url: str) -> dict[str, Any]:
        async with app.http_client.get(
                f"{url}/territories/local", headers={"Accept": "application/json"},
                timeout=aiohttp.ClientTimeout(total=peer_timeout)) as resp:
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}")
            doc: dict[str, Any] = await resp.json(content_type=None)
            return doc

    @app.page("/territories/local")
    class LocalTerritoriesView(View):
        async def get(self, request: Any, **kw: Any) -> Any:
            return self.json(local_doc())

    @app.page("/territories")
    class TerritoriesView(View):
        async def get(self, request: Any, **kw: Any) -> Any:
            states = local_doc()
            peers = peer_urls(app)
            got = await asyncio.gather(*(peer(p) for p in peers), return_exceptions=True)
            failed = {p: f"{type(r).__name__}" for p, r in zip(peers, got, strict=True)
                      if isinstance(r, BaseException)}
            for r in got:
                if not isinstance(r, BaseException):
                    for tid, st in r.items():
                        states.setdefault(tid, st)
            doc = territories_view(states, holder.current)
            doc["partial"] = bool(failed)
            doc["workers_failed"] = failed
            if wants_html(request.headers.get("Accept"), request.query.get("format")):
                return self.html(render_territories_html(doc))
            return self.json(doc)
