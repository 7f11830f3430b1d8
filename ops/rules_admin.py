"""`rules history` and `rules rollback` (CONTRACT §13): the CLI side of `ops.rules_store`.

Kept out of `cli.py` so the command module stays a thin router. Both need Redis: with only
`RULES_PATH` there is no history (the file's own version control is the history then).
"""

from __future__ import annotations

import sys
from typing import IO

import orjson

from ops.rules_store import HISTORY_KEY, fetch_history, fetch_stored, redacted, rollback_rules
from rules.loader import RulesError, load_rules_text

NO_REDIS = "REDIS_URL is not set: the rules history is kept only in Redis"


def history_command(url: str | None, *, as_json: bool = False,
                    out: IO[str] = sys.stdout, err: IO[str] = sys.stderr) -> int:
    """Print the history, newest first: a table, or JSON lines (with the YAML)."""
    if not url:
        print(f"rules history: {NO_REDIS}", file=err)
        return 2
    history = fetch_history(url)
    current = fetch_stored(url)
    in_force = current.version if current else None
    if as_json:
        for e in history:
            out.write(orjson.dumps({**e.to_json(), "in_force": e.version == in_force}).decode()
                      + "\n")
        return 0
    if not history:
        print(f"no rules history in redis ({HISTORY_KEY} is empty at {redacted(url)})", file=out)
        return 0
    rows = [("VERSION", "PUSHED AT", "PUSHED BY", "")]
    marked = False
    for e in history:
        mark = ""
        if e.version == in_force and not marked:  # the newest entry of that version
            mark, marked = "in force", True
        rows.append((e.version, e.pushed_at or "?", e.pushed_by or "?", mark))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[3],
              file=out)
    return 0


def _validate(text: str) -> str:
    return load_rules_text(text, source="rollback").version


def rollback_command(url: str | None, version: str, *,
                     out: IO[str] = sys.stdout, err: IO[str] = sys.stderr) -> int:
    """Push `version` from the history again; 1 when it is unknown or no longer valid."""
    if not url:
        print(f"rules rollback: {NO_REDIS}", file=err)
        return 2
    try:
        res = rollback_rules(url, version, validate=_validate)
    except RulesError as exc:
        print(f"rules rollback: version {version} no longer validates: nothing pushed", file=err)
        for e in exc.errors:
            print(f"  {e}", file=err)
        return 1
    if not res.pushed:
        print(f"{res.version} is already in force: nothing pushed", file=out)
        return 0
    print(f"rolled back to {res.version} (was {res.previous or 'none'}); "
          f"{res.receivers} subscriber(s) notified", file=out)
    return 0
