"""Worker settings from the environment (CONTRACT §9), validated with pydantic.

Every field is read from the environment variable named in its alias. A bad value is refused
with a message naming the variable (``TOPIC_PARTITIONS: Input should be greater than 0``).
No Faust import here: the CLI, the demo and the tests read settings too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

__all__ = ["Settings", "SettingsError", "default_rules_path", "load_settings", "project_home"]

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
EventLoop = Literal["asyncio", "uvloop"]
Guarantee = Literal["at_least_once", "exactly_once"]
Intake = Literal["events", "batch"]

#: fetch wait (ms) with the embedded broker (docs/STREAMING.md); with BROKER_URL: Faust's own
FETCH_WAIT_MS_EMBEDDED = 50
#: the fetch wait Faust hard-codes for its worker consumer (faust/transport/drivers/aiokafka.py)
FETCH_WAIT_MS_FAUST = 1500

_TOPIC_CHARS = re.compile(r"^[A-Za-z0-9._-]*$")


def project_home(env: Mapping[str, str] | None = None) -> Path:
    """Where default paths (``config/rules.yaml``, ``data/state``) live: ``LEADSTREAM_HOME``,
    else the repository (the folder of app.py), so commands work from any directory."""
    env = os.environ if env is None else env
    raw = (env.get("LEADSTREAM_HOME") or "").strip()
    return Path(raw).expanduser() if raw else Path(__file__).resolve().parent.parent


def default_rules_path(env: Mapping[str, str] | None = None) -> Path:
    return project_home(env) / "config" / "rules.yaml"


class SettingsError(ValueError):
    """Refused settings; `errors` has one ``VARIABLE: problem`` line each."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("invalid settings:\n" + "\n".join(f"  {e}" for e in errors))
        self.errors = errors


class Settings(BaseModel):
    """The worker's settings. Field aliases are the environment variable names."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    # ---- CONTRACT §9
    broker_url: str | None = Field(None, alias="BROKER_URL")
    redis_url: str | None = Field(None, alias="REDIS_URL", repr=False)
    rules_path: Path = Field(Path("config/rules.yaml"), alias="RULES_PATH")
    data_dir: Path = Field(Path("data/state"), alias="DATA_DIR")
    web_port: int = Field(6066, ge=1, le=65535, alias="WEB_PORT")
    topic_prefix: str = Field("", alias="TOPIC_PREFIX")
    admin_token: str | None = Field(None, alias="ADMIN_TOKEN", repr=False)
    # ---- deployment
    web_bind: str = Field("127.0.0.1", alias="WEB_BIND")
    app_id: str = Field("leadstream", min_length=1, alias="APP_ID")
    worker_id: str | None = Field(None, alias="WORKER_ID")
    topic_partitions: int = Field(4, ge=1, le=10_000, alias="TOPIC_PARTITIONS")
    topic_replication: int = Field(1, ge=1, le=32, alias="TOPIC_REPLICATION")
    log_level: LogLevel = Field("INFO", alias="LOG_LEVEL")
    # ---- broker timing (NOTES-stack: Faust defaults make a worker wait ~30 s to join)
    broker_rebalance_timeout: float = Field(3.0, gt=0, alias="BROKER_REBALANCE_TIMEOUT")
    broker_session_timeout: float = Field(10.0, gt=0, alias="BROKER_SESSION_TIMEOUT")
    broker_heartbeat_interval: float = Field(1.0, gt=0, alias="BROKER_HEARTBEAT_INTERVAL")
    broker_commit_interval: float = Field(2.8, gt=0, alias="BROKER_COMMIT_INTERVAL")
    #: seconds a starting worker waits for BROKER_URL to answer before it gives up (0: no wait)
    broker_wait_timeout: float = Field(300.0, ge=0, alias="BROKER_WAIT_TIMEOUT")
    #: Faust's processing guarantee; exactly_once needs a real Kafka (transactions): see
    #: docs/STREAMING.md for why the deployment keeps at_least_once
    processing_guarantee: Guarantee = Field("at_least_once", alias="PROCESSING_GUARANTEE")
    #: bytes per producer record batch; unset: aiokafka's 16384
    producer_max_batch_size: int | None = Field(None, ge=1, alias="PRODUCER_MAX_BATCH_SIZE")
    producer_linger: float = Field(0.005, ge=0, le=1, alias="PRODUCER_LINGER")
    #: read the true changelog ends before table recovery (tables/engine_internals.py): Tansu's
    #: ListOffsets reports the last batch's base offset + 1. Unset: on with the embedded broker
    broker_log_end_probe: bool | None = Field(None, alias="BROKER_LOG_END_PROBE")
    #: how long the broker may hold a fetch with no new data (Faust hard-codes 1500 ms; Tansu
    #: holds every idle fetch that long, Kafka answers when data comes). Unset: Faust's own
    #: (nothing patched); 50 with the embedded broker
    consumer_fetch_max_wait_ms: int | None = Field(None, ge=0, le=60_000,
                                                   alias="CONSUMER_FETCH_MAX_WAIT_MS")
    #: deliver a record to its stream without Faust's per-record wait_first when nothing can block
    consumer_drain_fast_path: bool = Field(True, alias="CONSUMER_DRAIN_FAST_PATH")
    #: records an agent handles per batch (outputs sent and tables written once per batch)
    batch_max: int = Field(500, ge=1, le=100_000, alias="BATCH_MAX")
    #: how long a batch waits for more records before it is handled (latency bound)
    batch_within_ms: float = Field(5.0, ge=0.0, le=10_000.0, alias="BATCH_WITHIN_MS")
    #: how the matching and processing agents take their records: ``batch`` in the lists the
    #: fetch returned (tables/engine_internals.py; ~1.5x the rate: docs/BENCH.md), ``events``
    #: through Faust's stream (one Event each)
    intake: Intake = Field("batch", alias="INTAKE")
    #: event loop of the worker; unset: uvloop when installed, else asyncio
    event_loop: EventLoop | None = Field(None, alias="EVENT_LOOP")
    #: young-generation threshold of the garbage collector (ops/gc_tuning.py); 0: Python's
    gc_gen0_threshold: int = Field(50_000, ge=0, le=10_000_000, alias="GC_GEN0_THRESHOLD")
    # ---- broker security (real Kafka); unset: plaintext
    broker_ssl: bool = Field(False, alias="BROKER_SSL")
    broker_ssl_cafile: Path | None = Field(None, alias="BROKER_SSL_CAFILE")
    broker_sasl_mechanism: SaslMechanism | None = Field(None, alias="BROKER_SASL_MECHANISM")
    broker_sasl_username: str | None = Field(None, alias="BROKER_SASL_USERNAME")
    broker_sasl_password: str | None = Field(None, alias="BROKER_SASL_PASSWORD", repr=False)
    # ---- health and shutdown (ops/health.py, streaming/shutdown.py; CONTRACT §9)
    #: /healthz is 503 once no broker answered for this many seconds
    health_broker_timeout: float = Field(10.0, gt=0, le=3600, alias="HEALTH_BROKER_TIMEOUT")
    #: /healthz is 503 once an input partition with records waiting has not moved this long
    health_stall_timeout: float = Field(30.0, gt=0, le=86_400, alias="HEALTH_STALL_TIMEOUT")
    #: a SIGTERM'd worker that has not stopped after this many seconds exits anyway
    stop_timeout: float = Field(25.0, gt=0, le=3600, alias="STOP_TIMEOUT")
    #: warn (log + gauge) when the embedded broker holds more than this many MiB; 0: never
    embedded_broker_warn_mb: int = Field(512, ge=0, alias="EMBEDDED_BROKER_WARN_MB")
    #: ``json``: one JSON object per log line (streaming/logs.py); ``text``: plain lines
    log_format: Literal["text", "json"] = Field("text", alias="LOG_FORMAT")
    #: pid of the embedded broker this worker started (set by the worker, not from the env)
    embedded_broker_pid: int | None = Field(None, exclude=True)
    # ---- RocksDB memory caps, per table partition (tables/options.py)
    rocksdb_block_cache_mb: int = Field(8, ge=1, le=4096, alias="ROCKSDB_BLOCK_CACHE_MB")
    rocksdb_write_buffer_mb: int = Field(4, ge=1, le=1024, alias="ROCKSDB_WRITE_BUFFER_MB")

    @field_validator(
        "broker_url", "redis_url", "admin_token", "worker_id", "broker_ssl_cafile",
        "producer_max_batch_size", "broker_log_end_probe", "consumer_fetch_max_wait_ms",
        "event_loop", "broker_sasl_mechanism", "broker_sasl_username", "broker_sasl_password",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, v: Any) -> Any:
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.strip().upper() if isinstance(v, str) else v

    @field_validator("event_loop", "log_format", "processing_guarantee", "intake",
                     mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        return v.strip().lower() if isinstance(v, str) else v

    @field_validator("processing_guarantee")
    @classmethod
    def _transactions_need_kafka(cls, v: str, info: ValidationInfo) -> str:
        if v == "exactly_once" and info.data.get("broker_url") is None:
            raise ValueError("exactly_once needs BROKER_URL (a Kafka with transactions; the "
                             "embedded broker has none)")
        return v

    @field_validator("topic_prefix", "app_id")
    @classmethod
    def _topic_safe(cls, v: str) -> str:
        if not _TOPIC_CHARS.match(v):
            raise ValueError("only letters, digits, '.', '_' and '-' are allowed")
        return v

    @field_validator("broker_url")
    @classmethod
    def _kafka_url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        parts = [p.strip() for p in re.split(r"[;,]", v) if p.strip()]
        out = []
        for p in parts:
            if "://" not in p:
                p = "kafka://" + p
            if not p.startswith("kafka://") or not re.match(r"^kafka://[^:/]+:\d+$", p):
                raise ValueError("expected kafka://host:port[;kafka://host:port]")
            out.append(p)
        if not out:
            raise ValueError("empty broker URL")
        return ";".join(out)

    # ------------------------------------------------------------------ derived
    @property
    def embedded_broker(self) -> bool:
        return self.broker_url is None

    @property
    def fetch_max_wait_ms(self) -> int | None:
        """`consumer_fetch_max_wait_ms`; None: Faust's own (a real Kafka answers a waiting
        fetch as soon as data arrives, so its wait costs no latency there)."""
        return self.consumer_fetch_max_wait_ms

    @property
    def log_end_probe(self) -> bool:
        return bool(self.broker_log_end_probe)

    def resolved_event_loop(self) -> EventLoop:
        """`event_loop`, or uvloop when it can be imported."""
        if self.event_loop is not None:
            return self.event_loop
        try:
            import uvloop  # noqa: F401
        except ImportError:
            return "asyncio"
        return "uvloop"

    @property
    def faust_app_id(self) -> str:
        """Consumer group and changelog prefix; TOPIC_PREFIX applies to them too."""
        return f"{self.topic_prefix}{self.app_id}"

    @property
    def faust_datadir(self) -> Path:
        return self.data_dir / "faust"

    @property
    def broker_url_file(self) -> Path:
        """Where a worker with the embedded broker writes its URL (import command, demo)."""
        return self.data_dir / "broker.url"

    def bootstrap_servers(self, url: str | None = None) -> str:
        """``kafka://h1:9092;kafka://h2:9092`` -> ``h1:9092,h2:9092`` (aiokafka form)."""
        url = url or self.broker_url or ""
        return ",".join(p.removeprefix("kafka://") for p in url.split(";") if p)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Settings from `env` (default: os.environ); SettingsError names each bad variable."""
    env = os.environ if env is None else env
    names = {f.alias for f in Settings.model_fields.values() if f.alias}
    data = {k: v for k, v in env.items() if k in names}
    home = project_home(env)
    data.setdefault("RULES_PATH", str(home / "config" / "rules.yaml"))
    data.setdefault("DATA_DIR", str(home / "data" / "state"))
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        errors = []
        for e in exc.errors():
            var = str(e["loc"][0]) if e["loc"] else "(settings)"
            given = data.get(var)
            shown = "" if given is None or "PASSWORD" in var or "TOKEN" in var else (
                f" (got {given[:60]!r})")
            errors.append(f"{var}: {e['msg'].removeprefix('Value error, ')}{shown}")
        raise SettingsError(errors) from None
