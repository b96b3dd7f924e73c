"""Engine, sessions and the column types every area shares.

The edge (an HTTP route or a CLI job) opens one transaction and commits it; services
never commit.

Rows are written one way: by statements (`insert`, `update`, `delete`, or
`insert_row`/`update_row` below), never by the ORM's unit of work, which a session
refuses to flush. A statement leaves no ORM copy behind to go stale, and every ORM
query refreshes the copies the session holds (`populate_existing`), so what a use case
reads under a lock is what the database holds under that lock.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar, cast

import structlog
from sqlalchemy import (
    CTE,
    URL,
    BigInteger,
    ClauseElement,
    CursorResult,
    DateTime,
    FromClause,
    Integer,
    MetaData,
    column,
    event,
    insert,
    inspect,
    select,
    update,
    values,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, ORMExecuteState, Session, UOWTransaction
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.types import TypeDecorator, TypeEngine

from galley import appends, convoys, outages
from galley.config import Settings
from galley.reruns import Rerun as Rerun
from galley.unnested import unnested

# Integer keys that autoincrement on both engines (SQLite only does so for INTEGER PRIMARY KEY).
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored and returned in UTC, also on SQLite which keeps no zone."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def key_from(given: str) -> int:
    """An integer key from an opaque id a client sent; 0, which no row has, for anything
    that is not one (so a bad id is simply not found, and never an oversized integer)."""
    return int(given) if given.isdigit() and len(given) <= 18 else 0


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


def create_engine(settings: Settings) -> AsyncEngine:
    # A database error is logged with its trace; the values bound to its statement (e-mail
    # addresses, password hashes, personal data) are left out of the message.
    if settings.is_sqlite:
        ensure_sqlite_dir(settings.database_url)
        engine = create_async_engine(
            settings.database_url,
            connect_args={"timeout": settings.sqlite_busy_timeout_ms / 1000},
            hide_parameters=True,
            **outages.pool_options(settings),
        )
        _serialize_sqlite_writes(engine, settings.sqlite_busy_timeout_ms)
    else:
        engine = create_async_engine(
            settings.database_url,
            pool_size=settings.database_pool_size,
            max_overflow=0,
            hide_parameters=True,
            # asyncpg's: how long a connection may take, and then each statement's answer.
            connect_args={
                "timeout": settings.database_connect_timeout_seconds,
                "command_timeout": settings.database_statement_timeout_seconds,
            },
            **outages.pool_options(settings),
        )
    # A batch is one statement on the wire: an INSERT of many rows is sent as one multi-row
    # VALUES (SQLAlchemy's "insertmanyvalues"), not as one statement per row; an UPDATE of
    # many rows joins them as `rows_of` below.
    engine.sync_engine.dialect.use_insertmanyvalues_wo_returning = True
    outages.watch(engine)
    event.listen(engine.sync_engine, "after_cursor_execute", _count_answered)
    return engine


def _count_answered(*_: Any) -> None:
    answered = _ANSWERED.get()
    if answered is not None:
        answered[0] += 1


def ensure_sqlite_dir(url: URL) -> None:
    """SQLite creates the database file, not the folder it lives in."""
    path = url.database or ""
    if path and not path.startswith(":memory:"):
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _serialize_sqlite_writes(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    """Every SQLite transaction starts with BEGIN IMMEDIATE.

    SQLite allows one writer at a time. A deferred transaction that reads stock
    and then writes could act on a stale read; taking the write lock up front
    makes each transaction see the state it changes, across processes too.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let us issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()
        # SQLite's own lower() folds ASCII only; case-insensitive search should fold "É" too.
        dbapi_connection.create_function("lower", 1, _lower, deterministic=True)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN" if _READ_ONLY.get() else "BEGIN IMMEDIATE")


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


class _StatementSession(Session):
    """A session whose rows are written by statements only (see the module's docstring)."""

    # `get` answers from the session's copies without a query unless told to refresh.
    def get(self, *args: Any, **kw: Any) -> Any:
        return super().get(*args, **_refreshing(kw))

    def get_one(self, *args: Any, **kw: Any) -> Any:
        return super().get_one(*args, **_refreshing(kw))


def _refreshing(kw: dict[str, Any]) -> dict[str, Any]:
    return kw | {"populate_existing": kw.get("populate_existing") is not False}


class UnitOfWorkWrite(RuntimeError):
    """A programming error: a row was added, changed or deleted through the ORM."""


@event.listens_for(_StatementSession, "before_flush")
def _refuse_unit_of_work(session: Session, _context: UOWTransaction, _instances: object) -> None:
    # Runs only when the session holds ORM changes: a flush with nothing to do skips it.
    changed = {type(row).__name__ for row in (*session.new, *session.dirty, *session.deleted)}
    raise UnitOfWorkWrite(
        f"{', '.join(sorted(changed))} written through the ORM; write rows with statements"
    )


@event.listens_for(_StatementSession, "do_orm_execute")
def _read_fresh(state: ORMExecuteState) -> None:
    if state.is_select:
        state.update_execution_options(populate_existing=True)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(
        engine, expire_on_commit=False, autoflush=False, sync_session_class=_StatementSession
    )


_Row = TypeVar("_Row", bound="Base")
_T = TypeVar("_T")
# A deadlock broken, a serialization conflict: the transaction wrote nothing.
_RETRYABLE = frozenset({"40P01", "40001"})
_ATTEMPTS = 3
log = structlog.get_logger("galley.db")


# Whether the work at hand must lock what it reads before acting on it: outside
# `Database.run`, which alone can run it again, and in the run after a `Rerun`.
_LOCKING_FIRST: ContextVar[bool] = ContextVar("galley_locking_first", default=True)


def locking_first() -> bool:
    return _LOCKING_FIRST.get()


def rows_of(
    session: AsyncSession, name: str, rows: Sequence[Mapping[str, Any]], **types: TypeEngine[Any]
) -> CTE:
    """`rows` as a table of the given columns, for one statement to join (`add_cte` it): an
    UPDATE of many rows is then one statement on the wire on both engines, not one per row."""
    listed = rows_from(session, name, rows, **types)
    return listed if isinstance(listed, CTE) else select(*listed.c).cte(name)


def rows_from(
    session: AsyncSession, name: str, rows: Sequence[Mapping[str, Any]], **types: TypeEngine[Any]
) -> FromClause:
    """`rows` as a table of the given columns to select from. On PostgreSQL the table is
    `galley.unnested` (one array per column), which SQLAlchemy compiles once for any number
    of rows; on SQLite it is a `VALUES` list (as a `WITH`: SQLite names no columns of a
    `VALUES` in `FROM`)."""
    if session.get_bind().dialect.name == "postgresql":
        return unnested(name, rows, types)
    listed = values(*(column(key, type_) for key, type_ in types.items()), name=name)
    return listed.data([tuple(row[key] for key in types) for row in rows]).cte(name)


async def insert_row(session: AsyncSession, model: type[_Row], values: Mapping[str, Any]) -> _Row:
    """Insert one row by statement; returns it as the database holds it."""
    stmt = insert(model).values(dict(values)).returning(model)
    return (await session.execute(stmt)).scalar_one()


async def update_row(session: AsyncSession, row: _Row, values: Mapping[str, Any]) -> _Row:
    """Change one row, read under its lock, by statement; `row` is then what the database
    holds. The values are known, so the row is not read back: they are set on `row` as
    if loaded. A value computed by the database (an SQL expression) is read back."""
    mapper = inspect(row).mapper
    keys = mapper.primary_key_from_instance(row)
    stmt = (
        update(type(row))
        .where(*(column == key for column, key in zip(mapper.primary_key, keys, strict=True)))
        .values(dict(values))
    )
    if any(isinstance(value, ClauseElement) for value in values.values()):
        returned = stmt.returning(type(row)).execution_options(populate_existing=True)
        return (await session.execute(returned)).scalar_one()
    done = await session.execute(stmt.execution_options(synchronize_session=False))
    if cast(CursorResult[Any], done).rowcount != 1:
        raise LookupError(f"no {mapper.class_.__name__} {keys} to update")
    for name, value in values.items():
        set_committed_value(row, name, value)
    return row


# Set for a transaction that only reads: on SQLite it then takes no write lock.
_READ_ONLY: ContextVar[bool] = ContextVar("galley_read_only", default=False)
# How many statements the transaction at hand has had answered: none, when its
# connection is found closed, means nothing ran (`outages.ConnectionFoundClosed`).
_ANSWERED: ContextVar[list[int] | None] = ContextVar("galley_answered", default=None)


def is_read_only(session: AsyncSession) -> bool:
    """Whether the session's transaction was opened to read only (on SQLite: without the
    write lock, so it must not write)."""
    return bool(session.info.get("read_only"))


class Database:
    """The engine and the one way to open a transaction on it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = create_engine(settings)
        self.sessions = session_factory(self.engine)
        # SQLite has one writer at a time. Writers of this process queue here, in order,
        # instead of polling the file lock against each other; other processes still wait
        # on the file lock itself, which is what keeps writes serialized.
        self._writer = asyncio.Lock() if settings.is_sqlite else None

    @asynccontextmanager
    async def transaction(self, *, read_only: bool = False) -> AsyncIterator[AsyncSession]:
        """A session in a transaction, committed when the block ends without an error,
        with what was handed to `galley.appends` as its last statement.

        An error that says `keeps_writes` (a refusal that must leave a trace, such as a
        revoked token family) commits what was written before it propagates. A connection
        found closed before anything ran is `ConnectionFoundClosed`, which the caller may
        run again.
        """
        async with AsyncExitStack() as stack:
            if self._writer is not None and not read_only:
                await stack.enter_async_context(self._writer)
            token = _READ_ONLY.set(read_only)
            stack.callback(_READ_ONLY.reset, token)
            answered = [0]
            stack.callback(_ANSWERED.reset, _ANSWERED.set(answered))
            session = await stack.enter_async_context(self.sessions())
            session.info["read_only"] = read_only
            try:
                yield session
                if convoys.following(session):
                    # Its writes go with its leader's commit (`galley.convoys`).
                    await convoys.hand_in(session)
                    return
                await convoys.gather(session)
                await appends.write(session)
            except BaseException as exc:
                if getattr(exc, "keeps_writes", False) and not convoys.carries_others(session):
                    await appends.write(session)
                    await session.commit()
                else:
                    await session.rollback()
                convoys.release(session, exc)
                if answered == [0] and outages.found_closed(exc):
                    raise outages.ConnectionFoundClosed(
                        exc.statement, None, exc.orig or exc, connection_invalidated=True
                    ) from exc
                raise
            convoys.committing(session)
            try:
                await session.commit()
            except BaseException as exc:
                convoys.release(session, exc)
                raise
            convoys.release(session, None)

    async def run(
        self, work: Callable[[AsyncSession], Awaitable[_T]], *, read_only: bool = False
    ) -> _T:
        """`work` in a transaction of its own, run again from the start (a few times at most)
        when the transaction wrote nothing: the database aborted it to break a deadlock or a
        serialization conflict, its connection was found closed before anything ran, or the
        work found rows it read unlocked had moved (`Rerun`; the next run locks first)."""
        locking = False
        for attempt in range(1, _ATTEMPTS + 1):
            token = _LOCKING_FIRST.set(locking)
            try:
                async with self.transaction(read_only=read_only) as session:
                    return await work(session)
            except Rerun as exc:
                if attempt == _ATTEMPTS:
                    raise
                log.debug("db.transaction_rerun", attempt=attempt, reason=str(exc))
                locking = True
            except DBAPIError as exc:
                sqlstate = getattr(exc.orig, "sqlstate", None)
                closed = isinstance(exc, outages.ConnectionFoundClosed)
                if attempt == _ATTEMPTS or not (closed or sqlstate in _RETRYABLE):
                    raise
                log.warning("db.transaction_retried", attempt=attempt, sqlstate=sqlstate)
            finally:
                _LOCKING_FIRST.reset(token)
        raise AssertionError("unreachable")

    async def dispose(self) -> None:
        await self.engine.dispose()


def violates_foreign_key(error: DBAPIError) -> bool:
    """Whether a statement failed because a row it wrote names a row that does not exist."""
    orig = error.orig
    return (
        getattr(orig, "sqlstate", None) == "23503"
        or getattr(orig, "sqlite_errorname", None) == "SQLITE_CONSTRAINT_FOREIGNKEY"
    )


def insert_for(engine: AsyncSession | str, table: Any) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that knows the engine's ON CONFLICT syntax (both engines share it).

    `engine` is the session at hand, or the dialect name for a statement built once.
    """
    dialect = engine if isinstance(engine, str) else engine.get_bind().dialect.name
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
