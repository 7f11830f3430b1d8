"""`GET /leads/{lead_id}`: the lead with its timeline (CONTRACT §10), for people (HTML) and
programs (JSON); attribute values only with the admin token, as `/parties/{id}`.

Where the answer lives: the lead and its history are in the `leads` table, partitioned by
the lead's party (lead events are keyed by party), and who the party is is in the
`lead-owners` table, partitioned by lead id (agents/owners.py). So a request goes first to
the worker owning the lead id in `lead-owners` (Faust's router, as `@app.table_route`), which
reads the party and asks the worker owning that party (`?party_id=` set: routed over
`parties`), which builds the timeline (core/timeline.py) from its local `leads` table.
`render_timeline_html` is pure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from html import escape
from typing import Any

from core.timeline import build_timeline
from models.records import Lead
from ops.web import _ident, check_bearer, wants_html

#: lead id -> the stored `leads` table value (decoded), or None
LeadSource = Callable[[str], Mapping[str, Any] | None]
#: lead id -> the stored `lead-owners` value (decoded: party_id, deleted), or None
OwnerSource = Callable[[str], Mapping[str, Any] | None]

_STYLE = (
    "body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;margin:.5em 0 1.5em}"
    "th,td{border:1px solid #bbb;padding:.3em .7em;text-align:left}tr.engine{color:#444}"
    "tr.link{background:#f4f8ff}tr.edit{background:#fff8e8}"
)


def lead_timeline(stored: Mapping[str, Any] | None, include_attributes: bool) -> dict[str, Any]:
    """The view of a stored `leads` table value: `{"found", "lead", "timeline"}`."""
    if not stored or stored.get("deleted") or not stored.get("lead"):
        return {"found": False, "deleted": bool(stored and stored.get("deleted"))}
    lead = Lead.from_json(dict(stored["lead"]))
    return {"found": True, **build_timeline(lead, stored.get("history") or [],
                                            include_attributes)}


def _what(e: Mapping[str, Any]) -> str:
    kind = e.get("kind")
    if kind == "link":
        return (f"interaction {e.get('interaction_id')} ({e.get('interaction_type') or '?'}, "
                f"source {e.get('source_code') or '-'}) scored {e.get('score')}; "
                f"score now {e.get('running_score')}")
    if kind == "engine":
        rule = (f"rule {e.get('rule_set_id')}/{e.get('rule_id')}" if e.get("rule_id")
                else "default")
        return (f"{e.get('engine')} ({e.get('trigger') or '-'}): {e.get('result')} by {rule}, "
                f"rules {e.get('rules_version')}")
    if kind in ("edit", "update"):
        parts = []
        for k, v in (e.get("changes") or {}).items():
            if k == "attributes" and isinstance(v, dict):
                parts += [f"{a}: {b[0]!r} -> {b[1]!r}" for a, b in v.items()]
            elif k == "attributes":
                parts.append("attributes changed: " + ", ".join(map(str, v)))
            else:
                parts.append(f"{k}: {v[0]!r} -> {v[1]!r}")
        return "; ".join(parts) or "no change"
    if kind == "created":
        return f"created ({e.get('origin')}), score {e.get('interaction_score')}"
    return str(kind)


def render_timeline_html(doc: Mapping[str, Any]) -> str:
    """The lead and its timeline as a standalone HTML page (every value escaped)."""
    lead = doc.get("lead") or {}
    lid = escape(str(lead.get("lead_id")))
    out = ["<!DOCTYPE html><html><head><meta charset='utf-8'>",
           f"<title>Lead {lid}</title><style>{_STYLE}</style></head><body>",
           f"<h1>Lead {lid}</h1><table><tbody>"]
    for k in ("party_id", "status", "created_at", "interaction_score", "qualified", "rating",
              "channel", "territory_id", "owner", "origin", "country", "source_code",
              "contact_id", "rules_version", "updated_at"):
        out.append(f"<tr><th scope='row'>{escape(k)}</th>"
                   f"<td>{escape(str(lead.get(k)))}</td></tr>")
    out.append("</tbody></table><h2>Timeline</h2><table><thead><tr><th>at</th><th>what</th>"
               "<th>detail</th></tr></thead><tbody>")
    for e in doc.get("timeline") or []:
        kind = str(e.get("kind"))
        out.append(f"<tr class='{escape(kind)}'><td>{escape(str(e.get('at')))}</td>"
                   f"<td>{escape(kind)}</td><td>{escape(_what(e))}</td></tr>")
    out.append("</tbody></table></body></html>")
    return "".join(out)


def register_lead_view(app: Any, settings: Any, leads: LeadSource, owners: OwnerSource, *,
                       owners_table: str = "lead-owners", parties_table: str = "parties",
                       timeout: float = 2.0) -> None:
    """Add `GET /leads/{lead_id}` to a Faust app (module docstring)."""
    import aiohttp
    from faust.exceptions import NotReady, SameNode
    from faust.web import View

    admin_token = getattr(settings, "admin_token", None) or None

    @app.page("/leads/{lead_id}")
    class LeadView(View):
        async def get(self, request: Any, lead_id: str, **kw: Any) -> Any:
            party = request.query.get("party_id")
            table = owners_table if party is None else parties_table
            try:
                return await app.router.route_req(table, party or lead_id, self.web, request)
            except SameNode:
                pass
            except NotReady:
                return self.json({"error": "worker not ready"}, status=503)
            except (TimeoutError, aiohttp.ClientError) as exc:
                return self.json({"error": f"owner of this lead unreachable: {exc}"},
                                 status=502)
            if party is None:
                entry = owners(lead_id)
                if not entry:
                    return self.json({"error": "no such lead", "lead_id": lead_id}, status=404)
                party = str(entry.get("party_id"))
                if _ident(app.router.key_store(parties_table, party)) != \
                        _ident(app.conf.canonical_url):
                    return await self._ask(request, lead_id, party)
            full = check_bearer(request.headers.get("Authorization"), admin_token)
            doc = lead_timeline(leads(lead_id), full)
            if not doc["found"] or doc["lead"]["party_id"] != party:
                return self.json({"error": "no such lead", "lead_id": lead_id,
                                  "deleted": doc.get("deleted", False)}, status=404)
            doc["served_by"] = str(app.conf.canonical_url).rstrip("/")
            if wants_html(request.headers.get("Accept"), request.query.get("format")):
                return self.html(render_timeline_html(doc))
            return self.json(doc)

        async def _ask(self, request: Any, lead_id: str, party: str) -> Any:
            dest = str(app.router.key_store(parties_table, party)).rstrip("/")
            headers = {k: v for k, v in request.headers.items()
                       if k.lower() in ("accept", "authorization")}
            try:
                async with app.http_client.get(
                        f"{dest}/leads/{lead_id}", params={"party_id": party,
                                                           **dict(request.query)},
                        headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
                    body = await resp.read()
                    return self.bytes(body, status=resp.status,
                                      content_type=resp.content_type)
            except (TimeoutError, aiohttp.ClientError) as exc:
                return self.json({"error": f"owner of this lead unreachable: {exc}"},
                                 status=502)


__all__ = ["lead_timeline", "register_lead_view", "render_timeline_html"]
