"""A real Apache Kafka broker (KRaft, one node) for the tests and the benchmark.

The jars come from Maven Central through ``kafka/pom.xml`` (``make kafka`` copies them to
``.cache/kafka/lib``; ``KAFKA_LIB`` overrides the folder). No Docker and no Kafka download
besides the pom: the broker runs as ``java -cp LIB/* kafka.Kafka server.properties`` after
``kafka.tools.StorageTool format``, on free loopback ports, in its own process group.

    with KafkaBroker(log_dir=tmp) as broker:
        broker.url        # "kafka://127.0.0.1:PORT"  (BROKER_URL, as in production)
        broker.bootstrap  # "127.0.0.1:PORT"

It has the interface of `streaming.broker.EmbeddedBroker` (start/stop/pause/resume, url,
bootstrap, pid, log_text, startup_seconds), so fixtures and the benchmark can take either.
Storage is on disk under ``data_dir`` (a temporary folder unless given) and deleted at stop
when it was temporary. Not used by the worker itself: production points BROKER_URL at its
own Kafka.
"""

from __future__ import annotations

import base64
import os
import shutil
import struct
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from streaming.broker import kafka_api_versions_ok
from streaming.broker_process import BrokerProcess, BrokerStartError, free_port

__all__ = ["KafkaBroker", "KafkaUnavailable", "kafka_lib_dir"]

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_LIB = ROOT / ".cache" / "kafka" / "lib"

#: JVM options: a small heap, and the serial collector (one GC thread: the machines running
#: the tests have 2 cores shared by many processes).
JVM_OPTS = ("-Xms128m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:MaxMetaspaceSize=192m",
            "-Djava.awt.headless=true", "-Dfile.encoding=UTF-8")

_LOG4J2 = """\
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = {level}
rootLogger.appenderRef.out.ref = out
logger.state.name = state.change.logger
logger.state.level = warn
logger.auth.name = kafka.authorizer.logger
logger.auth.level = warn
# "Kafka Server started" is the readiness mark (KafkaBroker._serving), whatever the level
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = info
"""


class KafkaUnavailable(RuntimeError):
    """No Java or no Kafka jars: run ``make kafka`` (needs Maven and a JDK 17+)."""


def kafka_lib_dir() -> Path:
    """The folder with Kafka's jars (``KAFKA_LIB`` or ``.cache/kafka/lib``)."""
    return Path(os.environ.get("KAFKA_LIB") or DEFAULT_LIB)


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise KafkaUnavailable("no java on PATH (a JDK 17+ is needed for the Kafka broker)")
    return found


def _cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def record_batch_sizes(segment: bytes) -> list[int]:
    """Record counts of the v2 record batches in a Kafka log segment's bytes.

    A batch: baseOffset int64, batchLength int32 (bytes after this field), then leader epoch,
    magic (2), crc, attributes, lastOffsetDelta, two timestamps, producer id/epoch, base
    sequence, and the record count (int32) at byte 57."""
    out = []
    pos = 0
    while pos + 61 <= len(segment):
        (length,) = struct.unpack_from(">i", segment, pos + 8)
        if length <= 0 or segment[pos + 16] != 2:
            break  # preallocated zeros or an older format: the end of the data
        (count,) = struct.unpack_from(">i", segment, pos + 57)
        out.append(count)
        pos += 12 + length
    return out


class KafkaBroker(BrokerProcess):
    """A single-node KRaft Kafka on loopback ports (broker + controller in one JVM).

    ``overrides`` are extra ``server.properties`` lines (they win over the defaults below).
    ``die_with_parent`` (Linux): SIGTERM the JVM when the starting thread exits.
    """

    kind = "kafka"

    def __init__(
        self,
        port: int | None = None,
        *,
        host: str = "127.0.0.1",
        log_dir: str | os.PathLike[str] | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        startup_timeout: float = 120.0,
        heap: str = "512m",
        overrides: dict[str, str] | None = None,
        log_level: str = "INFO",
        die_with_parent: bool = False,
    ) -> None:
        self._init_process(port, host, log_dir, startup_timeout, die_with_parent)
        self._data_dir = Path(data_dir) if data_dir is not None else None
        self._own_data_dir = data_dir is None
        self.heap = heap
        self.overrides = dict(overrides or {})
        self.log_level = log_level
        self.controller_port: int | None = None
        self.format_seconds: float | None = None

    # ------------------------------------------------------------------ config
    def properties(self, port: int, controller_port: int, data_dir: Path) -> dict[str, str]:
        """``server.properties`` for one node that is broker and controller."""
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{self.host}:{controller_port}",
            "listeners": f"PLAINTEXT://{self.host}:{port},CONTROLLER://{self.host}:{controller_port}",
            "advertised.listeners": f"PLAINTEXT://{self.host}:{port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(data_dir / "log"),
            "num.partitions": "1",
            "auto.create.topics.enable": "true",
            "group.initial.rebalance.delay.ms": "0",
            # the tests' workers use a 4 s session timeout (Kafka's minimum is 6 s)
            "group.min.session.timeout.ms": "1000",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "8",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "4",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "num.network.threads": "2",
            "num.io.threads": "4",
            "background.threads": "4",
            "log.flush.interval.messages": "9223372036854775807",
            # Faust's table changelogs are compacted topics: keep the cleaner small
            "log.cleaner.dedupe.buffer.size": "8388608",
            "log.cleaner.threads": "1",
            "delete.topic.enable": "true",
        }
        props.update(self.overrides)
        return props

    def _java_cmd(self, main: str, *args: str) -> list[str]:
        lib = kafka_lib_dir()
        if not lib.is_dir() or not any(lib.glob("kafka_2.13-*.jar")):
            raise KafkaUnavailable(f"no Kafka jars in {lib}: run `make kafka` (Maven + JDK 17)")
        assert self.log_path is not None
        log4j = self.log_path.parent / "log4j2.properties"
        log4j.write_text(_LOG4J2.format(level=self.log_level))
        opts = [o for o in JVM_OPTS if not o.startswith("-Xmx")] + [f"-Xmx{self.heap}"]
        return [_java(), *opts, f"-Dlog4j2.configurationFile={log4j}",
                "-cp", f"{lib}/*", main, *args]

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> KafkaBroker:
        if self._proc is None and self._data_dir is None:
            self._data_dir = Path(tempfile.mkdtemp(prefix="leadstream-kafka-"))
        self._start_on_free_port("kafka.log", "leadstream-kafka-log-", kill_wait=5.0)
        return self

    def _spawn(self, port: int) -> None:
        cport = free_port(self.host)
        while cport == port:
            cport = free_port(self.host)
        self._format_and_spawn(port, cport)

    def _format_and_spawn(self, port: int, cport: int) -> None:
        assert self.log_path is not None and self._data_dir is not None
        data_dir = self._data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        props = self.properties(port, cport, data_dir)
        conf = data_dir / "server.properties"
        conf.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        t0 = time.monotonic()
        if not (data_dir / "log" / "meta.properties").exists():
            # `--cluster-id=ID`, one argument: an id may start with "-" (1 in 64), which
            # `-t ID` would read as an option
            fmt = self._java_cmd("kafka.tools.StorageTool", "format",
                                 f"--cluster-id={_cluster_id()}", "-c", str(conf),
                                 "--ignore-formatted")
            done = subprocess.run(fmt, stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=self.startup_timeout, check=False)
            if done.returncode != 0:
                raise BrokerStartError(
                    f"kafka storage format failed ({done.returncode}):\n"
                    f"{(done.stdout + done.stderr).decode(errors='replace')[-4000:]}")
        self.format_seconds = time.monotonic() - t0
        self._popen(self._java_cmd("kafka.Kafka", str(conf)),
                    f"starting on {self.host}:{port} (controller {cport})")
        self.port, self.controller_port = port, cport
        self._wait_ready(port, t0, lambda: kafka_api_versions_ok(self.host, port, timeout=1.0)
                         and self._serving(), every=0.2)

    def _serving(self) -> bool:
        """The broker has registered with its controller (it answers Metadata with itself)."""
        return "Kafka Server started" in self.log_text()

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM the JVM's group (a clean shutdown), SIGKILL after `timeout`. Idempotent."""
        self._terminate(timeout, kill_wait=10.0)
        if self._own_data_dir and self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)
            self._data_dir = None

    # ------------------------------------------------------------------ inspection
    def batch_sizes(self, topic: str, partition: int) -> list[int]:
        """Records per record batch in the partition's log segments, as stored: shows whether
        producers' batches arrived whole (Tansu split some into one record per batch)."""
        if self._data_dir is None:
            raise RuntimeError("broker has no storage")
        folder = self._data_dir / "log" / f"{topic}-{partition}"
        sizes: list[int] = []
        for seg in sorted(folder.glob("*.log")):
            sizes += record_batch_sizes(seg.read_bytes())
        return sizes
