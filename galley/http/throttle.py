"""Rate limits: how often one caller may fail to log in, sign up, place orders, or call at all.

Four budgets, each a setting (`GALLEY_RATE_LIMIT_*`):

- failed log-ins per account and client address, against password guessing;
- sign-ups per client address, against accounts made in bulk;
- orders per customer, against bots buying up stock;
- requests per principal (an API key or a user; anonymous callers per client address),
  spent by every `/v1` request in `GalleyRoute` before its transaction opens.

The counts live in the process's memory, or in Redis when `GALLEY_REDIS_URL` is set, so
that all API processes spend from one budget. If Redis does not answer, each process
falls back to budgets in its own memory rather than the shop stopping or the limits
lapsing (password guessing stays limited, per process); `/readyz` reports Redis down and
the log says so once.

Why these strategies. A token bucket of N tokens refilled over a period lets at most N
through at once and N per period on average. `limits` offers windows instead:

- The moving window keeps the time of each of the last N hits and refuses while the
  oldest of them is younger than the period. Never more than N in any period, no double
  burst at a window's edge, and the wait is exact: until the oldest hit ages out. It keeps
  N timestamps per key, which is nothing for the small budgets: log-ins, sign-ups and
  orders use it.
- The sliding window counter keeps two counters per key and weighs the previous window by
  how much of it the period still covers; near a window's edge it may be off by a little.
  The general budget (1200 a minute by default, one key per caller) uses it: two counters
  instead of 1200 timestamps per caller, and a little slack does not matter there.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import time
from typing import Annotated, Any, NamedTuple

import structlog
from fastapi import Depends, Request
from limits import RateLimitItem
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import (
    MovingWindowRateLimiter,
    RateLimiter,
    SlidingWindowCounterRateLimiter,
)
from redis.asyncio import ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from galley.config import Settings
from galley.errors import TooManyRequests
from galley.redis_outage import UNAVAILABLE, RedisOutage

log = structlog.get_logger("galley.http")

# Redis is asked on every request: one that does not answer within this long is treated as
# down for that request, rather than holding it up.
_REDIS_TIMEOUT_SECONDS = 0.5


class _Budget(NamedTuple):
    name: str
    rate: RateLimitItem
    limiter: RateLimiter
    # The same strategy in this process's memory, for while the shared store is down.
    fallback: RateLimiter
    refusal: str
    error: type[TooManyRequests] = TooManyRequests


def retry_after(reset_at: float, now: float) -> int:
    """Whole seconds until a refused caller may try again: rounded up, at least 1."""
    return max(1, math.ceil(reset_at - now))


def budget_key(caller: str, address: str) -> str:
    """Whose general budget a request spends: its principal's, or, for a caller without
    credentials, its client address's."""
    return f"address:{address}" if caller == "anonymous" else caller


def _hidden(*parts: str) -> str:
    """Storage keys name no e-mail or client address in clear, so a dump of Redis lists
    none. (Unsalted: it keeps keys clean, it does not stop someone who tries every address.)"""
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


class LocalStorage(MemoryStorage):
    """limits' in-process storage, its expired hits dropped at most once a second, inline.

    `MemoryStorage` starts a task to sweep every key after any hit, as soon as the last
    sweep has ended, and hands each key's hits to a thread to bisect: under load a thread
    hop per key, back to back (a tenth of an order's CPU in the bench's profile of a
    paced S1). Here a hit more than `SWEEP_SECONDS` after the last sweep sweeps, at once
    and without awaiting, so no hit can run in the middle of it (none awaits while it
    holds its key either). The sweep only frees memory: a window counts only the hits
    within it, swept or not."""

    SWEEP_SECONDS = 1.0

    def __init__(self) -> None:
        super().__init__()
        self._swept = time.monotonic()

    # limits calls this (name-mangled: `__schedule_expiry`) on every hit and release.
    async def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        if now - self._swept >= self.SWEEP_SECONDS:
            self._swept = now
            self._sweep(time.time())

    def _sweep(self, now: float) -> None:
        for key, hits in list(self.events.items()):
            # Newest first: the unexpired ones lead.
            kept = hits[: bisect.bisect_left(hits, -now, key=lambda hit: -hit.expiry)]
            if kept:
                self.events[key] = kept
            else:
                del self.events[key]
                self.locks.pop(key, None)
        for key, expires in list(self.expirations.items()):
            if expires <= now:
                self.storage.pop(key, None)
                del self.expirations[key]
                self.locks.pop(key, None)


class Throttle:
    """The four budgets of one app, kept in one storage."""

    def __init__(
        self, settings: Settings, storage: Storage, pool: ConnectionPool | None = None
    ) -> None:
        exact = MovingWindowRateLimiter(storage)
        smooth = SlidingWindowCounterRateLimiter(storage)
        local = LocalStorage()
        exact_here, smooth_here = (
            MovingWindowRateLimiter(local),
            SlidingWindowCounterRateLimiter(local),
        )
        self._storage = storage
        self._pool = pool
        # Only a shared store can fail; memory has nothing to catch.
        self._unavailable: tuple[type[Exception], ...] = UNAVAILABLE if pool else ()
        self._outage = (
            RedisOutage(
                settings.redis_url.get_secret_value(),
                log,
                down="rate_limit.storage_unavailable",
                recovered="rate_limit.storage_recovered",
            )
            if pool and settings.redis_url
            else None
        )
        self._login = _Budget(
            "login",
            settings.rate_limit_login_failures,
            exact,
            exact_here,
            "Too many failed log-ins to this account from this address",
        )
        self._signup = _Budget(
            "signup",
            settings.rate_limit_signups,
            exact,
            exact_here,
            "Too many sign-ups from this address",
        )
        self._order = _Budget(
            "order",
            settings.rate_limit_orders,
            exact,
            exact_here,
            "Too many orders from this customer",
        )
        self._request = _Budget(
            "request",
            settings.rate_limit_requests,
            smooth,
            smooth_here,
            "Too many requests with these credentials or from this address",
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Throttle:
        """In memory, or in Redis under `redis_key_prefix` when `redis_url` is set."""
        if not settings.redis_url:
            return cls(settings, LocalStorage())
        pool = ConnectionPool.from_url(
            settings.redis_url.get_secret_value(),
            socket_timeout=_REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=_REDIS_TIMEOUT_SECONDS,
            # One quick retry for a pooled connection Redis closed; no backoff on a hot path.
            retry=Retry(NoBackoff(), 1),
        )
        options: dict[str, Any] = {"connection_pool": pool}
        storage = RedisStorage(
            "async+" + settings.redis_url.get_secret_value(),
            implementation="redispy",
            key_prefix=settings.redis_key_prefix,
            **options,
        )
        return cls(settings, storage, pool)

    async def spend_request(self, caller: str, address: str) -> None:
        """One request of `caller` (see `caller_key`); anonymous callers share by address."""
        await self._spend(self._request, _hidden(budget_key(caller, address)))

    async def spend_login_attempt(
        self, email: str, address: str, *, refused: type[TooManyRequests] = TooManyRequests
    ) -> None:
        """Before the password is checked. Each attempt takes a place in the budget at once,
        so parallel guesses cannot all slip past one check; `forget_login_failures` gives the
        places back when the password was right, so only failures stay counted. A spent
        budget raises `refused`."""
        await self._spend(self._login._replace(error=refused), _hidden(email, address))

    async def forget_login_failures(self, email: str, address: str) -> None:
        who = _hidden(email, address)
        if not self._paused:
            try:
                await self._login.limiter.clear(self._login.rate, self._login.name, who)
            except self._unavailable as exc:
                self._failed(exc)
        await self._login.fallback.clear(self._login.rate, self._login.name, who)

    async def spend_signup(self, address: str) -> None:
        await self._spend(self._signup, _hidden(address))

    async def spend_order(self, customer_id: int) -> None:
        await self._spend(self._order, str(customer_id))

    async def ready(self) -> bool:
        """Whether the storage answers (memory always does)."""
        return await self._storage.check()

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()

    async def _spend(self, budget: _Budget, who: str) -> None:
        """One hit; refused with 429 and the seconds to wait once the budget is spent. In
        memory while the shared store does not answer (`RedisOutage`)."""
        if self._paused:
            await self._hit(budget, budget.fallback, who)
            return
        try:
            await self._hit(budget, budget.limiter, who)
        except self._unavailable as exc:
            self._failed(exc)
            await self._hit(budget, budget.fallback, who)
            return
        if self._outage is not None:
            self._outage.answered()

    @staticmethod
    async def _hit(budget: _Budget, limiter: RateLimiter, who: str) -> None:
        if await limiter.hit(budget.rate, budget.name, who):
            return
        stats = await limiter.get_window_stats(budget.rate, budget.name, who)
        raise budget.error(budget.refusal, retry_after(stats.reset_time, time.time()))

    @property
    def _paused(self) -> bool:
        return self._outage is not None and self._outage.paused

    def _failed(self, exc: Exception) -> None:
        if self._outage is not None:
            self._outage.failed(exc)


def client_address(request: Request) -> str:
    """The caller's address, as the server (or a trusted proxy in front of it) saw it."""
    return request.client.host if request.client else "unknown"


async def _throttle(request: Request) -> Throttle:
    throttle: Throttle = request.app.state.throttle
    return throttle


AppThrottle = Annotated[Throttle, Depends(_throttle)]


async def _client_address(request: Request) -> str:
    return client_address(request)


ClientAddress = Annotated[str, Depends(_client_address)]
