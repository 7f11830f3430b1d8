"""`python app.py links check --leads F --links F [--interactions F] [--import-results F]`.

Reads JSON-lines files (a `simulate` output directory, or dumps of the job's topics) and prints
the integrity lists of core/integrity.py as JSON; exit status 1 when any list is not empty,
2 when a file cannot be read. `--interactions` takes an interactions file, an events file
(`{"topic", "value"}` lines: interactions and the feeds, whose ids are `cc-<call_id>` and
`web-<event_id>`) or an `outcomes.jsonl`; its lines that are not JSON (rejected records)
are skipped. A later line for the same lead replaces an earlier
one, and a line `{"lead_id": X, "deleted": true}` (or a tombstone in a topic dump) removes it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from core.integrity import check, clean


class Unreadable(Exception):
    pass


def _rows(path: Path, *, lenient: bool = False) -> Iterator[dict[str, Any]]:
    """JSON objects, one a line; a line that is not JSON is an error, or (`lenient`: an
    input file, where such a line is a REJECTED record) skipped."""
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise Unreadable(f"{path}: {exc.strerror or exc}") from None
    with fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                doc = orjson.loads(line)
            except orjson.JSONDecodeError:
                if lenient:
                    continue
                raise Unreadable(f"{path}:{n}: not valid JSON") from None
            if isinstance(doc, dict):
                yield doc


def _interaction_ids(path: Path) -> Iterator[str]:
    for doc in _rows(path, lenient=True):
        topic, value = doc.get("topic"), doc.get("value")
        if isinstance(topic, str) and isinstance(value, dict):
            if topic == "interactions" or topic.endswith(".interactions"):
                iid = value.get("interaction_id")
            elif topic.endswith("feed.callcenter"):
                iid = f"cc-{value['call_id']}" if value.get("call_id") is not None else None
            elif topic.endswith("feed.web"):
                iid = f"web-{value['event_id']}" if value.get("event_id") is not None else None
            else:
                continue
        else:
            if doc.get("outcome") == "REJECTED":
                continue
            iid = doc.get("interaction_id")
        if iid is not None:
            yield str(iid)


def run(leads: Path, links: Path, interactions: Path | None = None,
        import_results: Path | None = None) -> dict[str, Any]:
    imports = None
    if import_results is not None:
        imports = [str(d["import_interface_id"]) for d in _rows(import_results)
                   if d.get("import_interface_id") is not None]
    return check(
        _rows(leads), _rows(links),
        list(_interaction_ids(interactions)) if interactions is not None else None,
        imports,
    )


def main(argv: list[str], out: IO[str] = sys.stdout, err: IO[str] = sys.stderr) -> int:
    p = argparse.ArgumentParser(prog="python app.py links check",
                                description="integrity of the link table (CONTRACT §12)")
    p.add_argument("--leads", required=True, type=Path)
    p.add_argument("--links", required=True, type=Path)
    p.add_argument("--interactions", type=Path)
    p.add_argument("--import-results", type=Path)
    args = p.parse_args(argv)
    try:
        result = run(args.leads, args.links, args.interactions, args.import_results)
    except Unreadable as exc:
        print(f"links check: {exc}", file=err)
        return 2
    out.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
    if not clean(result):
        found = ", ".join(f"{k} {v['count']}" for k, v in result.items() if v["count"])
        print(f"links check: found {found}", file=err)
        return 1
    return 0
