"""Integrity of the link table [AML_INTERACTION_LEADS checks] (CONTRACT §12), as pure functions.

`check(leads, links, interactions, import_ids)` lists, each with a count and the first 100
ids: links whose lead is missing or deleted (orphans), links whose interaction is not among
the known interactions, leads whose `interaction_ids` hold an id with no link to them, and
links naming an `import_interface_id` no import result knows. The offline command
(offline/links_check.py) and `GET /reports/integrity` both call it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

MAX_IDS = 100
CHECKS = ("orphan_links", "unknown_interactions", "leads_without_links", "unknown_imports")


def _listing(ids: Iterable[str], checked: bool = True) -> dict[str, Any]:
    seen = list(dict.fromkeys(ids))
    return {"count": len(seen), "ids": seen[:MAX_IDS], "checked": checked}


def check(leads: Iterable[Mapping[str, Any]], links: Iterable[Mapping[str, Any]],
          interactions: Iterable[str] | None = None,
          import_ids: Iterable[str] | None = None) -> dict[str, Any]:
    """The four lists. `leads`: the live lead snapshots (deleted ones left out or marked
    `deleted: true`); `interactions`/`import_ids`: None when not given (that list is then
    empty and marked `checked: false`). Ids in first-seen order."""
    live: dict[str, Mapping[str, Any]] = {}
    for lead in leads:
        lid = lead.get("lead_id")
        if not isinstance(lid, str):
            continue
        if lead.get("deleted") is True:
            live.pop(lid, None)
        else:
            live[lid] = lead
    link_rows = list(links)
    known_interactions = set(interactions) if interactions is not None else None
    known_imports = set(import_ids) if import_ids is not None else None
    orphans, unknown_i, unknown_imp = [], [], []
    linked: set[tuple[str, str]] = set()
    for lk in link_rows:
        ident = str(lk.get("interaction_lead_id"))
        iid, lid = lk.get("interaction_id"), lk.get("sales_lead_id")
        linked.add((str(iid), str(lid)))
        if lid not in live:
            orphans.append(ident)
        if known_interactions is not None and iid not in known_interactions:
            unknown_i.append(ident)
        imp = lk.get("import_interface_id")
        if known_imports is not None and imp is not None and imp not in known_imports:
            unknown_imp.append(ident)
    missing = [lid for lid, lead in live.items()
               if any((str(i), lid) not in linked for i in lead.get("interaction_ids") or [])]
    return {
        "orphan_links": _listing(orphans),
        "unknown_interactions": _listing(unknown_i, known_interactions is not None),
        "leads_without_links": _listing(missing),
        "unknown_imports": _listing(unknown_imp, known_imports is not None),
    }


def clean(result: Mapping[str, Any]) -> bool:
    """Whether every list is empty."""
    return all(result[c]["count"] == 0 for c in CHECKS)
