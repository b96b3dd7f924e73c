"""Reaching the machine's services from tests: skip on a laptop without them, fail in CI."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from typing import TypeVar
from urllib.parse import urlsplit

import asyncpg
import pytest
import redis

from tests.live import free_port

POSTGRES_URL = os.environ.get(
    "GALLEY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("GALLEY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# The server's root; each test run works in a virtual host of its own on it.
RABBITMQ_URL = os.environ.get("GALLEY_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")


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


def _rabbitmqctl(*args: str) -> None:
    """RabbitMQ's own administration command (the server here has no HTTP API)."""
    if shutil.which("rabbitmqctl") is None:
        raise OSError("rabbitmqctl is not installed")
    done = subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise OSError(f"rabbitmqctl {' '.join(args)}: {done.stderr.strip() or done.stdout.strip()}")


# The test at hand, set by `tests/conftest.py`.
running: list[pytest.Item] = []


def _named_for_rabbitmq() -> None:
    """RabbitMQ is one server, and a test may stop it: when the suite runs in several
    processes, the tests with "rabbitmq" in their id run in one of them (`tests/conftest.py`),
    so a test that uses it must say so there."""
    if running and "rabbitmq" not in running[-1].nodeid:
        raise AssertionError(f"{running[-1].nodeid} uses RabbitMQ: put rabbitmq in its id")


@contextmanager
def rabbitmq_vhost() -> Iterator[str]:
    """A virtual host of this test run's own on the RabbitMQ server, so its exchanges and
    queues start empty; deleted afterwards. Yields its URL."""
    name = f"galley-test-{uuid.uuid4().hex[:12]}"
    server = urlsplit(RABBITMQ_URL)
    _named_for_rabbitmq()
    try:
        _rabbitmqctl("add_vhost", name)
        _rabbitmqctl("set_permissions", "-p", name, server.username or "guest", ".*", ".*", ".*")
    except (OSError, subprocess.SubprocessError) as exc:
        require("RabbitMQ", f"{server.hostname}:{server.port}: {exc}")
    try:
        yield server._replace(path=f"/{name}").geturl()
    finally:
        _rabbitmqctl("delete_vhost", name)


@asynccontextmanager
async def rabbitmq_stopped() -> AsyncIterator[None]:
    """RabbitMQ stopped for the block (every connection dropped, the port closed), and
    started again after it whatever happens, so the rest of the run finds it up. The
    event loop runs on meanwhile."""
    _named_for_rabbitmq()
    await asyncio.to_thread(_rabbitmqctl, "stop_app")
    try:
        yield
    finally:
        await asyncio.to_thread(_rabbitmqctl, "start_app")
        await asyncio.to_thread(_rabbitmqctl, "await_startup")


@contextmanager
def own_redis() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A Redis server of this test's own, which it may stop: yields its URL and process."""
    if shutil.which("redis-server") is None:
        require("Redis", "redis-server is not installed")
    port = free_port()
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_timeout=1)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield url, process
    finally:
        client.close()
        process.kill()
        process.wait()
