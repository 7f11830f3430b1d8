"""ops/health.py without a worker: broker probe, stall watch, the /healthz decision, the
embedded broker's size warning; streaming/shutdown.py's record of why a worker ended."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from ops.health import BrokerProbe, SizeWarning, StallWatch, health, process_rss_bytes
from streaming.broker import EmbeddedBroker, free_port


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_probe_against_a_live_and_a_dead_port(broker: EmbeddedBroker) -> None:
    clock = Clock()
    host, port = broker.bootstrap.split(":")
    live = BrokerProbe([(host, int(port))], clock=clock, timeout=1.0)
    clock.t += 30
    assert live.unreachable_for() == 30
    assert live.probe_once() and live.unreachable_for() == 0
    dead = BrokerProbe([("127.0.0.1", free_port())], clock=clock, timeout=0.5)
    clock.t += 12
    assert not dead.probe_once() and dead.unreachable_for() == 12


def test_stall_watch_only_counts_partitions_with_records_waiting() -> None:
    clock = Clock()
    w = StallWatch(clock=clock)
    tp = ("interactions", 0)
    w.observe({tp: 5}, {tp: 10})
    clock.t += 20
    w.observe({tp: 5}, {tp: 10})
    assert w.stalled_for() == 20 and w.stalled_partitions(10) == ["interactions[0]"]
    w.observe({tp: 3}, {tp: 12})  # it moved
    assert w.stalled_for() == 0
    clock.t += 50
    w.observe({tp: 0}, {tp: 12})  # caught up: idle is not stalled
    assert w.stalled_for() == 0
    w.observe({tp: 4}, {})
    clock.t += 5
    w.reset()
    assert w.stalled_for() == 0


def test_health_decision() -> None:
    common = {"broker_timeout": 10.0, "stall_timeout": 30.0}
    assert health(ready=True, rebalancing=False, broker_down_s=0, stalled_s=0,
                  **common)[0] == 200
    code, doc = health(ready=True, rebalancing=False, broker_down_s=10.5, stalled_s=0, **common)
    assert code == 503 and doc["status"] == "broker_unreachable"
    code, doc = health(ready=False, rebalancing=False, broker_down_s=0, stalled_s=0, **common)
    assert code == 503 and doc["status"] == "starting"
    code, doc = health(ready=True, rebalancing=False, broker_down_s=0, stalled_s=31,
                       stalled=["interactions[1]"], **common)
    assert code == 503 and doc == {"status": "stalled", "stalled_seconds": 31,
                                   "partitions": ["interactions[1]"]}
    assert health(ready=True, rebalancing=True, broker_down_s=9.9, stalled_s=29,
                  **common)[1]["status"] == "rebalancing"


def test_size_warning_once_per_doubling(caplog: pytest.LogCaptureFixture) -> None:
    warn = SizeWarning(100 << 20)
    with caplog.at_level(logging.WARNING, logger="leadstream.health"):
        assert not warn.check(99 << 20)
        assert warn.check(120 << 20)
        assert not warn.check(150 << 20)
        assert warn.check(210 << 20)
    assert len(caplog.records) == 2 and "EMBEDDED_BROKER_WARN_MB=100" in caplog.text
    assert not SizeWarning(0).check(1 << 40)


def test_rss_of_this_process() -> None:
    rss = process_rss_bytes(os.getpid())
    assert rss is not None and rss > 1 << 20
    assert process_rss_bytes(2 ** 30) is None


def test_previous_stop_kinds(tmp_path: Path) -> None:
    from job.worker import previous_stop
    from streaming import shutdown

    assert previous_stop(tmp_path) == "clean"
    (tmp_path / "worker.running").write_text("1\n")
    assert previous_stop(tmp_path) == "unclean"
    shutdown.configure(25.0, tmp_path / "last-exit")
    shutdown.record_exit("fail_stop")
    assert previous_stop(tmp_path) == "fail_stop"
    assert not (tmp_path / "last-exit").exists()  # read once


def test_worker_refuses_another_faust_version() -> None:
    from job.worker import check_faust_version

    assert check_faust_version() is None  # the pinned one is installed
    problem = check_faust_version("0.15.2")
    assert problem is not None and "0.15.3" in problem and "0.15.2" in problem


def test_repeat_filter_holds_back_library_error_storms() -> None:
    from streaming.logs import RepeatFilter

    clock = Clock()
    f = RepeatFilter(30.0, clock=clock)

    def rec(name: str, msg: str, level: int = logging.ERROR) -> logging.LogRecord:
        return logging.LogRecord(name, level, __file__, 1, msg, (), None)

    assert f.filter(rec("aiokafka.conn", "Unable to connect to %s"))
    assert not any(f.filter(rec("aiokafka.conn", "Unable to connect to %s")) for _ in range(99))
    assert f.filter(rec("aiokafka.conn", "another message"))
    assert all(f.filter(rec("leadstream.agents", "dead letter")) for _ in range(5))  # ours
    assert all(f.filter(rec("aiokafka", "x", logging.INFO)) for _ in range(5))
    clock.t += 31
    r = rec("aiokafka.conn", "Unable to connect to %s")
    assert f.filter(r) and "99 more like this" in r.msg
