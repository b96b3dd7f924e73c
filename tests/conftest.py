"""Fixtures: the API under test on SQLite and on PostgreSQL, each from a migrated database."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import make_url

from galley import migrate
from galley.app import create_app
from galley.config import Settings, load_settings
from galley.identity import credentials
from galley.models import Base
from tests import services
from tests.auth import TEST_DATA_KEYS, TEST_JWT_KEYS, api_key
from tests.services import blocking, fresh_postgres_database

# Settings are read when an app or a command starts, so this reaches every one of them.
os.environ.setdefault("GALLEY_JWT_KEYS", TEST_JWT_KEYS)
os.environ.setdefault("GALLEY_DATA_KEYS", TEST_DATA_KEYS)
# The suite sends many requests with one administrator's key per app; only the tests of
# rate limits set a budget small enough to reach.
os.environ.setdefault("GALLEY_RATE_LIMIT_REQUESTS", "1000000/minute")
# Each app keeps its budgets in its own memory, so no test spends another's; the tests of
# the Redis store name the server and a key prefix of their own.
os.environ["GALLEY_REDIS_URL"] = ""

# Argon2id as in production, at its lowest cost, for the apps the tests run in this
# process: they check that passwords are hashed and checked, not how long that takes
# (0.25 s of CPU a hash here; 336 of them were a sixth of the test processes' time).
# Servers the tests start use the real cost, and rehash what they meet made with this one.
_CHEAP_HASHER = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
credentials._hasher = lambda: _CHEAP_HASHER  # type: ignore[assignment]

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """The suite runs in several processes (pytest-xdist), each with a PostgreSQL database,
    Redis key prefix, ports and files of its own, and the tests are handed out one by one,
    but for those that use RabbitMQ: it is one server, which a test stops, so the tests with
    "rabbitmq" in their id run one after another in one process (`tests/services.py`)."""
    from xdist.scheduler import LoadScopeScheduling

    class RabbitMQInOneProcess(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "rabbitmq" if "rabbitmq" in nodeid else nodeid

    return RabbitMQInOneProcess(config, log)


@pytest.fixture(autouse=True)
def _running(request: pytest.FixtureRequest) -> Iterator[None]:
    services.running.append(request.node)
    yield
    services.running.pop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "galley.db"
    blocking(lambda: migrate.upgrade(load_settings(database_url=f"sqlite+aiosqlite:///{path}")))
    return path


@pytest.fixture(scope="session")
def _migrated_postgres() -> Iterator[str]:
    """One PostgreSQL database per test process, migrated once."""
    with fresh_postgres_database() as url:
        blocking(lambda: migrate.upgrade(load_settings(database_url=url)))
        yield url


@pytest.fixture
def postgres_database(_migrated_postgres: str) -> str:
    """The process's PostgreSQL database, emptied: no test sees what an earlier one wrote."""
    blocking(lambda: empty_postgres(_migrated_postgres))
    return _migrated_postgres


@pytest.fixture(params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[str]:
    """A migrated, empty database of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "galley.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    yield request.getfixturevalue("postgres_database")


# Every row of every table deleted and every sequence started again, as a TRUNCATE …
# RESTART IDENTITY would, in one round trip: on tables this small, DELETE takes milliseconds
# where TRUNCATE takes half a second (a new file per table). Replica mode skips the triggers,
# so neither the append-only tables nor the order of the foreign keys stand in the way.
_EMPTY = (
    "SET LOCAL session_replication_role = replica; "
    + "".join(f"DELETE FROM {table.name}; " for table in Base.metadata.sorted_tables)
    + "SELECT setval(seqrelid, seqstart, false) FROM pg_sequence"
)


async def empty_postgres(url: str) -> None:
    """The database as migrations left it: empty tables, sequences at their start."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        async with connection.transaction():
            await connection.execute(_EMPTY)
    finally:
        await connection.close()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return load_settings(database_url=database_url, log_level="WARNING")


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The API as an administrator's integration sees it (an admin API key)."""
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {await api_key(settings.database_url)}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://galley.test", headers=headers
    ) as http:
        yield http
    await app.state.engine.dispose()
