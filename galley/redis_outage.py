"""Redis, done without while it does not answer.

The catalog cache and the rate limits go on without Redis, in each process's memory. A
Redis that refuses connections fails at once; one that hangs fails only at its timeout,
so each of its users leaves it alone for a second once it failed (`RedisOutage`): a hung
Redis costs one request a second that timeout, not every request.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from redis.exceptions import RedisError
from structlog.typing import FilteringBoundLogger

# What Redis not answering raises: its client's errors (a timeout among them), or the
# socket's.
UNAVAILABLE = (RedisError, OSError)
_PAUSE_SECONDS = 1.0


class RedisOutage:
    """Whether one user of Redis should leave it alone for now. Its failure is logged once
    (`down`, with the host and the cause) until it answers again (`recovered`)."""

    def __init__(self, url: str, log: FilteringBoundLogger, *, down: str, recovered: str) -> None:
        address = urlsplit(url)
        self.host = f"{address.hostname}:{address.port or 6379}"
        self._log, self._down_event, self._recovered_event = log, down, recovered
        self._paused_until = 0.0
        self._down = False

    @property
    def paused(self) -> bool:
        return time.monotonic() < self._paused_until

    def failed(self, exc: BaseException) -> None:
        self._paused_until = time.monotonic() + _PAUSE_SECONDS
        if not self._down:
            self._log.warning(
                self._down_event, host=self.host, error=f"{type(exc).__name__}: {exc}"
            )
        self._down = True

    def answered(self) -> None:
        if self._down:
            self._log.info(self._recovered_event, host=self.host)
        self._down = False
