"""The command line of leadstream (CONTRACT §8): `python app.py --help` lists every command.

Every command is one `Command` in `COMMANDS` (the only place to register one): its path
(``("rules", "push")``), a one-line help, a function adding its arguments (each with help
text) and the function that runs it. `worker` runs Faust's worker (job/worker.py) with
our settings only (environment variables: ``python app.py worker --help``); Faust's own
options and subcommands (agents, tables, send, ...) are not offered: they would bypass the
settings or need a module-level app.

Kept free of Faust imports so `simulate` and `rules` start fast and need no broker. Relative
paths given on the command line are relative to the current directory; the defaults
(``RULES_PATH``, ``DATA_DIR``) are in the repository, or under ``LEADSTREAM_HOME``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rules.compiled import Rules
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


def _load_or_report(path: str, refused: str) -> Rules | None:
    """The rules in `path`; None after printing `refused` and each error (stderr)."""
    try:
        return load_rules_file(path)
    except RulesError as exc:
        print(refused, file=sys.stderr)
        for e in exc.errors:
            print(f"  {e}", file=sys.stderr)
        return None


def _rules_validate(args: argparse.Namespace) -> int:
    rules = _load_or_report(args.file, f"INVALID {args.file}")
    if rules is None:
        return 1
    print(f"OK {rules.version}")
    return 0


def _redis_url(args: argparse.Namespace) -> str | None:
    return getattr(args, "redis_url", None) or os.environ.get("REDIS_URL")


def _rules_push(args: argparse.Namespace) -> int:
    rules = _load_or_report(args.file, f"refused {args.file}: nothing pushed")
    if rules is None:
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


def _rules_diff(args: argparse.Namespace) -> int:
    from offline.rules_diff import main as diff_main

    return diff_main(list(args.rest))


def _rules_show(args: argparse.Namespace) -> int:
    url = _redis_url(args)
    if url:
        from ops.rules_store import show_rules

        print(show_rules(url))
        return 0
    from streaming.settings import default_rules_path

    path = os.environ.get("RULES_PATH") or str(default_rules_path())
    try:
        rules = load_rules_file(path)
    except RulesError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"{rules.version} from file:{path}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from offline.import_files import main as import_main

    return import_main(list(args.rest))


def _worker(args: argparse.Namespace) -> int:
    from job.worker import main as worker_main

    if args.loglevel:
        os.environ["LOG_LEVEL"] = args.loglevel  # the worker reads its settings from there
    worker_main(["worker"])
    return 0


WORKER_SETTINGS = """settings (environment variables; CONTRACT §9, README "Deployment"):
  BROKER_URL        kafka://host:port[;kafka://host:port]; unset: an embedded broker (dev)
  REDIS_URL         rules store for hot reload; unset: RULES_PATH is watched
  RULES_PATH        rules config (default: config/rules.yaml in LEADSTREAM_HOME / the repo)
  DATA_DIR          RocksDB state (default: data/state)
  WEB_PORT          /metrics, /healthz, reports, ... (default 6066; WEB_BIND 127.0.0.1)
  TOPIC_PREFIX      prefix of every topic (default empty)
  ADMIN_TOKEN       bearer token of the admin endpoints
  LOG_LEVEL         DEBUG INFO WARNING ERROR (default INFO); LOG_FORMAT text | json
  TOPIC_PARTITIONS, TOPIC_REPLICATION, HEALTH_BROKER_TIMEOUT, HEALTH_STALL_TIMEOUT,
  STOP_TIMEOUT, EMBEDDED_BROKER_WARN_MB, BROKER_SSL*, BROKER_SASL_*: see the README"""


def _links_check(args: argparse.Namespace) -> int:
    from offline.links_check import main as links_check  # CONTRACT §12

    return links_check(list(args.rest))


def _worker_args(p: argparse.ArgumentParser) -> None:
    p.epilog = WORKER_SETTINGS
    p.add_argument("-l", "--loglevel", type=str.upper,
                   choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
                   help="log level (default: $LOG_LEVEL, else INFO)")


# ---------------------------------------------------------------- arguments
def _simulate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rules", required=True, metavar="FILE", help="rules config (YAML)")
    p.add_argument("--interactions", metavar="FILE",
                   help="interactions, one JSON record a line, handled in file order")
    p.add_argument("--leads", metavar="FILE",
                   help="leads to register first (lead records, one a line)")
    p.add_argument("--imports", metavar="FILE",
                   help="lead import records, run before the interactions")
    p.add_argument("--events", metavar="FILE",
                   help='a merged replay of the input topics: one {"topic": T, "value": {...}} '
                        "a line (instead of --interactions/--leads/--imports)")
    p.add_argument("--now", metavar="TIMESTAMP",
                   help="the wall clock records are checked against "
                        "(profiles.max_future_skew_hours); default: now")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="output folder: leads, links, outcomes, import results, report, "
                        "dead letters")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (shown on a terminal for files over 512 KiB)")


def _file_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="rules config (YAML)")


def _push_args(p: argparse.ArgumentParser) -> None:
    _file_arg(p)
    _redis_arg(p)


def _redis_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--redis-url", metavar="URL",
                   help="Redis holding the rules (default: $REDIS_URL)")


def _history_args(p: argparse.ArgumentParser) -> None:
    _redis_arg(p)
    p.add_argument("--json", action="store_true", help="one JSON line per entry, with its YAML")


def _rollback_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("version", help="a version listed by `rules history`")
    _redis_arg(p)


def _passthrough(p: argparse.ArgumentParser) -> None:
    p.add_argument("rest", nargs=argparse.REMAINDER,
                   help="the command's own arguments (see its --help)")


# ---------------------------------------------------------------- the registry
@dataclass(frozen=True)
class Command:
    """One command: `path` under `python app.py`, one line of help, its arguments, its run.
    `passthrough` commands parse their own arguments (and answer their own --help)."""

    path: tuple[str, ...]
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    passthrough: bool = False


#: Command groups (`rules ...`): one line of help each.
GROUPS: dict[str, str] = {
    "rules": "rules config: validate, push to Redis, show, diff, history, rollback",
    "links": "the link table: check its integrity",
}

#: Every command, in the order `--help` lists them. Add new commands here.
COMMANDS: list[Command] = [
    Command(("worker",), "run the streaming job (Faust worker; settings: worker --help)",
            _worker_args, _worker),
    Command(("simulate",), "run the engine offline over files (no broker, no Redis)",
            _simulate_args, _simulate),
    Command(("rules", "validate"), "check a rules file: OK <version>, or every error by path",
            _file_arg, _rules_validate),
    Command(("rules", "push"), "validate a rules file, store it in Redis, notify the workers",
            _push_args, _rules_push),
    Command(("rules", "show"), "the rules version in Redis (or RULES_PATH) and its source",
            _redis_arg, _rules_show),
    Command(("rules", "diff"), "replay a history under two configs and compare the leads",
            _passthrough, _rules_diff, passthrough=True),
    Command(("rules", "history"), "the pushed versions, newest first", _history_args,
            _rules_history),
    Command(("rules", "rollback"), "push a version from the history again", _rollback_args,
            _rules_rollback),
    Command(("import",), "validate a lead import file (CSV/JSONL), publish it to lead-imports",
            _passthrough, _import, passthrough=True),
    Command(("links", "check"), "integrity of the link table (orphans, unknown interactions "
            "and imports, leads without links); exit 1 when any", _passthrough, _links_check,
            passthrough=True),
]


def register(command: Command, group_help: str | None = None) -> None:
    """Add a command (other modules may call this; `COMMANDS` is the list)."""
    if group_help and len(command.path) > 1:
        GROUPS.setdefault(command.path[0], group_help)
    COMMANDS.append(command)


def _help_formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=34, width=100)


def build_parser() -> argparse.ArgumentParser:
    width = max(len(" ".join(c.path)) for c in COMMANDS) + 2
    listing = "\n".join(f"  {' '.join(c.path):<{width}}{c.help}" for c in COMMANDS)
    p = argparse.ArgumentParser(
        prog="python app.py", formatter_class=_help_formatter,
        description="leadstream: real-time lead engine (CONTRACT §8).\n\ncommands:\n" + listing,
        epilog="Settings come from the environment (CONTRACT §9: BROKER_URL, REDIS_URL, "
               "RULES_PATH, DATA_DIR, WEB_PORT, ...).\n`python app.py COMMAND --help` "
               "shows a command's options.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND",
                           help="one of the commands above")
    groups: dict[str, argparse._SubParsersAction[argparse.ArgumentParser]] = {}
    for cmd in COMMANDS:
        parent = sub
        if len(cmd.path) > 1:
            group = cmd.path[0]
            if group not in groups:
                gp = sub.add_parser(group,
                                    description=GROUPS.get(group), formatter_class=_help_formatter)
                groups[group] = gp.add_subparsers(dest=f"{group}_command", required=True,
                                                  metavar="SUBCOMMAND")
            parent = groups[group]
        kw = {"help": cmd.help} if len(cmd.path) > 1 else {}  # the top level lists them
        cp = parent.add_parser(cmd.path[-1], **kw, description=cmd.help,
                               add_help=not cmd.passthrough, formatter_class=_help_formatter)
        cmd.add_arguments(cp)
        cp.set_defaults(func=cmd.run)
    return p


def usage_lines() -> list[str]:
    """`python app.py <path>: help` for every command (README, tests)."""
    return [f"python app.py {' '.join(c.path)}: {c.help}" for c in COMMANDS]


def main(argv: list[str]) -> int:
    for cmd in COMMANDS:  # they parse their own arguments (REMAINDER cannot start with "-")
        n = len(cmd.path)
        if cmd.passthrough and tuple(argv[:n]) == cmd.path:
            return int(cmd.run(argparse.Namespace(rest=argv[n:])))
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
