"""Reaching the machine's services from tests: skip on a laptop without them, fail in CI."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

import asyncpg
import pytest
import redis

POSTGRES_URL = os.environ.get(
    "GALLEY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("GALLEY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


T = TypeVar("T")


def blocking(work: Callable[[], T | Awaitable[T]]) -> T:
    """Run set-up work on its own thread and loop, so it works inside or outside a test's loop."""

    def run() -> T:
        result = work()
        if asyncio.iscoroutine(result):
            return asyncio.run(result)  # type: ignore[no-any-return]
        return result  # type: ignore[return-value]

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


def require(service: str, reason: str) -> None:
    """With CI=true a missing service fails the test; elsewhere it skips with one line."""
    message = f"{service} not reachable ({reason})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(POSTGRES_URL, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for this test run; dropped afterwards."""
    name = f"galley_test_{uuid.uuid4().hex[:12]}"
    try:
        blocking(lambda: _admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        require("PostgreSQL", f"{POSTGRES_URL}: {exc}")
    base = POSTGRES_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        blocking(lambda: _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def redis_key_prefix() -> Iterator[str]:
    """A key prefix of this test's own on the Redis server; its keys are deleted afterwards."""
    prefix = f"galley-test-{uuid.uuid4().hex[:12]}"
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        require("Redis", f"{REDIS_URL}: {exc}")
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        if keys:
            client.delete(*keys)
        client.close()
