"""Hot reload of the rules config into a `RulesHolder`, from Redis or from the rules file.

A config is validated off the event loop (`ops.rules_check`: a child process with a time
and memory limit, then the load in a thread), so no config, however large or hostile, stops
processing or `/healthz`. A swap is one reference assignment done on the event loop, between
two events: agents read `holder.current` once per event, so no decision ever mixes two
configs. A config that does not validate, breaks a bound, or exceeds the time or memory
limit is refused whole (logged with every error, counted `refused`) and the rules in force
stay. Redis unreachable, at start or later, is logged and counted `error`; the worker
keeps its rules and reconnects with capped exponential backoff, then re-reads the stored
config, so a push made during the outage is picked up. Nothing here raises out of `run()`.

Logs carry versions, sources and config errors only, never interaction data.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import random
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ops.metrics import RULE_RELOADS, set_rules_version
from ops.rules_check import Checked, load_checked
from ops.rules_store import CHANNEL, KEY, decode_doc, redacted
from rules.bounds import MAX_TEXT_BYTES, too_big
from rules.holder import RulesHolder

log = logging.getLogger(__name__)

__all__ = ["FileReloader", "RedisReloader", "ReloadResult"]


@dataclass(slots=True)
class ReloadResult:
    """What one reload attempt did. `version` is the version in force afterwards."""

    result: str  # ok | unchanged | refused | error | empty
    version: str
    detail: str = ""
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# The stored JSON document escapes the YAML text: at most 6 bytes per byte (\u00XX), plus
# its other fields. Anything longer is refused from STRLEN, without reading it.
MAX_STORED_BYTES = 6 * MAX_TEXT_BYTES + 4096


def _digest(text: str | bytes) -> str:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


class _Reloader:
    kind = "?"

    def __init__(self, holder: RulesHolder) -> None:
        self.holder = holder
        self.last: ReloadResult | None = None
        self.loaded_from: dict[str, Any] = {"source": holder.current.source}
        self._seen: str | None = None  # digest of the last text validated (kept or refused)
        self._task: asyncio.Task[None] | None = None
        self._lock: asyncio.Lock | None = None

    # -- one attempt ------------------------------------------------------------------
    async def apply_text(self, text: str | bytes, *, source: str,
                         announced: str | None = None, pushed_at: str | None = None,
                         force: bool = False) -> ReloadResult:
        """Validate `text` off the loop and swap it in, or refuse it. Serialised by the
        reloader's lock; the swap itself is one assignment on the loop."""
        async with self._get_lock():
            return await self._apply(text, source=source, announced=announced,
                                     pushed_at=pushed_at, force=force)

    async def _apply(self, text: str | bytes, *, source: str, announced: str | None = None,
                     pushed_at: str | None = None, force: bool = False) -> ReloadResult:
        digest = _digest(text)
        if digest == self._seen and not force:
            return self._done(ReloadResult("unchanged", self.holder.version), count=False)
        self._seen = digest
        cancel = threading.Event()
        try:
            checked, rules = await asyncio.to_thread(load_checked, text, source, cancel=cancel)
        except asyncio.CancelledError:
            cancel.set()  # the worker is stopping: kill the check, do not wait for it
            raise
        if rules is None:
            if checked.result == "error":
                self._seen = None  # the check could not run: try this text again next time
            return self._refuse(checked, source, announced)
        if announced and announced != rules.version:
            log.warning("rules from %s announced as %s validate as %s; using %s",
                        source, announced, rules.version, rules.version)
        if not self.holder.swap(rules):
            return self._done(ReloadResult("unchanged", rules.version), count=False)
        set_rules_version(rules.version)
        self.loaded_from = {"source": source, "pushed_at": pushed_at,
                            "loaded_at": datetime.now(UTC).isoformat(timespec="seconds")}
        return self._done(ReloadResult("ok", rules.version, f"from {source}"))

    def _refuse(self, checked: Checked, source: str, announced: str | None) -> ReloadResult:
        log.warning(
            "rules %s from %s refused, keeping %s; %d error(s):\n%s",
            announced or "(unversioned)", source, self.holder.version, len(checked.errors),
            "\n".join(f"  {e}" for e in checked.errors),
        )
        result = "error" if checked.result == "error" else "refused"
        return self._done(ReloadResult(result, self.holder.version,
                                       f"config from {source} refused", list(checked.errors)))

    def _done(self, res: ReloadResult, count: bool = True) -> ReloadResult:
        if count:
            RULE_RELOADS.labels(result=res.result).inc()
        self.last = res
        return res

    def _error(self, detail: str) -> ReloadResult:
        return self._done(ReloadResult("error", self.holder.version, detail))

    def _get_lock(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    # -- lifecycle --------------------------------------------------------------------
    async def run(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def start(self) -> asyncio.Task[None]:
        """Run in a background task of the running loop (tests; `install` uses the app)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self.run(), name=self.kind)
        return self._task

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def status(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.loaded_from,
                "last": self.last.as_dict() if self.last else None}


class RedisReloader(_Reloader):
    """Subscribe to `leadstream:rules:changed`; on each message re-read `leadstream:rules`."""

    kind = "redis"

    def __init__(self, url: str, holder: RulesHolder, *, min_backoff: float = 0.5,
                 max_backoff: float = 30.0, connect_timeout: float = 5.0,
                 health_check_interval: int = 15) -> None:
        super().__init__(holder)
        self.url = url
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.connect_timeout = connect_timeout
        self.health_check_interval = health_check_interval
        self.connected = asyncio.Event()  # set while subscribed (tests wait on it)
        self.failures = 0  # consecutive failed connection attempts

    def _client(self) -> Any:
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        # No silent retries inside redis-py: a dropped connection must come back through
        # `run()`, which re-reads the stored config after every reconnect.
        return aioredis.Redis.from_url(
            self.url, socket_connect_timeout=self.connect_timeout,
            socket_timeout=self.connect_timeout, socket_keepalive=True,
            health_check_interval=self.health_check_interval, retry=Retry(NoBackoff(), 0),
        )

    @staticmethod
    async def _fetch(client: Any) -> bytes | int | None:
        """The stored document, or its size when it is too large to read."""
        stored_size = int(await client.strlen(KEY))
        if stored_size > MAX_STORED_BYTES:  # never read a huge value into the worker
            return stored_size
        raw: bytes | None = await client.get(KEY)
        return raw

    async def _check_stored(self, client: Any, force: bool = False) -> ReloadResult:
        return await self._apply_stored(await self._fetch(client), force)

    async def _apply_stored(self, raw: bytes | int | None, force: bool) -> ReloadResult:
        if isinstance(raw, int):
            return self._refuse(Checked("refused", errors=[f"(root): {too_big(raw)}"]),
                                "redis", None)
        async with self._get_lock():
            if raw is None:
                log.info("no rules in redis (%s unset); keeping %s", KEY, self.holder.version)
                self.last = ReloadResult("empty", self.holder.version, f"{KEY} is not set")
                return self.last
            try:
                doc = decode_doc(raw)
            except ValueError as exc:
                if _digest(raw) == self._seen and not force:
                    return self._done(ReloadResult("unchanged", self.holder.version), False)
                self._seen = _digest(raw)
                log.warning("rules in redis refused, keeping %s: %s", self.holder.version, exc)
                return self._done(ReloadResult("refused", self.holder.version, str(exc),
                                               [f"(root): {exc}"]))
            return await self._apply(doc.yaml, source="redis", announced=doc.version,
                                     pushed_at=doc.pushed_at, force=force)

    async def run(self) -> None:
        """Until cancelled: connect, subscribe, load the stored config, follow messages."""
        set_rules_version(self.holder.version)
        delay = self.min_backoff
        while True:
            client = pubsub = None
            try:
                client = self._client()
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                await pubsub.subscribe(CHANNEL)  # before reading: no push falls in between
                await self._check_stored(client)
                if self.failures:
                    log.info("redis %s reachable again; rules %s in force",
                             redacted(self.url), self.holder.version)
                self.failures, delay = 0, self.min_backoff
                self.connected.set()
                while True:
                    msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if msg is not None and msg.get("type") == "message":
                        await self._check_stored(client)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # redis errors, OSError, timeouts, and our own bugs
                self.connected.clear()
                self.failures += 1
                self._error(f"redis: {type(exc).__name__}: {exc}")
                log.warning("rules reload: redis %s unreachable (%s: %s); keeping %s, "
                            "retrying in %.1fs", redacted(self.url), type(exc).__name__, exc,
                            self.holder.version, delay)
            finally:
                self.connected.clear()
                for closing in (pubsub, client):
                    if closing is not None:
                        with contextlib.suppress(Exception):
                            await asyncio.wait_for(closing.aclose(), 2.0)
            await asyncio.sleep(delay * random.uniform(0.8, 1.0))
            delay = min(delay * 2, self.max_backoff)

    async def force_reload(self) -> ReloadResult:
        """Re-read and re-validate the stored config now (admin endpoint)."""
        client = self._client()
        try:
            raw = await asyncio.wait_for(self._fetch(client), self.connect_timeout + 1)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("forced rules reload: redis %s unreachable (%s: %s); keeping %s",
                        redacted(self.url), type(exc).__name__, exc, self.holder.version)
            return self._error(f"redis unreachable: {type(exc).__name__}: {exc}")
        finally:
            with contextlib.suppress(Exception):
                await client.aclose()
        return await self._apply_stored(raw, force=True)

    def status(self) -> dict[str, Any]:
        return {**super().status(), "redis": redacted(self.url),
                "connected": self.connected.is_set()}


class FileReloader(_Reloader):
    """Poll the rules file; reload when its contents change (after they settle)."""

    kind = "file"

    def __init__(self, path: str | os.PathLike[str], holder: RulesHolder,
                 interval: float = 1.0) -> None:
        super().__init__(holder)
        self.path = Path(path)
        self.interval = interval
        self._stat: tuple[int, int, int] | None = None  # stat seen at the previous poll
        self._applied_stat: tuple[int, int, int] | None = None
        self._file_error: str | None = None
        self._polls = 0

    @property
    def source(self) -> str:
        return f"file:{self.path}"

    async def _read(self, force: bool = False) -> ReloadResult | None:
        try:
            with self.path.open("rb") as f:  # a huge file is refused from its size, unread
                text = f.read(MAX_TEXT_BYTES + 1)
                size = max(len(text), os.fstat(f.fileno()).st_size)
        except OSError as exc:
            return self._file_failed(exc)
        self._file_error = None
        if size > MAX_TEXT_BYTES:
            text = f"too big: {size}".encode()  # remembered as seen, so refused once
            if _digest(text) == self._seen and not force:
                return None
            self._seen = _digest(text)
            return self._refuse(Checked("refused", errors=[f"(root): {too_big(size)}"]),
                                self.source, None)
        return await self.apply_text(text, source=self.source, force=force)

    def _file_failed(self, exc: OSError) -> ReloadResult | None:
        msg = f"cannot read {self.path}: {exc.strerror or exc}"
        if msg == self._file_error:
            return None  # counted and logged once per distinct failure
        self._file_error = msg
        log.warning("rules reload: %s; keeping %s", msg, self.holder.version)
        return self._error(msg)

    async def poll_once(self) -> ReloadResult | None:
        """One poll: read and apply when the file changed and stayed put for one interval
        (so a half-written file is not refused); also re-hash every 30 polls in case the
        file changed within one mtime tick."""
        self._polls += 1
        try:
            st = os.stat(self.path)
        except OSError as exc:
            self._stat = None
            return self._file_failed(exc)
        key = (st.st_mtime_ns, st.st_size, st.st_ino)
        previous, self._stat = self._stat, key
        if key != self._applied_stat:
            if key != previous and self._applied_stat is not None:
                return None  # changed since last poll: wait one interval for it to settle
            self._applied_stat = key
            return await self._read()
        if self._polls % 30 == 0:
            return await self._read()
        return None

    async def run(self) -> None:
        set_rules_version(self.holder.version)
        while True:
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug here must not stop the worker
                log.exception("rules reload: polling %s failed", self.path)
            await asyncio.sleep(self.interval)

    async def force_reload(self) -> ReloadResult:
        self._file_error = None
        res = await self._read(force=True)
        assert res is not None
        return res

    def status(self) -> dict[str, Any]:
        return {**super().status(), "path": str(self.path)}
