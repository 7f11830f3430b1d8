"""Settings from the environment, the Faust options they give, topic names, table options,
the worker's argv. No broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from job.worker import faust_argv
from streaming.settings import SettingsError, load_settings
from streaming.topics import TopicNames
from tables.options import MiB, RocksOptions


def test_defaults() -> None:
    s = load_settings({})
    assert s.broker_url is None and s.embedded_broker
    root = Path(__file__).resolve().parents[2]  # defaults live in the repository
    assert (s.rules_path, s.data_dir, s.web_port) == (root / "config/rules.yaml",
                                                       root / "data/state", 6066)
    assert (s.topic_prefix, s.topic_partitions, s.topic_replication) == ("", 4, 1)
    assert (s.broker_rebalance_timeout, s.broker_session_timeout,
            s.broker_heartbeat_interval) == (3.0, 10.0, 1.0)
    assert s.web_bind == "127.0.0.1" and s.faust_app_id == "leadstream"


def test_defaults_follow_leadstream_home(tmp_path: Path) -> None:
    s = load_settings({"LEADSTREAM_HOME": str(tmp_path)})
    assert (s.rules_path, s.data_dir) == (tmp_path / "config/rules.yaml", tmp_path / "data/state")
    given = load_settings({"LEADSTREAM_HOME": str(tmp_path), "RULES_PATH": "r.yaml"})
    assert given.rules_path == Path("r.yaml")  # a given path stays as given


def test_health_settings() -> None:
    s = load_settings({})
    assert (s.health_broker_timeout, s.health_stall_timeout, s.stop_timeout) == (10, 30, 25)
    assert s.log_format == "text" and load_settings({"LOG_FORMAT": "JSON"}).log_format == "json"
    with pytest.raises(SettingsError, match="STOP_TIMEOUT"):
        load_settings({"STOP_TIMEOUT": "0"})


def test_values_and_prefix() -> None:
    s = load_settings({"BROKER_URL": "k1:9092;kafka://k2:9093", "TOPIC_PREFIX": "dev.",
                       "TOPIC_REPLICATION": "3", "LOG_LEVEL": "warning", "ADMIN_TOKEN": "t0k",
                       "DATA_DIR": "/srv/ls", "UNRELATED": "x"})
    assert s.broker_url == "kafka://k1:9092;kafka://k2:9093"
    assert s.bootstrap_servers() == "k1:9092,k2:9093"
    assert s.faust_app_id == "dev.leadstream" and s.topic_replication == 3
    assert s.log_level == "WARNING" and s.broker_url_file == Path("/srv/ls/broker.url")
    assert "t0k" not in repr(s)  # secrets stay out of logs
    assert TopicNames.with_prefix("dev.").interactions == "dev.interactions"


def test_errors_name_every_variable() -> None:
    with pytest.raises(SettingsError) as err:
        load_settings({"TOPIC_PARTITIONS": "zero", "WEB_PORT": "70000", "LOG_LEVEL": "loud",
                       "BROKER_URL": "http://x", "TOPIC_PREFIX": "a b",
                       "BROKER_SASL_MECHANISM": "GSSAPI"})
    names = [e.split(":")[0] for e in err.value.errors]
    assert sorted(names) == sorted(["TOPIC_PARTITIONS", "WEB_PORT", "LOG_LEVEL", "BROKER_URL",
                                    "TOPIC_PREFIX", "BROKER_SASL_MECHANISM"])


def test_empty_values_mean_unset() -> None:
    s = load_settings({"BROKER_URL": "", "REDIS_URL": " ", "PRODUCER_MAX_BATCH_SIZE": ""})
    assert s.broker_url is None and s.redis_url is None and s.producer_max_batch_size is None


def test_faust_options() -> None:
    from job.app import faust_options

    s = load_settings({"BROKER_URL": "kafka://k:9092", "TOPIC_PARTITIONS": "8",
                       "TOPIC_REPLICATION": "3", "WEB_PORT": "7001", "DATA_DIR": "/d",
                       "PRODUCER_MAX_BATCH_SIZE": "1"})
    o = faust_options(s)
    assert o["env"] == {}  # Faust's own env lookups (WEB_PORT, BROKER_URL...) are off
    assert o["store"] == "rocksdb://" and o["datadir"] == "/d/faust"
    assert (o["topic_partitions"], o["topic_replication_factor"]) == (8, 3)
    assert o["web_tables_enabled"] is False and o["web_port"] == 7001
    assert o["consumer_auto_offset_reset"] == "earliest"
    assert 0 < o["producer_linger"] <= 0.02 and o["producer_max_batch_size"] == 1
    assert "broker_credentials" not in o


def test_faust_options_sasl_ssl() -> None:
    import faust

    from job.app import faust_options

    s = load_settings({"BROKER_URL": "kafka://k:9093", "BROKER_SSL": "true",
                       "BROKER_SASL_MECHANISM": "SCRAM-SHA-512", "BROKER_SASL_USERNAME": "u",
                       "BROKER_SASL_PASSWORD": "p"})
    creds = faust_options(s)["broker_credentials"]
    assert isinstance(creds, faust.SASLCredentials)
    assert creds.username == "u" and creds.ssl_context is not None


def test_app_is_built_without_a_broker(tmp_path: Path) -> None:
    """Topics, tables, agents and pages wire up (nothing connects until the worker starts)."""
    from job.app import create_app
    from rules.holder import RulesHolder
    from rules.loader import load_rules_file

    s = load_settings({"BROKER_URL": "kafka://127.0.0.1:1", "TOPIC_PREFIX": "x.",
                       "DATA_DIR": str(tmp_path)})
    app = create_app(s, RulesHolder(load_rules_file("config/rules.yaml")))
    assert app.conf.id == "x.leadstream"
    assert {a.name for a in app.agents.values()} >= {
        "leadstream.feeds", "leadstream.matching", "leadstream.processing",
        "leadstream.imports", "leadstream.owners"}
    assert set(app.tables) >= {"parties", "leads", "imported", "lead-owners"}
    matching = next(a for a in app.agents.values() if a.name == "leadstream.matching")
    assert set(matching.channel.topics) == {"x.interactions", "x.lead-updates",
                                            "x.leadstream-party-imports"}
    for table in app.tables.values():
        assert table.partitions == 4
        assert table.options["block_cache_size"] <= 64 * MiB


def test_rocks_options_are_fresh_and_capped() -> None:
    o = RocksOptions.from_settings(8, 4)
    a, b = o.as_table_options(), o.as_table_options()
    assert a == b and a is not b and a["driver"] == "rocksdict"
    assert o.memory_cap == 16 * MiB


def test_topic_codes() -> None:
    n = TopicNames.with_prefix("p.")
    assert len(set(n.all())) == 14  # + leadstream-assignments (CONTRACT §11)
    assert [n.code(t) for t in (n.interactions, n.feed_web, n.party_imports, n.lead_owners,
                                n.assignments)] == ["i", "fw", "pi", "lo", "as"]


@pytest.mark.parametrize("args, level, expected_tail", [
    (["worker"], "INFO", ["worker", "-l", "info"]),
    (["worker", "-l", "debug"], "INFO", ["worker", "-l", "debug"]),
    (["worker", "--web-port", "7000"], "WARNING", ["worker", "-l", "warn", "--web-port", "7000"]),
    (["agents"], "INFO", ["agents"]),
])
def test_faust_argv(args: list[str], level: str, expected_tail: list[str]) -> None:
    argv = faust_argv("app.py", args, level)
    assert argv[0] == "app.py"
    assert argv[-len(expected_tail):] == expected_tail
    assert "--loop" not in argv  # too late for Faust: the worker sets the loop itself


def test_faust_argv_quiet_for_json_logs() -> None:
    assert faust_argv("app.py", ["worker"], "INFO", quiet=True) == [
        "app.py", "--quiet", "worker", "-l", "info"]



def test_streaming_patch_settings() -> None:
    from job.app import patch_options

    s = load_settings({"BROKER_URL": "kafka://k:9092"})
    assert (s.broker_log_end_probe, s.consumer_fetch_max_wait_ms, s.event_loop) == (
        None, None, None)
    o = patch_options(s)
    # a real Kafka: no broker workaround (Faust's own fetch wait, no log end probe)
    assert (o.log_end_probe, o.fetch_max_wait_ms, o.drain_fast_path) == (False, None, True)
    s = load_settings({"BROKER_URL": "kafka://k:9092", "BROKER_LOG_END_PROBE": "true",
                       "CONSUMER_FETCH_MAX_WAIT_MS": "15", "CONSUMER_DRAIN_FAST_PATH": "0",
                       "EVENT_LOOP": " AsyncIO "})
    o = patch_options(s)
    assert (o.log_end_probe, o.fetch_max_wait_ms, o.drain_fast_path) == (True, 15, False)
    assert s.resolved_event_loop() == "asyncio"
    assert load_settings({"EVENT_LOOP": ""}).event_loop is None
    with pytest.raises(SettingsError) as err:
        load_settings({"CONSUMER_FETCH_MAX_WAIT_MS": "-1", "EVENT_LOOP": "trio"})
    assert sorted(e.split(":")[0] for e in err.value.errors) == [
        "CONSUMER_FETCH_MAX_WAIT_MS", "EVENT_LOOP"]


def test_embedded_broker_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The embedded broker (Tansu) gets the log end probe and a short fetch wait; explicit
    values win."""
    from job import worker
    from streaming.settings import FETCH_WAIT_MS_EMBEDDED

    class FakeBroker:
        url = "kafka://127.0.0.1:1"
        log_path = tmp_path / "tansu.log"

        def __init__(self, **kw: object) -> None: ...

        def start(self) -> None: ...

    monkeypatch.setattr("streaming.broker.EmbeddedBroker", FakeBroker)
    s, _ = worker.start_embedded_broker(load_settings({"DATA_DIR": str(tmp_path)}))
    assert s.log_end_probe and s.fetch_max_wait_ms == FETCH_WAIT_MS_EMBEDDED
    assert s.producer_max_batch_size is None  # batches are fine with the probe
    s, _ = worker.start_embedded_broker(load_settings({
        "DATA_DIR": str(tmp_path), "BROKER_LOG_END_PROBE": "false",
        "CONSUMER_FETCH_MAX_WAIT_MS": "100"}))
    assert not s.log_end_probe and s.fetch_max_wait_ms == 100


def test_batch_settings_bounded() -> None:
    s = load_settings({"BATCH_MAX": "50", "BATCH_WITHIN_MS": "2.5"})
    assert (s.batch_max, s.batch_within_ms) == (50, 2.5)
    assert load_settings({}).batch_max == 500
    with pytest.raises(SettingsError, match="BATCH_MAX"):
        load_settings({"BATCH_MAX": "0"})


def test_processing_guarantee() -> None:
    from job.app import faust_options

    assert load_settings({}).processing_guarantee == "at_least_once"
    s = load_settings({"BROKER_URL": "kafka://k:9092", "PROCESSING_GUARANTEE": " Exactly_Once"})
    assert faust_options(s)["processing_guarantee"] == "exactly_once"
    with pytest.raises(SettingsError) as err:  # the embedded broker has no transactions
        load_settings({"PROCESSING_GUARANTEE": "exactly_once"})
    assert err.value.errors[0].startswith("PROCESSING_GUARANTEE: exactly_once needs BROKER_URL")
    with pytest.raises(SettingsError, match="PROCESSING_GUARANTEE"):
        load_settings({"BROKER_URL": "kafka://k:9092", "PROCESSING_GUARANTEE": "twice"})


def test_intake_setting() -> None:
    assert load_settings({}).intake == "batch"
    assert load_settings({"INTAKE": "events"}).intake == "events"
    assert load_settings({"INTAKE": " Batch "}).intake == "batch"
    with pytest.raises(SettingsError, match="INTAKE"):
        load_settings({"INTAKE": "records"})


def test_batch_intakes_are_installed_for_matching_and_processing(tmp_path: Path) -> None:
    from job.app import create_app
    from rules.holder import RulesHolder
    from rules.loader import load_rules_file
    from tables.engine_internals import batch_intakes

    rules = RulesHolder(load_rules_file("config/rules.yaml"))
    env = {"BROKER_URL": "kafka://127.0.0.1:1", "TOPIC_PREFIX": "x.", "DATA_DIR": str(tmp_path)}
    assert batch_intakes(create_app(load_settings({**env, "INTAKE": "events"}), rules)) == []
    app = create_app(load_settings(env), rules)
    assert sorted(sorted(intake.topics) for intake in batch_intakes(app)) == [
        ["x.interactions", "x.lead-updates", "x.leadstream-party-imports"],  # matching
        ["x.leadstream-lead-events"],  # processing
    ]
