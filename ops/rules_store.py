"""The rules config in Redis (CONTRACT §9): `rules push` stores it, workers load it.

One key, `leadstream:rules`, holds a JSON document ``{"yaml", "version", "pushed_at"}``; each
push publishes the version on `leadstream:rules:changed` in the same MULTI/EXEC, so a
worker that hears the message always finds that config (or a newer one) under the key.

Sync client (the CLI, worker start-up). The workers' async side is `ops.reload`.
Credentials and TLS come from the URL: ``rediss://user:password@host:port/db``; extra TLS
options go in its query (``?ssl_ca_certs=/path/ca.pem``), as redis-py reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson

KEY = "leadstream:rules"
CHANNEL = "leadstream:rules:changed"
TIMEOUT = 5.0

__all__ = [
    "CHANNEL", "KEY", "RulesStoreError", "StoredRules", "decode_doc", "encode_doc",
    "fetch_rules", "fetch_stored", "push_rules", "redacted", "show_rules",
]


class RulesStoreError(SystemExit):
    """Redis unreachable, refusing us, or holding an unreadable document.

    A `SystemExit` on purpose: `cli.py` calls `push_rules`/`show_rules` without a try, so
    the command ends with this one-line message (exit status 1) and no traceback. Library
    callers catch it by name (it is not an `Exception`).
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class StoredRules:
    yaml: str
    version: str
    pushed_at: str | None


def redacted(url: str) -> str:
    """The URL without its password (for messages and logs)."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.hostname or ""
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        user = f"{parts.username}:***@" if parts.username else ":***@"
        return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))
    except ValueError:
        return "<unparsable REDIS_URL>"


def encode_doc(text: str, version: str, pushed_at: str | None = None) -> bytes:
    pushed_at = pushed_at or datetime.now(UTC).isoformat(timespec="seconds")
    return orjson.dumps({"yaml": text, "version": version, "pushed_at": pushed_at})


def decode_doc(raw: bytes | str) -> StoredRules:
    """Parse the stored document; ValueError when it is not one."""
    try:
        doc: Any = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{KEY} does not hold a JSON document: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("yaml"), str):
        raise ValueError(f"{KEY} does not hold a rules document (no 'yaml' text)")
    return StoredRules(doc["yaml"], str(doc.get("version") or "?"), doc.get("pushed_at"))


def _client(url: str) -> Any:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    try:
        return redis.Redis.from_url(
            url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT,
            retry=Retry(NoBackoff(), 0),
        )
    except ValueError as exc:  # bad scheme, bad port, ...
        raise RulesStoreError(f"REDIS_URL {redacted(url)} is not a Redis URL: {exc}") from None


def _fail(url: str, what: str, exc: BaseException) -> RulesStoreError:
    reason = str(exc) or type(exc).__name__
    return RulesStoreError(f"cannot {what}: Redis at {redacted(url)}: {reason}")


def push_rules(url: str, text: str, version: str) -> int:
    """Store the config and announce its version; return how many subscribers heard it."""
    import redis

    client = _client(url)
    try:
        pipe = client.pipeline(transaction=True)
        pipe.set(KEY, encode_doc(text, version))
        pipe.publish(CHANNEL, version)
        _, receivers = pipe.execute()
        return int(receivers)
    except (redis.RedisError, OSError) as exc:
        raise _fail(url, "push rules", exc) from None
    finally:
        client.close()


def fetch_stored(url: str) -> StoredRules | None:
    """The stored document, or None when the key is absent."""
    import redis

    client = _client(url)
    try:
        raw = client.get(KEY)
    except (redis.RedisError, OSError) as exc:
        raise _fail(url, "read rules", exc) from None
    finally:
        client.close()
    if raw is None:
        return None
    try:
        return decode_doc(raw)
    except ValueError as exc:
        raise RulesStoreError(f"cannot read rules from Redis at {redacted(url)}: {exc}") from None


def fetch_rules(url: str) -> tuple[str, str] | None:
    """(yaml text, version) stored in Redis, or None when nothing was pushed."""
    stored = fetch_stored(url)
    return None if stored is None else (stored.yaml, stored.version)


def show_rules(url: str) -> str:
    stored = fetch_stored(url)
    if stored is None:
        return f"no rules in redis ({KEY} is not set at {redacted(url)})"
    return f"{stored.version} from redis (pushed at {stored.pushed_at or 'unknown time'})"
