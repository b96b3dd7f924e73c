"""A database that is down or does not answer: every request answers 503
`database-unavailable` with `Retry-After`, within the configured waits, never a 500; and
/readyz answers within its own timeout whatever hangs.

"Down" is a port where nothing listens (`free_port`); "does not answer" a server of the
test's own that accepts connections and never says a word (a black hole), or a proxy to
the real PostgreSQL that the test pauses or cuts in the middle of a request.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from galley.app import create_app
from galley.config import Settings, load_settings
from tests.auth import api_key, bearer
from tests.live import free_port
from tests.problems import PROBLEM_BASE, problem

# A key of the right shape: the database that would say whether it is known is down.
SOME_API_KEY = bearer("gk_live_" + "k" * 43)
ORDER = {"location": "KITCHEN", "lines": [{"sku": "TEA", "quantity": 1}]}
REQUESTS = [
    pytest.param("GET", "/v1/orders", None, id="read"),
    pytest.param("POST", "/v1/orders", ORDER, id="write"),
]
# What a 503 must never show of how it came about.
INTERNALS = ("traceback", "select", "sqlalchemy", "asyncpg", "errno", "127.0.0.1", ".py")


class _Silent(asyncio.Protocol):
    """Takes the connection and never says a word."""

    def __init__(self, held: list[asyncio.BaseTransport]) -> None:
        self.held = held

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.held.append(transport)


@asynccontextmanager
async def black_hole() -> AsyncIterator[tuple[int, list[asyncio.BaseTransport]]]:
    """A port that accepts connections and never answers; yields it and the connections."""
    held: list[asyncio.BaseTransport] = []
    server = await asyncio.get_running_loop().create_server(lambda: _Silent(held), "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], held
    finally:
        server.close()
        for transport in held:
            transport.close()


def postgres_at(port: int) -> str:
    return f"postgresql+asyncpg://galley@127.0.0.1:{port}/galley"


@asynccontextmanager
async def api(settings: Settings, headers: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://galley.test", headers=headers, timeout=60
        ) as client:
            yield client
    finally:
        await app.state.engine.dispose()


async def timed(client: httpx.AsyncClient, method: str, path: str, body: Any = None) -> Any:
    started = time.monotonic()
    response = await client.request(method, path, json=body)
    return response, time.monotonic() - started


def assert_database_unavailable(response: httpx.Response) -> None:
    body = problem(response, 503)
    assert body["type"] == PROBLEM_BASE + "database-unavailable"
    assert int(response.headers["retry-after"]) >= 1
    shown = response.text.lower()
    assert not [word for word in INTERNALS if word in shown], response.text


@pytest.mark.parametrize(("method", "path", "body"), REQUESTS)
async def test_a_request_to_a_database_that_does_not_answer_is_503_once_the_connect_timeout_passes(
    method: str, path: str, body: Any
) -> None:
    async with black_hole() as (port, held):
        settings = load_settings(database_url=postgres_at(port), database_connect_timeout_seconds=1)
        async with api(settings, SOME_API_KEY) as client:
            response, seconds = await timed(client, method, path, body)

    assert_database_unavailable(response)
    assert held, "the request never tried the database"
    assert 0.9 < seconds < 2.5


@pytest.mark.parametrize(("method", "path", "body"), REQUESTS)
async def test_a_request_to_a_database_that_is_down_is_503_at_once(
    method: str, path: str, body: Any
) -> None:
    settings = load_settings(database_url=postgres_at(free_port()))
    async with api(settings, SOME_API_KEY) as client:
        response, seconds = await timed(client, method, path, body)

    assert_database_unavailable(response)
    assert seconds < 1


async def test_a_request_finding_every_connection_stuck_is_503_once_the_pool_timeout_passes() -> (
    None
):
    async with black_hole() as (port, held):
        settings = load_settings(
            database_url=postgres_at(port),
            database_pool_size=1,
            database_connect_timeout_seconds=3,
            database_pool_timeout_seconds=0.2,
        )
        async with api(settings, SOME_API_KEY) as client:
            first = asyncio.create_task(timed(client, "GET", "/v1/orders"))
            while not held:  # the pool's one connection is being made, and stuck
                await asyncio.sleep(0.01)
            second, seconds = await timed(client, "GET", "/v1/products")
            await first

    assert_database_unavailable(second)
    assert seconds < 1.5
    assert_database_unavailable(first.result()[0])


async def test_a_database_unavailable_is_logged_as_one_event_without_its_trace(
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = load_settings(database_url=postgres_at(free_port()), log_format="json")
    async with api(settings, SOME_API_KEY) as client:
        await client.get("/v1/orders", headers={"X-Request-ID": "req-down"})

    err = capsys.readouterr().err
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    [logged] = [e for e in events if e["event"] == "database.unavailable"]
    assert logged["request_id"] == "req-down"
    assert logged["path"] == "/v1/orders"
    assert logged["error"].startswith("ConnectionRefusedError")
    assert "Traceback" not in err
    assert not [e for e in events if e["event"] == "http.unhandled_error"]


async def test_a_sqlite_database_locked_past_the_busy_timeout_is_503(
    sqlite_template: Path, tmp_path: Path
) -> None:
    path = tmp_path / "galley.db"
    path.write_bytes(sqlite_template.read_bytes())
    url = f"sqlite+aiosqlite:///{path}"
    key = await api_key(url)
    other_process = sqlite3.connect(path, isolation_level=None)
    other_process.execute("BEGIN IMMEDIATE")  # holds the write lock
    try:
        settings = load_settings(database_url=url, sqlite_busy_timeout_ms=200)
        async with api(settings, bearer(key)) as client:
            response, seconds = await timed(client, "POST", "/v1/orders", ORDER)
    finally:
        other_process.close()

    assert_database_unavailable(response)
    assert seconds < 2


async def test_a_statement_the_database_rejects_is_still_a_500_not_an_outage(
    settings: Settings,
) -> None:
    """On SQLite a syntax error is an OperationalError too; a bug must not pass for 503."""
    app = create_app(settings)

    def garble(*args: Any) -> tuple[str, Any]:
        return "SELEC 1", args[3]

    event.listen(app.state.engine.sync_engine, "before_cursor_execute", garble, retval=True)
    key = await api_key(settings.database_url)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://galley.test", headers=bearer(key)
    ) as client:
        response = await client.get("/v1/orders")
    await app.state.engine.dispose()

    assert problem(response, 500)["type"] == PROBLEM_BASE + "internal-error"
    assert "retry-after" not in response.headers


# /readyz


async def test_readyz_answers_within_its_timeout_when_the_database_does_not_answer() -> None:
    async with (
        black_hole() as (port, _),
        api(load_settings(database_url=postgres_at(port)), {}) as client,
    ):
        response, seconds = await timed(client, "GET", "/readyz")

    assert problem(response, 503)["down"] == ["database"]
    assert seconds < 3


async def test_readyz_asks_everything_at_once_and_names_all_that_do_not_answer() -> None:
    async with (
        black_hole() as (database, _),
        black_hole() as (redis, _),
        black_hole() as (broker, _),
    ):
        settings = load_settings(
            database_url=postgres_at(database),
            redis_url=f"redis://127.0.0.1:{redis}/0",
            broker_url=f"amqp://guest:guest@127.0.0.1:{broker}/",
            readiness_timeout_seconds=1,
        )
        async with api(settings, {}) as client:
            response, seconds = await timed(client, "GET", "/readyz")

    assert problem(response, 503)["down"] == ["database", "redis", "broker"]
    assert seconds < 2


# A connection lost, or gone silent, while a request uses it (the real PostgreSQL).


class Proxy:
    """Passes bytes between its clients and PostgreSQL until paused (nothing passes, nothing
    is closed: a database that does not answer) or cut (every connection closed, and new
    ones refused: a database that went away)."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.writers: list[asyncio.StreamWriter] = []
        self.pumps: set[asyncio.Task[None]] = set()
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def __aexit__(self, *_: object) -> None:
        self.cut()
        for pump in self.pumps:
            pump.cancel()
        await asyncio.gather(*self.pumps, return_exceptions=True)

    def pause(self) -> None:
        self.flowing.clear()

    def resume(self) -> None:
        self.flowing.set()

    def cut(self) -> None:
        if self.server is not None:
            self.server.close()
        for writer in self.writers:
            writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target)
        self.writers += [writer, upstream_writer]
        for source, sink in ((reader, upstream_writer), (upstream_reader, writer)):
            pump = asyncio.create_task(self._pump(source, sink))
            self.pumps.add(pump)

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while chunk := await source.read(65536):
                await self.flowing.wait()
                sink.write(chunk)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            sink.transport.abort()


@pytest.fixture
async def proxied(postgres_database: str) -> AsyncIterator[tuple[Proxy, Settings, str]]:
    """A proxy to the test run's PostgreSQL database, the settings of an app that reaches
    it through the proxy, and an administrator's API key there. (Its tests read locations,
    which always reach the database: a catalog read may be answered from the cache.)"""
    url = make_url(postgres_database)
    proxy = Proxy(url.port or 5432)
    async with proxy as port:
        settings = load_settings(
            database_url=url.set(port=port).render_as_string(hide_password=False),
            database_statement_timeout_seconds=1,
            log_level="WARNING",
        )
        yield proxy, settings, await api_key(postgres_database)


def on_reading_orders(engine: Any, act: Any) -> None:
    """Call `act` once the request has got past its API key and is about to read orders."""

    def before(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "FROM orders" in statement:
            act()

    event.listen(engine.sync_engine, "before_cursor_execute", before)


@pytest.mark.postgres
async def test_a_connection_lost_in_the_middle_of_a_request_is_503(
    proxied: tuple[Proxy, Settings, str],
) -> None:
    proxy, settings, key = proxied
    app = create_app(settings)
    on_reading_orders(app.state.engine, proxy.cut)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://galley.test", headers=bearer(key)
    ) as client:
        assert (await client.get("/v1/locations")).status_code == 200
        lost = await client.get("/v1/orders")
        gone = await client.get("/v1/locations")
    await app.state.engine.dispose()

    assert_database_unavailable(lost)
    assert_database_unavailable(gone)


@pytest.mark.postgres
async def test_a_database_going_silent_mid_request_is_503_once_the_statement_timeout_passes(
    proxied: tuple[Proxy, Settings, str],
) -> None:
    proxy, settings, key = proxied
    app = create_app(settings)
    on_reading_orders(app.state.engine, proxy.pause)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://galley.test", headers=bearer(key)
    ) as client:
        silent, seconds = await timed(client, "GET", "/v1/orders")
        proxy.resume()
        # The silent connection was closed, not handed to the next request.
        after = await client.get("/v1/locations")
    await app.state.engine.dispose()

    assert_database_unavailable(silent)
    assert seconds < 2.5
    assert after.status_code == 200


@pytest.mark.postgres
async def test_a_database_gone_silent_between_requests_is_503_after_the_statement_timeout(
    proxied: tuple[Proxy, Settings, str],
) -> None:
    proxy, settings, key = proxied
    async with api(settings, bearer(key)) as client:
        assert (await client.get("/v1/locations")).status_code == 200
        proxy.pause()  # the pooled connection's check on checkout goes unanswered
        response, seconds = await timed(client, "GET", "/v1/locations")
        proxy.resume()

    assert_database_unavailable(response)
    assert seconds < 2.5


@pytest.mark.postgres
async def test_connections_the_server_closed_while_idle_are_replaced_without_an_error(
    postgres_database: str,
) -> None:
    """No connection is pinged when the pool hands it out: one found closed before anything
    ran in it (here, after a restart) is replaced, and the request runs on a new one."""
    key = await api_key(postgres_database)
    settings = load_settings(database_url=postgres_database, log_level="WARNING")
    async with api(settings, bearer(key)) as client:
        assert (await client.get("/v1/locations")).status_code == 200
        await _close_every_other_connection(postgres_database)
        created = await client.post("/v1/locations", json={"code": "K", "name": "Kitchen"})
        assert created.status_code == 201, created.text
        await _close_every_other_connection(postgres_database)
        listed = await client.get("/v1/locations")
    assert listed.status_code == 200, listed.text
    assert [location["code"] for location in listed.json()["data"]] == ["K"]


async def _close_every_other_connection(url: str) -> None:
    """What a restart of PostgreSQL does to the connections a pool keeps."""
    engine = create_async_engine(url, poolclass=NullPool)
    async with engine.connect() as connection:
        await connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    await engine.dispose()
