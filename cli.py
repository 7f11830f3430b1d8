"""Command line of leadstream (CONTRACT §8), except `worker`, which belongs to Faust.

Kept free of Faust imports so `simulate` and `rules` start fast and need no broker.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rules.loader import RulesError, load_rules_file

REDIS_KEY = "leadstream:rules"
REDIS_CHANNEL = "leadstream:rules:changed"


def _simulate(args: argparse.Namespace) -> int:
    from models.timefmt import BadTimestamp, parse_epoch_or_iso
    from offline.simulate import run_simulation
    from ops.gc_tuning import tune_gc

    if (args.events is None) == (args.interactions is None):
        print("simulate: give --events FILE, or --interactions FILE [--leads F] [--imports F]",
              file=sys.stderr)
        return 2
    if args.events is not None and (args.leads or args.imports):
        print("simulate: --leads/--imports go with --interactions, not with --events",
              file=sys.stderr)
        return 2
    now = None
    if args.now is not None:
        try:
            now = parse_epoch_or_iso(args.now, "--now")[1]
        except BadTimestamp:
            print("simulate: --now must be an ISO-8601 timestamp with offset or epoch seconds",
                  file=sys.stderr)
            return 2
    try:
        rules = load_rules_file(args.rules)
    except RulesError as exc:
        print(exc, file=sys.stderr)
        return 2
    for p in (args.interactions, args.leads, args.imports, args.events):
        if p is not None and not Path(p).is_file():
            print(f"simulate: no such file: {p}", file=sys.stderr)
            return 2
    tune_gc()

    def path(p: str | None) -> Path | None:
        return Path(p) if p else None

    report = run_simulation(
        rules, Path(args.out), interactions=path(args.interactions), leads=path(args.leads),
        imports=path(args.imports), events=path(args.events), now=now,
        progress=not args.no_progress,
    )
    t = report["total"]
    print(f"rules {rules.version}: {t['interactions']} interactions, {report['leads']} leads, "
          f"{t['leads_created']} created, {t['linked_existing']} linked to existing, "
          f"{t['pending']} pending, {t['expired']} expired, {t['rejected']} rejected "
          f"-> {args.out}")
    return 0


def _rules_validate(args: argparse.Namespace) -> int:
    try:
        rules = load_rules_file(args.file)
    except RulesError as exc:
        print(f"INVALID {args.file}", file=sys.stderr)
        for e in exc.errors:
            print(f"  {e}", file=sys.stderr)
        return 1
    print(f"OK {rules.version}")
    return 0


def _redis_url(args: argparse.Namespace) -> str | None:
    return getattr(args, "redis_url", None) or os.environ.get("REDIS_URL")


def _rules_push(args: argparse.Namespace) -> int:
    try:
        rules = load_rules_file(args.file)
    except RulesError as exc:
        print(f"refused {args.file}: nothing pushed", file=sys.stderr)
        for e in exc.errors:
            print(f"  {e}", file=sys.stderr)
        return 1
    url = _redis_url(args)
    if not url:
        print("rules push: REDIS_URL is not set", file=sys.stderr)
        return 2
    from ops.rules_store import push_config

    res = push_config(url, Path(args.file).read_text(encoding="utf-8"), rules.version)
    if not res.pushed:
        print(f"{rules.version} is already in force: nothing pushed")
        return 0
    print(f"pushed {rules.version} to {REDIS_KEY} (was {res.previous or 'none'}); "
          f"{res.receivers} subscriber(s) notified")
    return 0


def _rules_history(args: argparse.Namespace) -> int:
    from ops.rules_admin import history_command

    return history_command(_redis_url(args), as_json=args.json)


def _rules_rollback(args: argparse.Namespace) -> int:
    from ops.rules_admin import rollback_command

    return rollback_command(_redis_url(args), args.version)


def _rules_diff(argv: list[str]) -> int:
    from offline.rules_diff import main as diff_main

    return diff_main(argv)


def _rules_show(args: argparse.Namespace) -> int:
    url = _redis_url(args)
    if url:
        from ops.rules_store import show_rules

        print(show_rules(url))
        return 0
    path = os.environ.get("RULES_PATH", "config/rules.yaml")
    try:
        rules = load_rules_file(path)
    except RulesError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"{rules.version} from file:{path}")
    return 0


def _import(argv: list[str]) -> int:
    from offline.import_files import main as import_main

    return import_main(argv)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python app.py", description="leadstream commands")
    sub = p.add_subparsers(dest="command", required=True)
    sim = sub.add_parser("simulate", help="run the engine offline over files")
    sim.add_argument("--rules", required=True)
    sim.add_argument("--interactions")
    sim.add_argument("--leads")
    sim.add_argument("--imports")
    sim.add_argument("--events", help="a merged replay of the input topics: one "
                     '{"topic": T, "value": {...}} a line')
    sim.add_argument("--now", help="the wall clock records are checked against "
                     "(profiles.max_future_skew_hours); default: now")
    sim.add_argument("--out", required=True)
    sim.add_argument("--no-progress", action="store_true")
    sim.set_defaults(func=_simulate)
    rules = sub.add_parser("rules", help="validate, push or show the rules config")
    rsub = rules.add_subparsers(dest="rules_command", required=True)
    v = rsub.add_parser("validate")
    v.add_argument("file")
    v.set_defaults(func=_rules_validate)
    push = rsub.add_parser("push")
    push.add_argument("file")
    push.add_argument("--redis-url")
    push.set_defaults(func=_rules_push)
    show = rsub.add_parser("show")
    show.add_argument("--redis-url")
    show.set_defaults(func=_rules_show)
    hist = rsub.add_parser("history", help="the pushed versions, newest first")
    hist.add_argument("--redis-url")
    hist.add_argument("--json", action="store_true", help="one JSON line per entry, with its YAML")
    hist.set_defaults(func=_rules_history)
    back = rsub.add_parser("rollback", help="push a version from the history again")
    back.add_argument("version")
    back.add_argument("--redis-url")
    back.set_defaults(func=_rules_rollback)
    rsub.add_parser("diff", help="replay a history under two configs and compare the leads "
                                 "(python app.py rules diff --help)", add_help=False)
    return p


def main(argv: list[str]) -> int:
    if argv and argv[0] == "import":
        return _import(argv[1:])
    if argv[:2] == ["rules", "diff"]:
        return _rules_diff(argv[2:])
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
