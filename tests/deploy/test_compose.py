"""docker-compose.yml (issue 16): `docker compose config` where the compose CLI works, and
always a structure check: ports on 127.0.0.1 only, Grafana credentials from the environment,
images pinned to exact releases, topic auto-creation off and every topic made by kafka-init."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from streaming.topics import TopicNames
from tables import definitions

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"


def _doc() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return doc


def _compose_cli() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    res = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30)
    return res.returncode == 0


def test_compose_config_or_structure() -> None:
    """`docker compose config` where the compose CLI works; elsewhere (the development
    machines have no compose plugin) the same references checked by hand."""
    if _compose_cli():
        env = {**os.environ, "ADMIN_TOKEN": "t", "GRAFANA_ADMIN_USER": "u",
               "GRAFANA_ADMIN_PASSWORD": "p"}
        res = subprocess.run(["docker", "compose", "-f", str(COMPOSE), "config", "--quiet"],
                             env=env, capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        return
    doc = _doc()
    services, volumes = doc["services"], set(doc.get("volumes") or {})
    for name, svc in services.items():
        assert "image" in svc or "build" in svc, name
        deps = svc.get("depends_on") or {}
        for dep in deps:
            assert dep in services, (name, dep)
        for vol in svc.get("volumes", []):
            src = str(vol).split(":")[0]
            if src.startswith("."):
                assert (ROOT / src).exists(), (name, src)
            else:
                assert src in volumes, (name, src)


def test_ports_bound_to_loopback_only() -> None:
    published = []
    for name, svc in _doc()["services"].items():
        for port in svc.get("ports", []):
            published.append((name, str(port)))
            assert str(port).startswith("127.0.0.1:"), (name, port)
    assert {n for n, _ in published} >= {"worker-1", "worker-2", "kafka", "grafana"}


def test_images_pinned_to_exact_releases() -> None:
    for name, svc in _doc()["services"].items():
        if "image" not in svc:
            assert "build" in svc or "<<" in svc, name
            continue
        image = svc["image"]
        tag = image.rpartition(":")[2] if ":" in image else ""
        assert "@sha256:" in image or re.search(r"\d+\.\d+\.\d+", tag), (name, image)


def test_kafka_image_is_the_version_the_streaming_tests_run() -> None:
    """Production's broker is the Kafka the streaming tests prove the worker on
    (kafka/pom.xml): an image bumped alone would ship an untested broker."""
    tested = re.search(r"<kafka.version>([^<]+)</kafka.version>",
                       (ROOT / "kafka" / "pom.xml").read_text())
    assert tested is not None
    images = {s.get("image") for s in _doc()["services"].values()
              if str(s.get("image", "")).startswith("apache/kafka:")}
    assert images == {f"apache/kafka:{tested.group(1)}"}


def test_grafana_credentials_come_from_the_environment() -> None:
    env = _doc()["services"]["grafana"]["environment"]
    for key, var in (("GF_SECURITY_ADMIN_USER", "GRAFANA_ADMIN_USER"),
                     ("GF_SECURITY_ADMIN_PASSWORD", "GRAFANA_ADMIN_PASSWORD")):
        assert env[key].startswith("${" + var + ":?"), env[key]  # required, no default
    assert "admin/admin" not in COMPOSE.read_text()


def test_kafka_init_creates_every_topic_with_auto_creation_off() -> None:
    services = _doc()["services"]
    assert str(services["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"]) == "false"
    script = "\n".join(services["kafka-init"]["command"])
    for topic in TopicNames.with_prefix("").all():
        assert re.search(rf"(?<![\w.-]){re.escape(topic)}(?![\w.-])", script), topic
    tables = [v for k, v in vars(definitions).items()
              if k.isupper() and isinstance(v, str) and re.fullmatch(r"[a-z-]+", v)]
    assert set(tables) >= {"parties", "party-parts", "leads", "imported"}
    loop = re.search(r"for table in ([^;]+);", script)
    assert loop is not None and set(loop.group(1).split()) == set(tables)
    assert "-changelog" in script and "cleanup.policy=compact" in script
    assert "__assignor-__leader" in script
    worker_env = _doc()["x-worker"]["environment"]
    assert "ADMIN_TOKEN" in worker_env and "${ADMIN_TOKEN:?" in worker_env["ADMIN_TOKEN"]
