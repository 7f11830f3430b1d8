"""The lead's own history (CONTRACT §10): every link, engine run and edit, in order.

`history_entries(old, new, event)` says what one lead event adds to the lead's history (kept
beside the lead: `Pipeline.history`, the streaming job's `leads` table value);
`build_timeline(lead, history)` merges it with the lead's `processing` audit into the
timeline `GET /leads/{lead_id}` shows. Each history entry records `n`, the number of audit
entries the lead had before the event, so the engine runs the event caused (and assignment
entries appended after processing) come right after it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from models.records import JSON, Lead, LeadEvent, LeadEventKind, Score

#: the fields of an edit a timeline shows (beside attributes)
EDIT_FIELDS = ("status", "country", "source_code", "contact_id")
_NEW = (LeadEventKind.CREATED, LeadEventKind.IMPORTED, LeadEventKind.REGISTERED)


def _score(v: Any) -> Score:
    return v if isinstance(v, int | float) and not isinstance(v, bool) else 0


def _link_entry(link: Mapping[str, Any], running: Score, n: int) -> JSON:
    return {
        "kind": "link", "n": n, "at": link.get("occurred_at") or link.get("created_at"),
        "interaction_id": link.get("interaction_id"),
        "interaction_type": link.get("interaction_type"),
        "source_code": link.get("source_code"), "score": link.get("score"),
        "occurred_at": link.get("occurred_at"),
        "import_interface_id": link.get("import_interface_id"), "running_score": running,
    }


def history_entries(old: Lead | None, new: Lead | None, ev: LeadEvent) -> list[JSON]:
    """What `ev` (turning `old` into `new`; None: unknown / deleted) adds to the history."""
    n = len(old.processing) if old is not None else 0
    if ev.kind in _NEW:
        if old is not None or new is None:
            return []  # a repeated creation changes nothing
        links = sorted(ev.links, key=lambda lk: str(lk.get("occurred_at") or ""))
        running: Score = new.interaction_score - sum(_score(lk.get("score")) for lk in links)
        out: list[JSON] = [{"kind": "created", "n": 0, "at": ev.at, "origin": new.origin,
                            "interaction_score": running}]
        for lk in links:
            running = running + _score(lk.get("score"))
            out.append(_link_entry(lk, running, 0))
        return out
    if old is None:
        return []
    if new is None:
        return [{"kind": "deleted", "n": n, "at": ev.at}]
    if ev.kind is LeadEventKind.LINKED:
        if ev.interaction_id is not None and ev.interaction_id in old.interaction_ids:
            return []
        link: Mapping[str, Any] = ev.links[0] if ev.links else {
            "interaction_id": ev.interaction_id, "score": ev.score, "occurred_at": ev.at}
        return [_link_entry(link, new.interaction_score, n)]
    changes: JSON = {f: [getattr(old, f), getattr(new, f)] for f in EDIT_FIELDS
               if getattr(old, f) != getattr(new, f)}
    attrs = {k: [old.attributes.get(k), new.attributes.get(k)]
             for k in sorted(set(old.attributes) | set(new.attributes))
             if old.attributes.get(k) != new.attributes.get(k)}
    if attrs:
        changes["attributes"] = attrs
    kind = "edit" if ev.kind is LeadEventKind.EDITED else "update"
    return [{"kind": kind, "n": n, "at": ev.at, "changes": changes}]


#: history entries kept per lead; beyond it the oldest after the first are dropped (counted)
MAX_HISTORY = 1000


def append_history(history: list[JSON], entries: list[JSON],
                   limit: int = MAX_HISTORY) -> list[JSON]:
    """`history` with `entries` appended (in place), bounded: the oldest entries after the
    first go, and a `{"kind": "dropped"}` entry second in line counts them, so a lead with
    thousands of links keeps a value of bounded size (the `leads` table, its changelog)."""
    history.extend(entries)
    over = len(history) - limit
    if over > 0 and len(history) > 2:
        marker = history[1] if history[1].get("kind") == "dropped" else None
        start = 2 if marker is not None else 1
        gone = history[start:start + over + (0 if marker is not None else 1)]
        del history[start:start + len(gone)]
        if marker is None:
            marker = {"kind": "dropped", "n": gone[0].get("n", 0), "count": 0}
            history.insert(1, marker)
        marker["count"] = int(marker["count"]) + len(gone)
    return history


def _hide(entry: JSON) -> JSON:
    """An edit without attribute values (personal data): only the names that changed."""
    changes = entry.get("changes")
    if not isinstance(changes, dict) or "attributes" not in changes:
        return entry
    rest = {k: v for k, v in changes.items() if k != "attributes"}
    return {**entry, "changes": {**rest, "attributes": sorted(changes["attributes"])}}


def build_timeline(lead: Lead, history: Iterable[Mapping[str, Any]],
                   include_attributes: bool = False) -> JSON:
    """The lead and its timeline: history entries and engine runs (`kind` engine), in order.
    Attribute values only with `include_attributes` (the admin token); names otherwise."""
    doc = lead.to_json()
    if not include_attributes:
        doc["attribute_names"] = sorted(doc.pop("attributes") or {})
    timeline: list[JSON] = []
    done = 0
    runs = lead.processing
    for h in history:
        n = min(int(h.get("n") or 0), len(runs))
        timeline.extend({"kind": "engine", **p} for p in runs[done:n])
        done = max(done, n)
        entry = {k: v for k, v in h.items() if k != "n"}
        timeline.append(entry if include_attributes else _hide(entry))
    timeline.extend({"kind": "engine", **p} for p in runs[done:])
    return {"lead": doc, "timeline": timeline}


__all__ = ["MAX_HISTORY", "append_history", "build_timeline", "history_entries"]
