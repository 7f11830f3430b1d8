"""`python app.py rules diff NEW`: what would change if NEW were in force (CONTRACT §13).

Replays one history twice with the core `simulate` runs, once under the base rules (default:
the rules in force: Redis `leadstream:rules` when REDIS_URL is set, else RULES_PATH) and once
under NEW, then compares the leads (`offline.lead_diff`). Writes, under `--out DIR`:
`diff.jsonl` (one line per lead that differs, sorted by lead_id), `summary.json`, the two
full simulate outputs in `base/` and `new/`, and for `--from-topic` the history read, as
`events.jsonl`, so the same preview can be run again offline. Without `--out` the files go to
a temporary folder that is removed; only the summary is printed.

Exit status: 0 whether or not the configs differ (a preview, not a check); 1 when NEW (or
the base) does not validate; 2 when the command cannot run (missing file, no broker).
"""

from __future__ import annotations

import argparse
import inspect
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from offline.lead_diff import diff_leads, render, summarize
from rules.compiled import Rules
from rules.loader import RulesError, load_rules_file, load_rules_text

_LINE = orjson.OPT_APPEND_NEWLINE


class DiffError(Exception):
    """The command cannot run; the message says why (exit status `code`)."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class History:
    """What to replay: an events file, or the simulate input files."""

    events: Path | None = None
    interactions: Path | None = None
    leads: Path | None = None
    imports: Path | None = None

    def describe(self) -> str:
        if self.events is not None:
            return f"events {self.events}"
        return ", ".join(f"{k} {v}" for k, v in (
            ("interactions", self.interactions), ("leads", self.leads),
            ("imports", self.imports)) if v is not None)


# ---------------------------------------------------------------------------- base rules
def base_rules(path: str | None, env: Mapping[str, str] | None = None,
               redis_url: str | None = None) -> Rules:
    """--base FILE, else the rules in force: Redis when REDIS_URL is set, else RULES_PATH."""
    env = os.environ if env is None else env
    if path:
        return load_rules_file(path)
    url = redis_url or env.get("REDIS_URL")
    if url:
        from ops.rules_store import fetch_stored, redacted

        stored = fetch_stored(url)  # RulesStoreError (a SystemExit) names the problem
        if stored is None:
            raise DiffError(f"no rules in force: leadstream:rules is not set at "
                            f"{redacted(url)}; give --base FILE")
        return load_rules_text(stored.yaml, source="redis")
    from streaming.settings import default_rules_path

    return load_rules_file(env.get("RULES_PATH") or default_rules_path(env))


# ---------------------------------------------------------------------------- replay
def replay(rules: Rules, history: History, out: Path, *, progress: bool = True,
           log: IO[str] = sys.stderr) -> dict[str, Any]:
    """Run `simulate` over `history` into `out`; returns its report."""
    from offline import simulate

    run = simulate.run_simulation
    params = inspect.signature(run).parameters
    if history.events is not None and "events" not in params:
        return _replay_events(rules, history.events, out, progress=progress)
    kwargs: dict[str, Any] = {"out": out, "interactions": history.interactions,
                              "leads": history.leads, "imports": history.imports,
                              "progress": progress}
    if "events" in params:
        kwargs["events"] = history.events
    if "log" in params:
        kwargs["log"] = log
    report: dict[str, Any] = run(rules, **kwargs)
    return report


def _replay_events(rules: Rules, events: Path, out: Path, *, progress: bool) -> dict[str, Any]:
    """`simulate --events` for a build whose `run_simulation` has no `events` yet: each line
    `{"topic", "value"}` to the pipeline step the streaming job runs for that topic."""
    from core import report as rep
    from core.pipeline import Pipeline, rejected
    from offline.simulate import iter_lines
    from streaming.feeds import FeedError, feed_to_interaction

    pipe = Pipeline(rules)
    for _, raw in iter_lines(events, "events", progress):
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(doc, dict):
            continue
        topic, value = doc.get("topic"), doc.get("value")
        body = value.encode() if isinstance(value, str) else orjson.dumps(value)
        if topic == "interactions":
            pipe.interaction(body)
        elif topic in ("feed.callcenter", "feed.web"):
            try:
                mapped = feed_to_interaction(str(topic).removeprefix("feed."), body, rules)
            except FeedError as err:  # as the feeds agent: REJECTED when the id is known
                if err.interaction_id is not None:
                    rep.agg(pipe.report, rejected(err, rules))
                continue
            pipe.interaction(orjson.dumps(mapped))
        elif topic == "lead-updates":
            pipe.lead_update(body)
        elif topic == "lead-imports":
            pipe.import_record(body)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "leads.jsonl").open("wb") as fh:
        for lead in pipe.leads.values():
            fh.write(orjson.dumps(lead.to_json(), option=_LINE))
    report = {"rules_version": rules.version, **rep.result(pipe.report),
              "leads": len(pipe.leads)}
    (out / "report.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2 | _LINE))
    return report


def _read_leads(path: Path) -> dict[str, dict[str, Any]]:
    leads: dict[str, dict[str, Any]] = {}
    with path.open("rb") as fh:
        for line in fh:
            if line.strip():
                lead = orjson.loads(line)
                leads[lead["lead_id"]] = lead
    return leads


# ---------------------------------------------------------------------------- the command
@dataclass(slots=True)
class DiffResult:
    lines: list[dict[str, Any]]
    summary: dict[str, Any]
    text: str


def run_diff(base: Rules, new: Rules, history: History, out: Path, *,
             progress: bool = True) -> DiffResult:
    """Replay `history` under both configs into `out/base` and `out/new`; write
    `out/diff.jsonl` and `out/summary.json`."""
    reports = {}
    for name, rules in (("base", base), ("new", new)):
        reports[name] = replay(rules, history, out / name, progress=progress)
    before, after = _read_leads(out / "base" / "leads.jsonl"), _read_leads(
        out / "new" / "leads.jsonl")
    lines = diff_leads(before, after)
    with (out / "diff.jsonl").open("wb") as fh:
        for line in lines:
            fh.write(orjson.dumps(line, option=_LINE))
    s = summarize(before, after, lines, reports["base"].get("total"),
                  reports["new"].get("total"))
    head = (f"rules diff: base {base.version} ({base.source}) -> new {new.version} "
            f"({new.source}) over {history.describe()}")
    if base.version == new.version:
        head += "\n  (the two configs have the same rules_version)"
    summary = {"base": {"version": base.version, "source": base.source},
               "new": {"version": new.version, "source": new.source}, **s.to_json()}
    (out / "summary.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2 | _LINE))
    return DiffResult(lines, summary, head + "\n" + render(s))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python app.py rules diff",
        description="Replay a history under the rules in force (or --base) and under NEW, "
                    "and show which leads would change.")
    p.add_argument("new", metavar="NEW", help="the rules config to preview")
    p.add_argument("--base", help="compare against this file instead of the rules in force "
                                  "(Redis leadstream:rules when REDIS_URL is set, else RULES_PATH)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--events", help="a merged replay, one {topic, value} line each")
    src.add_argument("--interactions", help="interactions, one JSON record a line")
    src.add_argument("--from-topic", action="store_true",
                     help="read the history from the broker's input topics (with --since)")
    p.add_argument("--leads", help="with --interactions: leads to register first")
    p.add_argument("--imports", help="with --interactions: lead imports to run first")
    p.add_argument("--since", help="with --from-topic: how far back (7d, 36h, 1d12h, or an "
                                   "ISO-8601 timestamp)")
    p.add_argument("--redis-url", help="where the rules in force are (default: $REDIS_URL)")
    p.add_argument("--out", help="write diff.jsonl, summary.json, base/ and new/ here")
    p.add_argument("--no-progress", action="store_true")
    return p


def _history(args: argparse.Namespace, out: Path, err: IO[str]) -> History:
    if args.from_topic:
        return _topic_history(args, out, err)
    if args.since:
        raise DiffError("--since goes with --from-topic")
    if args.events and (args.leads or args.imports):
        raise DiffError("--leads and --imports go with --interactions, not --events")
    h = History(events=_file(args.events), interactions=_file(args.interactions),
                leads=_file(args.leads), imports=_file(args.imports))
    return h


def _file(p: str | None) -> Path | None:
    if p is None:
        return None
    if not Path(p).is_file():
        raise DiffError(f"rules diff: no such file: {p}")
    return Path(p)


def _topic_history(args: argparse.Namespace, out: Path, err: IO[str]) -> History:
    from offline.import_files import default_bootstrap
    from offline.topic_history import parse_since, read_history

    if not args.since:
        raise DiffError("--from-topic needs --since (e.g. --since 7d)")
    if args.leads or args.imports:
        raise DiffError("--leads and --imports go with --interactions, not --from-topic")
    try:
        since = parse_since(args.since)
    except ValueError as exc:
        raise DiffError(str(exc)) from None
    bootstrap = default_bootstrap(dict(os.environ))
    if not bootstrap:
        raise DiffError("rules diff --from-topic: no broker: set BROKER_URL, or run a worker "
                        "with the embedded broker (it writes $DATA_DIR/broker.url)")
    prefix = os.environ.get("TOPIC_PREFIX", "")
    out.mkdir(parents=True, exist_ok=True)
    path = out / "events.jsonl"
    try:
        hist = read_history(bootstrap, prefix, since, path, progress=not args.no_progress)
    except Exception as exc:  # broker unreachable, metadata errors...
        raise DiffError(f"rules diff --from-topic: reading {bootstrap} failed: "
                        f"{type(exc).__name__}: {exc}") from None
    counts = ", ".join(f"{t} {n}" for t, n in hist.per_topic.items() if n) or "no records"
    skipped = ""
    if hist.forwards_skipped or hist.undecodable_skipped:
        skipped = (f" (left out: {hist.forwards_skipped} forwarded by the job, "
                   f"{hist.undecodable_skipped} not JSON objects)")
    print(f"read {hist.events} records since {since.isoformat(timespec='seconds')} "
          f"from {bootstrap}: {counts}{skipped}", file=err)
    return History(events=path)


def main(argv: list[str], out_stream: IO[str] = sys.stdout, err: IO[str] = sys.stderr) -> int:
    args = build_parser().parse_args(argv)
    try:
        new = load_rules_file(args.new)
    except RulesError as exc:
        print(f"rules diff: {args.new} does not validate", file=err)
        for e in exc.errors:
            print(f"  {e}", file=err)
        return 1
    if args.interactions is None and (args.leads or args.imports) and not args.from_topic:
        print("rules diff: --leads and --imports go with --interactions", file=err)
        return 2
    keep = args.out is not None
    out = Path(args.out) if keep else Path(tempfile.mkdtemp(prefix="rules-diff-"))
    try:
        try:
            base = base_rules(args.base, redis_url=args.redis_url)
        except RulesError as exc:
            print(f"rules diff: the base rules ({args.base or 'in force'}) do not validate",
                  file=err)
            for e in exc.errors:
                print(f"  {e}", file=err)
            return 1
        history = _history(args, out, err)
        out.mkdir(parents=True, exist_ok=True)
        from ops.gc_tuning import tune_gc

        tune_gc()
        result = run_diff(base, new, history, out, progress=not args.no_progress)
    except DiffError as exc:
        print(exc, file=err)
        return exc.code
    finally:
        if not keep:
            shutil.rmtree(out, ignore_errors=True)
    print(result.text, file=out_stream)
    where = f"{out / 'diff.jsonl'}" if keep else "not kept (give --out DIR)"
    print(f"diff: {len(result.lines)} lead(s) differ -> {where}", file=out_stream)
    return 0
