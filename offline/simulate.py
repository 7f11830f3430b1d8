"""`python app.py simulate`: the streaming job's core, offline over JSON-lines files.

Every input is a stream of (line, topic, value) handled in order by `Simulation.handle`, the
offline twin of the job's agents: `--events FILE` (a merged replay of the input topics,
`{"topic": T, "value": {...}}` a line), or the older files: leads given with --leads are
registered first (topic lead-updates), then imports run (lead-imports), then interactions in
file order. Besides the outcomes, each record the job would dead-letter goes to
`dead_letters.jsonl` with its line, topic and reason code. The same input (and `now`) always
gives byte-identical output files.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import IO, Any

import orjson

from core.pipeline import Emitted, Pipeline
from core.validation import INVALID_JSON, INVALID_RECORD, UNKNOWN_TOPIC
from models.records import Outcome, OutcomeCode
from rules.compiled import Rules

PROGRESS_MIN_BYTES = 512 * 1024  # about a few thousand lines
_LINE = orjson.OPT_APPEND_NEWLINE

INTERACTIONS, FEED_CALLCENTER, FEED_WEB = "interactions", "feed.callcenter", "feed.web"
LEAD_UPDATES, LEAD_IMPORTS = "lead-updates", "lead-imports"
TOPICS = (INTERACTIONS, FEED_CALLCENTER, FEED_WEB, LEAD_UPDATES, LEAD_IMPORTS)
_FEED = {FEED_CALLCENTER: "callcenter", FEED_WEB: "web"}

Event = tuple[int, str, Any]  # (1-based line, topic, value: raw bytes, a mapping, or _BadLine)


@dataclass(frozen=True, slots=True)
class _BadLine:
    """An events-file line that names no record (it is dead-lettered as it is)."""

    code: str
    detail: str


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


def iter_events(path: Path, progress: bool = False) -> Iterator[Event]:
    """The lines of an events file. `value` is the record as an object, or a string holding
    the record's raw text (so a record that is not JSON can be replayed too)."""
    for n, raw in iter_lines(path, "events", progress):
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            yield n, "", _BadLine(INVALID_JSON, "(line): not valid JSON")
            continue
        if not isinstance(doc, dict):
            yield n, "", _BadLine(INVALID_JSON, "(line): not a JSON object")
            continue
        topic, value = doc.get("topic"), doc.get("value")
        if not isinstance(topic, str) or topic not in TOPICS:
            yield n, "", _BadLine(UNKNOWN_TOPIC, f"topic: must be one of {', '.join(TOPICS)}")
        elif isinstance(value, dict):
            yield n, topic, value
        elif isinstance(value, str):
            yield n, topic, value.encode()
        else:
            yield n, topic, _BadLine(INVALID_RECORD, "value: must be an object or a string")


def file_events(*, interactions: Path | None = None, leads: Path | None = None,
                imports: Path | None = None, progress: bool = False) -> Iterator[Event]:
    """The older inputs as one stream: leads, then imports, then interactions."""
    if leads is not None:
        for n, raw in iter_lines(leads, "leads", progress):
            yield n, LEAD_UPDATES, raw
    if imports is not None:
        from offline.import_files import iter_import_rows

        for n, row in iter_import_rows(imports):
            yield n, LEAD_IMPORTS, row
    if interactions is not None:
        for n, raw in iter_lines(interactions, "interactions", progress):
            yield n, INTERACTIONS, raw


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


class Simulation:
    """The pipeline plus what `simulate` writes, fed one (line, topic, value) at a time."""

    def __init__(self, rules: Rules, now: float, log: IO[str] | None = None) -> None:
        self.pipe = Pipeline(rules)
        self.now = now
        self.log = log
        self.links: list[dict[str, Any]] = []
        self.import_rows: list[dict[str, Any]] = []
        self.dead_letters: list[dict[str, Any]] = []
        self.book = OutcomeBook()

    def run(self, events: Iterable[Event]) -> None:
        for n, topic, value in events:
            self.handle(n, topic, value)

    def handle(self, line: int, topic: str, value: Any) -> None:
        """One record, as the job's agent for `topic` handles it; never raises for a record."""
        if isinstance(value, _BadLine):
            self._dead(line, topic or None, value.code, value.detail)
            return
        try:
            em = self._step(line, topic, value)
        except Exception as exc:  # as the job's agents: dead-lettered, processing goes on
            self._dead(line, topic, "error", f"(record): {type(exc).__name__}")
            return
        self.links.extend(lk.to_json() for lk in em.links)
        if em.code is not None:
            self._dead(line, topic, em.code, em.error or "")

    def _step(self, line: int, topic: str, value: Any) -> Emitted:
        pipe, now = self.pipe, self.now
        if topic == INTERACTIONS or topic in _FEED:
            em = (pipe.interaction(value, now) if topic == INTERACTIONS
                  else pipe.feed(_FEED[topic], value, now))
            self.book.record(line, em.outcomes)
        elif topic == LEAD_UPDATES:
            em = pipe.lead_update(value, now)
        elif topic == LEAD_IMPORTS:
            em = pipe.import_record(value, now)
            self.import_rows.extend({**r, "line": line} for r in em.import_results)
        else:
            raise ValueError(f"unknown topic {topic!r}")
        return em

    def _dead(self, line: int, topic: str | None, code: str, detail: str) -> None:
        self.dead_letters.append({"line": line, "topic": topic, "reason": code,
                                  "detail": detail})
        if self.log is not None and topic == LEAD_UPDATES:
            print(f"{topic}:{line}: refused ({code}): {detail}", file=self.log)

    def write(self, out: Path) -> dict[str, Any]:
        """Write the output files; returns the report."""
        pipe = self.pipe
        out.mkdir(parents=True, exist_ok=True)
        _write_jsonl(out / "leads.jsonl", (lead.to_json() for lead in pipe.leads.values()))
        _write_jsonl(out / "links.jsonl", self.links)
        _write_jsonl(out / "outcomes.jsonl", self.book.rows())
        _write_jsonl(out / "import_results.jsonl", self.import_rows)
        _write_jsonl(out / "dead_letters.jsonl", self.dead_letters)
        report = pipe.report_result()
        (out / "report.json").write_bytes(
            orjson.dumps(report, option=orjson.OPT_INDENT_2 | _LINE)
        )
        return report


def _write_jsonl(path: Path, rows: Any) -> None:
    with path.open("wb") as fh:
        for r in rows:
            fh.write(orjson.dumps(r, option=_LINE))


def run_simulation(rules: Rules, out: Path, *, interactions: Path | None = None,
                   leads: Path | None = None, imports: Path | None = None,
                   events: Path | None = None, now: float | None = None,
                   progress: bool = True, log: IO[str] | None = sys.stderr) -> dict[str, Any]:
    """Run the pipeline over the files and write the outputs; returns the report.

    `events` (a merged replay of the input topics) or the older `interactions` / `leads` /
    `imports` files, not both. `now` (epoch seconds) is the wall clock records are checked
    against (`profiles.max_future_skew_hours`); default: the time the run starts."""
    if events is not None and any(p is not None for p in (interactions, leads, imports)):
        raise ValueError("give events, or interactions/leads/imports, not both")
    sim = Simulation(rules, time.time() if now is None else now, log)
    sim.run(chain(
        file_events(interactions=interactions, leads=leads, imports=imports, progress=progress),
        iter_events(events, progress) if events is not None else (),
    ))
    return sim.write(out)
