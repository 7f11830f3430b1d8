"""`python app.py simulate`: the streaming job's core, offline over JSON-lines files.

Leads given with --leads are registered first, then imports run, then interactions in file
order. The same input always gives byte-identical output files.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from core import report as rep
from core.pipeline import Emitted, Pipeline
from models.records import Outcome, OutcomeCode
from rules.compiled import Rules

PROGRESS_MIN_BYTES = 512 * 1024  # about a few thousand lines
_LINE = orjson.OPT_APPEND_NEWLINE


def iter_lines(path: Path, label: str, progress: bool) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, raw line) for non-blank lines, with a progress bar on a terminal."""
    size = path.stat().st_size
    bar = None
    if progress and size >= PROGRESS_MIN_BYTES and sys.stderr.isatty():
        from tqdm import tqdm  # type: ignore[import-untyped]

        bar = tqdm(total=size, unit="B", unit_scale=True, desc=label, file=sys.stderr)
    with path.open("rb") as fh:
        for n, line in enumerate(fh, start=1):
            if bar is not None:
                bar.update(len(line))
            stripped = line.strip()
            if stripped:
                yield n, stripped
    if bar is not None:
        bar.close()


class OutcomeBook:
    """Keeps the final outcome of each input line; later records supersede PENDING ones."""

    def __init__(self) -> None:
        self.final: dict[int, Outcome] = {}
        self.line_of: dict[tuple[str | None, str | None], int] = {}

    def record(self, line: int, outcomes: list[Outcome]) -> None:
        for o in outcomes:
            key = (o.party_id, o.interaction_id)
            if o.was_pending:
                self.final[self.line_of[key]] = o
                continue
            self.final[line] = o
            if o.outcome not in (OutcomeCode.DUPLICATE, OutcomeCode.REJECTED):
                self.line_of[key] = line

    def rows(self) -> Iterator[dict[str, Any]]:
        for line in sorted(self.final):
            yield {"line": line, **self.final[line].to_json()}


def _write_jsonl(path: Path, rows: Any) -> None:
    with path.open("wb") as fh:
        for r in rows:
            fh.write(orjson.dumps(r, option=_LINE))


def run_simulation(rules: Rules, interactions: Path, out: Path, leads: Path | None = None,
                   imports: Path | None = None, progress: bool = True,
                   log: IO[str] = sys.stderr) -> dict[str, Any]:
    """Run the pipeline over the files and write the outputs; returns the report."""
    pipe = Pipeline(rules)
    links: list[dict[str, Any]] = []
    import_rows: list[dict[str, Any]] = []
    book = OutcomeBook()

    def collect(em: Emitted) -> None:
        links.extend(lk.to_json() for lk in em.links)

    if leads is not None:
        for n, raw in iter_lines(leads, "leads", progress):
            em = pipe.lead_update(raw)
            if em.error:
                print(f"{leads}:{n}: lead not registered: {em.error}", file=log)
    if imports is not None:
        from core.imports import InvalidImport
        from offline.import_files import iter_import_rows

        for n, row in iter_import_rows(imports):
            if isinstance(row, InvalidImport):
                result = row.to_result().to_json()
                rep.agg_import(pipe.report, result["result"])
                import_rows.append({**result, "line": n})
                continue
            em = pipe.import_record(row)
            collect(em)
            import_rows.extend({**r, "line": n} for r in em.import_results)
    for n, raw in iter_lines(interactions, "interactions", progress):
        em = pipe.interaction(raw)
        collect(em)
        book.record(n, em.outcomes)

    out.mkdir(parents=True, exist_ok=True)
    _write_jsonl(out / "leads.jsonl", (lead.to_json() for lead in pipe.leads.values()))
    _write_jsonl(out / "links.jsonl", links)
    _write_jsonl(out / "outcomes.jsonl", book.rows())
    _write_jsonl(out / "import_results.jsonl", import_rows)
    report = {"rules_version": rules.version, **rep.result(pipe.report),
              "leads": len(pipe.leads)}
    (out / "report.json").write_bytes(
        orjson.dumps(report, option=orjson.OPT_INDENT_2 | _LINE)
    )
    return report
