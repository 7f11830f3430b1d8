"""`python app.py worker`: settings, rules, (embedded broker), the Faust app, `app.main()`.

With ``BROKER_URL`` unset, the bundled Kafka-compatible broker (Tansu, `streaming.broker`)
is started on a free loopback port, its URL written to ``$DATA_DIR/broker.url`` (read by
``python app.py import`` and ``make run``), and stopped when the worker exits. It keeps its
topics in memory, so the worker's local state (``$DATA_DIR/faust``) is cleared at each such
start: state that outlived its topics would skip the new topics' offsets.

After a stop that was not clean (SIGKILL, OOM, power loss: the marker file
``$DATA_DIR/worker.running`` is still there), the local table state is cleared too and
rebuilt from the changelog topics. Local RocksDB writes are immediate while the outputs
of the same event sit a few milliseconds in the producer's buffer, so after a hard kill the
local state can be ahead of the outputs; the changelog is written after the outputs by the
same producer, so the state rebuilt from it is not (see agents/matching.py).

Other arguments go to Faust's worker command (``python app.py worker --help``); the log
level defaults to ``LOG_LEVEL``. The event loop is ``EVENT_LOOP`` (default: uvloop when
installed), set before Faust is imported.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streaming.logs import setup_early_logging
from streaming.settings import (
    FETCH_WAIT_MS_EMBEDDED,
    FETCH_WAIT_MS_FAUST,
    Settings,
    SettingsError,
    load_settings,
)

if TYPE_CHECKING:
    from streaming.broker import EmbeddedBroker

log = logging.getLogger("leadstream.worker")

#: Loggers whose DEBUG calls sit on the per-message path (aiokafka's send/connection,
#: Faust's topic publishing): pinned to the worker's level so no DEBUG record is built.
_QUIET_LOGGERS = ("aiokafka", "faust", "mode", "kafka", "rocksdict")

HELP_FLAGS = {"--help"}
_FAUST_LEVELS = {"DEBUG": "debug", "INFO": "info", "WARNING": "warn", "ERROR": "error",
                 "CRITICAL": "crit"}


def _load_rules(settings: Settings) -> object:
    from rules.holder import RulesHolder
    from rules.loader import RulesError, load_rules_file

    try:
        try:
            from ops.install import initial_rules
        except ImportError:
            rules = load_rules_file(settings.rules_path)
        else:
            rules = initial_rules(settings)
    except RulesError as exc:
        log.error("rules %s refused:\n%s", settings.rules_path,
                  "\n".join(f"  {e}" for e in exc.errors))
        raise SystemExit(2) from None
    return RulesHolder(rules)


def _pin_log_levels(level: str) -> None:
    lvl = getattr(logging, level)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(lvl, logging.INFO))


def use_event_loop(name: str) -> str:
    """Make `name` (asyncio|uvloop) the event loop of this process; returns the one in use.

    Faust picks its loop at ``import faust`` (``--loop``/``-L`` in argv, or ``FAUST_LOOP``/
    ``F_LOOP``), before `main` could set argv; so this runs before Faust is imported, sets the
    asyncio policy itself and leaves Faust nothing to override."""
    for var in ("FAUST_LOOP", "F_LOOP"):
        os.environ.pop(var, None)
    if name == "uvloop":
        try:
            import uvloop
        except ImportError:
            print("worker: EVENT_LOOP=uvloop but uvloop is not installed: using asyncio",
                  file=sys.stderr)
            return "asyncio"
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        return "uvloop"
    if "faust" in sys.modules and not isinstance(asyncio.get_event_loop_policy(),
                                                 asyncio.DefaultEventLoopPolicy):
        asyncio.set_event_loop_policy(asyncio.DefaultEventLoopPolicy())
    return "asyncio"


def faust_argv(prog: str, args: Sequence[str], level: str, *, quiet: bool = False) -> list[str]:
    """The argv for Faust's CLI: ``[prog, worker, -l level, *rest]`` (the loop is chosen by
    `use_event_loop`, not by ``--loop``); `quiet` (JSON logs) drops Faust's console banner
    and progress output, so every line of the output is a log record."""
    args = list(args)
    if not args or args[0] != "worker":
        return [prog, *args]
    rest = args[1:]
    has_level = any(a in ("-l", "--loglevel") or a.startswith("--loglevel=") for a in rest)
    level_args = [] if has_level else ["-l", _FAUST_LEVELS.get(level, "info")]
    return [prog, *(["--quiet"] if quiet else []), "worker", *level_args, *rest]


def _log_runtime(app: Any, settings: Settings) -> None:
    """One INFO line at start with the loop actually running and the Faust patch options."""
    from tables import engine_internals

    async def leadstream_runtime() -> None:
        loop = asyncio.get_running_loop()
        o = engine_internals.OPTIONS
        wait = FETCH_WAIT_MS_FAUST if o.fetch_max_wait_ms is None else o.fetch_max_wait_ms
        active = [k for k, on in engine_internals.broker_workarounds_active().items() if on]
        log.info("leadstream runtime: event loop %s.%s; fetch wait %s ms; log end probe %s; "
                 "drain fast path %s; broker workarounds: %s", type(loop).__module__,
                 type(loop).__qualname__, wait, "on" if o.log_end_probe else "off",
                 "on" if o.drain_fast_path else "off", ", ".join(active) or "none")

    app.task(leadstream_runtime)


#: the Faust release tables/engine_internals.py was made and tested for (pyproject pins it)
FAUST_VERSION = "0.15.3"


def check_faust_version(version: str | None = None) -> str | None:
    """None when the installed Faust is the one the patches are for, else the problem."""
    if version is None:
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as dist_version

        try:
            version = dist_version("faust-streaming")
        except PackageNotFoundError:
            return "faust-streaming is not installed"
    if version != FAUST_VERSION:
        return (f"faust-streaming {version} is installed, but the worker's fixes "
                f"(tables/engine_internals.py) are made for {FAUST_VERSION} only: install "
                f"faust-streaming=={FAUST_VERSION} (pip install -c constraints.txt -e .)")
    return None


def previous_stop(data_dir: Path) -> str:
    """How the last worker on `data_dir` stopped: clean, unclean, fail_stop, stop_timeout
    (``last-exit`` written by streaming/shutdown.py, else the ``worker.running`` marker)."""
    last_exit = data_dir / "last-exit"
    kind = None
    with contextlib.suppress(OSError):
        kind = last_exit.read_text().strip() or None
        last_exit.unlink()
    if kind in ("fail_stop", "stop_timeout"):
        return kind
    return "unclean" if (data_dir / "worker.running").exists() else "clean"


def start_embedded_broker(settings: Settings) -> tuple[Settings, EmbeddedBroker]:
    from streaming.broker import EmbeddedBroker

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    broker = EmbeddedBroker(log_dir=settings.data_dir / "broker", die_with_parent=True)
    broker.start()
    shutil.rmtree(settings.faust_datadir, ignore_errors=True)
    settings.broker_url_file.write_text(broker.url + "\n")
    log.info("embedded broker %s (in memory; log %s)", broker.url, broker.log_path)
    update: dict[str, object] = {"broker_url": broker.url,
                                  "embedded_broker_pid": getattr(broker, "pid", None)}
    if settings.broker_log_end_probe is None:  # Tansu under-reports log ends (engine_internals)
        update["broker_log_end_probe"] = True
    if settings.consumer_fetch_max_wait_ms is None:  # Tansu holds idle fetches that long
        update["consumer_fetch_max_wait_ms"] = FETCH_WAIT_MS_EMBEDDED
    return settings.model_copy(update=update), broker


def wait_for_broker(settings: Settings, sleep: float = 0.5) -> bool:
    """Wait up to ``BROKER_WAIT_TIMEOUT`` s until one of ``BROKER_URL``'s hosts answers.

    Faust's worker exits at once ("Unable to bootstrap") when no broker answers at start, so a
    worker started before its broker (a container that comes up first, a broker restarting)
    would crash-loop; this waits instead. Plaintext: a Kafka ApiVersions request must succeed;
    with TLS or SASL a TCP connect is enough (the client does the handshake). Once running,
    aiokafka reconnects by itself (a paused or restarted broker is tested in
    tests/streaming/test_reliability.py)."""
    import socket
    import time

    from streaming.broker import kafka_api_versions_ok

    hosts = []
    for hp in settings.bootstrap_servers().split(","):
        host, _, port = hp.rpartition(":")
        hosts.append((host, int(port)))
    plain = not settings.broker_ssl and settings.broker_sasl_mechanism is None

    def answers(host: str, port: int) -> bool:
        if plain:
            return kafka_api_versions_ok(host, port, timeout=1.0)
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return True
        except OSError:
            return False

    deadline = time.monotonic() + settings.broker_wait_timeout
    told = False
    while True:
        if any(answers(h, p) for h, p in hosts):
            if told:
                log.info("broker is up")
            return True
        if time.monotonic() >= deadline:
            return False
        if not told:
            log.warning("waiting up to %.0fs for the broker at %s", settings.broker_wait_timeout,
                        settings.broker_url)
            told = True
        time.sleep(sleep)


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    prog = os.path.basename(sys.argv[0]) if sys.argv else "app.py"
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"worker: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    use_event_loop(settings.resolved_event_loop())  # before anything imports Faust
    wants_help = bool(HELP_FLAGS.intersection(args))
    running_worker = bool(args) and args[0] == "worker" and not wants_help
    if running_worker:
        setup_early_logging(settings.log_format, settings.log_level)
        problem = check_faust_version()
        if problem is not None:
            log.error("%s", problem)
            raise SystemExit(2)
    holder = _load_rules(settings)

    broker = None
    if settings.broker_url is None:
        if running_worker:
            settings, broker = start_embedded_broker(settings)
        else:  # help, or a Faust command that does not connect: no broker needed
            settings = settings.model_copy(update={"broker_url": "kafka://127.0.0.1:9092"})
    elif running_worker and not wait_for_broker(settings):
        log.error("no broker answered at %s within %.0fs", settings.broker_url,
                  settings.broker_wait_timeout)
        raise SystemExit(1)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    marker = settings.data_dir / "worker.running"
    if running_worker:
        from ops.metrics import set_previous_stop
        from streaming import shutdown

        set_previous_stop(previous_stop(settings.data_dir))
        shutdown.configure(settings.stop_timeout, settings.data_dir / "last-exit")
        shutdown.install()
        if broker is not None:
            shutdown.on_hard_exit(  # no time for its grace period: SIGKILL
                lambda: broker.kill_group(signal.SIGKILL))
        if marker.exists() and broker is None:
            log.warning("the last worker on %s did not stop cleanly: clearing its local "
                        "tables, they are rebuilt from the changelogs", settings.data_dir)
            shutil.rmtree(settings.faust_datadir, ignore_errors=True)
        marker.write_text(f"{os.getpid()}\n")

    from job.app import create_app
    from ops.gc_tuning import tune_gc

    app = create_app(settings, holder)  # type: ignore[arg-type]
    _pin_log_levels(settings.log_level)
    if running_worker:
        _log_runtime(app, settings)
    sys.argv = faust_argv(prog, args, settings.log_level, quiet=settings.log_format == "json")
    if running_worker:
        tune_gc(settings.gc_gen0_threshold)  # the app is built: freeze it
    clean = False
    try:
        app.main()
    except SystemExit as exc:
        clean = exc.code in (0, None)
        raise
    finally:
        if running_worker and clean:
            with contextlib.suppress(OSError):
                marker.unlink()
        if broker is not None:
            with contextlib.suppress(Exception):
                broker.stop()  # type: ignore[attr-defined]
            with contextlib.suppress(OSError):
                Path(settings.broker_url_file).unlink()
