"""The rules config in Redis (CONTRACT §9): `rules push` stores it, workers load it.

One key, `leadstream:rules`, holds a JSON document ``{"yaml", "version", "pushed_at",
"pushed_by"}``; each push publishes the version on `leadstream:rules:changed` in the same
MULTI/EXEC, so a worker that hears the message always finds that config (or a newer one)
under the key. The same transaction puts the document at the head of the list
`leadstream:rules:history` (newest first, the last `HISTORY_MAX`), so `rules rollback` can
push any recent version again (CONTRACT §13). WATCH on the key makes "is this version
already in force?" and the write one atomic step: two admins pushing at once cannot lose
a history entry or announce a version that is not the one stored.

Sync client (the CLI, worker start-up). The workers' async side is `ops.reload`.
Credentials and TLS come from the URL: ``rediss://user:password@host:port/db``; extra TLS
options go in its query (``?ssl_ca_certs=/path/ca.pem``), as redis-py reads them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson

KEY = "leadstream:rules"
CHANNEL = "leadstream:rules:changed"
HISTORY_KEY = "leadstream:rules:history"
HISTORY_MAX = 50
TIMEOUT = 5.0
_WATCH_RETRIES = 10

__all__ = [
    "CHANNEL", "HISTORY_KEY", "HISTORY_MAX", "KEY", "PushResult", "RulesStoreError",
    "StoredRules", "current_user", "decode_doc", "encode_doc", "fetch_history", "fetch_rules",
    "fetch_stored", "push_config", "push_rules", "redacted", "rollback_rules", "show_rules",
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
    pushed_by: str | None = None

    def summary(self) -> dict[str, Any]:
        """The entry without its YAML (listings)."""
        return {"version": self.version, "pushed_at": self.pushed_at,
                "pushed_by": self.pushed_by}

    def to_json(self) -> dict[str, Any]:
        return {**self.summary(), "yaml": self.yaml}


@dataclass(frozen=True, slots=True)
class PushResult:
    """What a push or rollback did. `pushed` False: `version` was already in force."""

    pushed: bool
    version: str
    previous: str | None
    receivers: int = 0


def current_user() -> str:
    """Who pushes: `$LEADSTREAM_USER`, else the OS user, else "unknown"."""
    import getpass

    name = os.environ.get("LEADSTREAM_USER", "").strip()
    if name:
        return name
    try:
        return getpass.getuser() or "unknown"
    except Exception:  # no passwd entry for the uid (containers)
        return "unknown"


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


def encode_doc(text: str, version: str, pushed_at: str | None = None,
               pushed_by: str | None = None) -> bytes:
    pushed_at = pushed_at or datetime.now(UTC).isoformat(timespec="seconds")
    return orjson.dumps({"yaml": text, "version": version, "pushed_at": pushed_at,
                         "pushed_by": pushed_by})


def decode_doc(raw: bytes | str) -> StoredRules:
    """Parse the stored document; ValueError when it is not one."""
    try:
        doc: Any = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{KEY} does not hold a JSON document: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("yaml"), str):
        raise ValueError(f"{KEY} does not hold a rules document (no 'yaml' text)")
    return StoredRules(doc["yaml"], str(doc.get("version") or "?"), doc.get("pushed_at"),
                       doc.get("pushed_by"))


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


def push_rules(url: str, text: str, version: str, *, pushed_by: str | None = None) -> int:
    """Store and announce unconditionally (tests, scripts); how many subscribers heard it."""
    return push_config(url, text, version, pushed_by=pushed_by, force=True).receivers


def push_config(url: str, text: str, version: str, *, pushed_by: str | None = None,
                force: bool = False) -> PushResult:
    """Store the config, add it to the history and announce its version, in one MULTI/EXEC.

    The caller has validated `text` (`version` is its rules_version). When that version is
    already in force nothing is written or published (`pushed` False), unless `force`.
    """
    import redis

    pushed_by = pushed_by or current_user()
    client = _client(url)
    try:
        for _ in range(_WATCH_RETRIES):
            with client.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(KEY, HISTORY_KEY)
                    current = _decode_or_none(pipe.get(KEY))
                    previous = current.version if current else None
                    if previous == version and not force:
                        return PushResult(False, version, previous)
                    seed = None
                    if current is not None and not pipe.exists(HISTORY_KEY):
                        # pushed before history was kept: keep it reachable for rollback
                        seed = encode_doc(current.yaml, current.version, current.pushed_at,
                                          current.pushed_by)
                    doc = encode_doc(text, version, pushed_by=pushed_by)
                    pipe.multi()
                    pipe.set(KEY, doc)
                    if seed is not None:
                        pipe.lpush(HISTORY_KEY, seed)
                    pipe.lpush(HISTORY_KEY, doc)
                    pipe.ltrim(HISTORY_KEY, 0, HISTORY_MAX - 1)
                    pipe.publish(CHANNEL, version)
                    receivers = pipe.execute()[-1]
                    return PushResult(True, version, previous, int(receivers))
                except redis.WatchError:
                    continue
        raise RulesStoreError(f"cannot push rules: {KEY} kept changing under us at "
                              f"{redacted(url)} ({_WATCH_RETRIES} tries); try again")
    except (redis.RedisError, OSError) as exc:
        raise _fail(url, "push rules", exc) from None
    finally:
        client.close()


def _decode_or_none(raw: bytes | None) -> StoredRules | None:
    """The document in force; an unreadable one counts as none (a push replaces it)."""
    if raw is None:
        return None
    try:
        return decode_doc(raw)
    except ValueError:
        return None


def fetch_history(url: str) -> list[StoredRules]:
    """The history, newest first (unreadable entries are skipped). A config pushed before
    history was kept is its only entry, so it shows and can be rolled back to."""
    import redis

    client = _client(url)
    try:
        pipe = client.pipeline(transaction=True)
        pipe.lrange(HISTORY_KEY, 0, HISTORY_MAX - 1)
        pipe.get(KEY)
        raws, current = pipe.execute()
    except (redis.RedisError, OSError) as exc:
        raise _fail(url, "read the rules history", exc) from None
    finally:
        client.close()
    if not raws and current is not None:
        raws = [current]
    return [e for e in map(_decode_or_none, raws) if e is not None]


def rollback_rules(url: str, version: str, *, pushed_by: str | None = None,
                   validate: Callable[[str], str] | None = None) -> PushResult:
    """Push the history's `version` again (a new history entry, the same MULTI/EXEC).

    `validate(yaml) -> version` re-checks the old text against today's schema (raising the
    caller's own error), so a rollback never brings back a config the workers would refuse.
    An unknown version is a RulesStoreError naming the versions kept.
    """
    wanted = version.strip().lower()
    history = fetch_history(url)
    entry = next((e for e in history if e.version.lower() == wanted), None)
    if entry is None:
        kept = ", ".join(dict.fromkeys(e.version for e in history)) or "none"
        raise RulesStoreError(f"rules rollback: version {version} is not in the history "
                              f"({HISTORY_KEY} keeps the last {HISTORY_MAX}; kept: {kept})")
    checked = validate(entry.yaml) if validate is not None else entry.version
    return push_config(url, entry.yaml, checked, pushed_by=pushed_by)


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
    by = f" by {stored.pushed_by}" if stored.pushed_by else ""
    return f"{stored.version} from redis (pushed at {stored.pushed_at or 'unknown time'}{by})"
