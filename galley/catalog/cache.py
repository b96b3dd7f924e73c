"""Catalog reads kept as answered (JSON and ETag), cache-aside, for at most
`GALLEY_CACHE_MAX_STALENESS_MS` (1 s).

How no process serves a read more than that after a change commits:

- A read is kept until its deadline, counted from *before* it was looked up, so what it
  saw of the database is never older than the bound when it is served. This alone holds
  the bound everywhere, whatever else fails.
- A change to a product forgets every kept read once its transaction commits (never when
  it rolls back): at once in the process that made it, which so always reads its own
  writes. With `GALLEY_REDIS_URL` the reads are kept in Redis instead, each stamped with
  the catalog's generation there, which a commit increments: a read stamped with an older
  generation is a miss, so every process sees the change within the few milliseconds the
  increment takes. A read computed while a change commits keeps the generation it was
  looked up under, and so never outlives the change.
- While Redis does not answer, each process keeps its reads in its own memory, as
  without Redis, and asks Redis again a second later; the log says so once per outage.

Concurrent misses of one key in a process wait for one computation (single flight), and
share its answer or its error; a miss whose computation was cancelled computes anew.
The key says what the caller may see (`galley.catalog.api`), so that a read made for an
editor, inactive products included, is never answered to anyone else.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from hashlib import sha256
from typing import Protocol, cast

import structlog
from cachetools import TLRUCache
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from galley.config import Settings
from galley.http.etags import Tagged
from galley.redis_outage import UNAVAILABLE, RedisOutage

log = structlog.get_logger("galley.catalog")

# Redis answers in well under a millisecond nearby: one that has not within this long is
# taken as down for that read, which then goes to the database.
_REDIS_TIMEOUT_SECONDS = 0.25
# The JSON a process keeps in memory at most: a busy catalog's pages many times over,
# while fresh searches asked by the thousand (a scraper) cannot make it grow without end.
_MAX_KEPT_BYTES = 64 * 1024 * 1024

Compute = Callable[[], Awaitable[Tagged]]
Keep = Callable[[Tagged, float], Awaitable[None]]


class _Store(Protocol):
    async def lookup(self, key: str) -> tuple[Tagged | None, Keep]:
        """The read kept under `key`, and how to keep one computed now (until a deadline
        on `time.monotonic`) under the generation it was looked up in."""

    def forget(self) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class _Kept:
    tagged: Tagged
    deadline: float


class _Memory:
    """Reads kept in this process, each until its deadline; a change forgets them all."""

    def __init__(self) -> None:
        self._kept: TLRUCache[str, _Kept] = TLRUCache(
            maxsize=_MAX_KEPT_BYTES,
            ttu=lambda _key, kept, _now: kept.deadline,
            timer=time.monotonic,
            getsizeof=lambda kept: len(kept.tagged.body),
        )
        self._generation = 0

    async def lookup(self, key: str) -> tuple[Tagged | None, Keep]:
        generation = self._generation

        async def keep(tagged: Tagged, deadline: float) -> None:
            if self._generation == generation:
                self._kept[key] = _Kept(tagged, deadline)

        kept = self._kept.get(key)
        return (None if kept is None else kept.tagged), keep

    def forget(self) -> None:
        self._generation += 1
        self._kept.clear()

    async def close(self) -> None:
        self._kept.clear()


class _Shared:
    """Reads kept in Redis, stamped with the catalog's generation there; in `local` while
    Redis does not answer."""

    def __init__(self, url: str, prefix: str, local: _Memory) -> None:
        self._redis = Redis.from_url(
            url,
            socket_timeout=_REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=_REDIS_TIMEOUT_SECONDS,
            # One quick retry for a pooled connection Redis closed; no backoff on a read.
            retry=Retry(NoBackoff(), 1),
        )
        self._outage = RedisOutage(
            url,
            log,
            down="catalog_cache.redis_unavailable",
            recovered="catalog_cache.redis_recovered",
        )
        self._generation = f"{prefix}:catalog:generation"
        self._prefix = f"{prefix}:catalog:read:"
        self._local = local
        self._increments: set[asyncio.Task[None]] = set()

    async def lookup(self, key: str) -> tuple[Tagged | None, Keep]:
        if self._outage.paused:
            return await self._local.lookup(key)
        name = self._prefix + sha256(key.encode()).hexdigest()[:32]
        try:
            answer = await self._redis.mget(self._generation, name)
        except UNAVAILABLE as exc:
            self._outage.failed(exc)
            return await self._local.lookup(key)
        self._outage.answered()
        generation, raw = cast(list[bytes | None], answer)
        stamp = generation or b"0"

        async def keep(tagged: Tagged, deadline: float) -> None:
            milliseconds = int((deadline - time.monotonic()) * 1000)
            if milliseconds > 0:
                value = b"%s %s\n%s" % (stamp, tagged.etag.encode(), tagged.body)
                await self._asked(self._redis.set(name, value, px=milliseconds))

        return _stamped(raw, stamp), keep

    def forget(self) -> None:
        """Called as a transaction commits, which cannot wait: the increment follows."""
        self._local.forget()
        task = asyncio.get_running_loop().create_task(
            self._asked(self._redis.incr(self._generation))
        )
        self._increments.add(task)
        task.add_done_callback(self._increments.discard)

    async def close(self) -> None:
        await asyncio.gather(*self._increments)
        await self._redis.aclose()

    async def _asked(self, command: Awaitable[object]) -> None:
        try:
            await command
        except UNAVAILABLE as exc:
            self._outage.failed(exc)
        else:
            self._outage.answered()


def _stamped(raw: bytes | None, stamp: bytes) -> Tagged | None:
    """The read Redis holds, if it was kept under the generation now in force."""
    if raw is None:
        return None
    header, _, body = raw.partition(b"\n")
    kept_in, _, etag = header.partition(b" ")
    return Tagged(body, etag.decode()) if kept_in == stamp else None


class CatalogCache:
    """Catalog reads by key (see the module's docstring); `max_staleness_ms` 0 keeps none."""

    def __init__(self, max_staleness_ms: int, store: _Store) -> None:
        self._seconds = max_staleness_ms / 1000
        self._store = store
        self._flights: dict[str, asyncio.Future[Tagged]] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> CatalogCache:
        """In memory, or in Redis under `redis_key_prefix` when `redis_url` is set."""
        local = _Memory()
        if not settings.redis_url:
            return cls(settings.cache_max_staleness_ms, local)
        shared = _Shared(settings.redis_url.get_secret_value(), settings.redis_key_prefix, local)
        return cls(settings.cache_max_staleness_ms, shared)

    async def read(self, key: str, compute: Compute) -> Tagged:
        """The read kept under `key`, or `compute`'s answer, kept (an error is not)."""
        if self._seconds == 0:
            return await compute()
        while (flight := self._flights.get(key)) is not None:
            try:
                return await asyncio.shield(flight)
            except asyncio.CancelledError:
                if not flight.cancelled():
                    raise  # this request was cancelled, not the one computing
        flight = asyncio.get_running_loop().create_future()
        self._flights[key] = flight
        try:
            found = await self._fetch(key, compute)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                flight.cancel()
            else:
                flight.set_exception(exc)
                flight.exception()  # retrieved, even when no one else waited
            raise
        finally:
            if self._flights.get(key) is flight:
                del self._flights[key]
        flight.set_result(found)
        return found

    async def _fetch(self, key: str, compute: Compute) -> Tagged:
        deadline = time.monotonic() + self._seconds
        kept, keep = await self._store.lookup(key)
        if kept is not None:
            return kept
        found = await compute()
        await keep(found, deadline)
        return found

    def forget_after_commit(self, session: AsyncSession) -> None:
        """Forget every kept read once the session's transaction commits; nothing happens
        if it rolls back (or when only a savepoint of it is released)."""

        def committed(sync_session: Session) -> None:
            if not sync_session.in_nested_transaction():
                self._forget()

        event.listen(session.sync_session, "after_commit", committed)

    def _forget(self) -> None:
        # A read still being computed started before the change: later misses compute anew.
        self._flights.clear()
        self._store.forget()

    async def close(self) -> None:
        await self._store.close()
