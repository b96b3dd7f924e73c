"""The database down or not answering, said by one error: `DatabaseUnavailable`.

However it shows — a connection refused or not answered in time, no connection of the pool
free in time, one lost or gone silent in the middle of a statement, PostgreSQL shutting
down or out of connections, SQLite's file busy past its timeout or out of reach — the
engine raises `DatabaseUnavailable` in its place, so the HTTP edge answers all of them
alike (503, `galley.http.problems`), and a request's own errors (a constraint, a bug in a
statement) are never mistaken for one.

The driver raises some of these as plain `OSError` or `TimeoutError`, which could come
from anything; they are named here, where they are known to come from the database.
"""

from __future__ import annotations

from typing import Any, TypeGuard

from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import AsyncAdaptedQueuePool, PoolProxiedConnection

from galley.config import Settings

# PostgreSQL's error classes and codes that say the server cannot serve now, whatever was
# asked: connection exceptions (08), insufficient resources such as too many connections
# or a full disk (53), shutting down or starting up (57P01-57P03), and a statement
# cancelled for taking too long (57014).
_SQLSTATES = ("08", "53", "57P01", "57P02", "57P03", "57014")
# SQLite's: the file locked by another writer past the busy timeout, or not to be opened,
# read or written.
_SQLITE_ERRORS = ("SQLITE_BUSY", "SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_FULL")
# Those that say the database named cannot be used as configured, however often it is
# tried: it does not exist (3D000), or the role or its password is refused (28…).
_REFUSING = ("3D000", "28")


class DatabaseUnavailable(OperationalError):
    """The database is down or does not answer. Nothing is wrong with what was asked: it
    may succeed once the database is back."""

    @property
    def reason(self) -> str:
        """What the driver said, for the log: the error's type and message, no SQL."""
        return f"{type(self.orig).__name__}: {self.orig}".rstrip(": ")


class ConnectionFoundClosed(DatabaseUnavailable):
    """The transaction's connection from the pool was found closed (the server restarted,
    or something between closed it while it lay idle) before any statement of the
    transaction was answered. Nothing ran, so the transaction may run again on a new
    connection: the edge does, instead of the pool pinging every connection it hands out."""


def found_closed(error: BaseException) -> TypeGuard[DBAPIError]:
    """Whether a statement failed because its connection was closed, not slow (a timeout
    means the database may not answer a new one either)."""
    return (
        isinstance(error, DBAPIError)
        and error.connection_invalidated
        and error.statement is not None
        and not isinstance(error.orig, TimeoutError)
    )


class _Pool(AsyncAdaptedQueuePool):
    """The engine's pool: a connection it cannot make, check or hand out in time is
    `DatabaseUnavailable`, where the driver or the pool would raise `OSError` (refused,
    unreachable, `TimeoutError`) or the pool's own timeout."""

    def connect(self) -> PoolProxiedConnection:
        try:
            return super().connect()
        except (OSError, PoolTimeout) as error:
            raise DatabaseUnavailable(None, None, error, connection_invalidated=True) from error


def pool_options(settings: Settings) -> dict[str, Any]:
    """The engine's pool and how long a checkout waits for a connection; none for an
    in-memory SQLite database, whose one connection is the database."""
    url = settings.database_url
    if settings.is_sqlite and url.database in (None, "", ":memory:"):
        return {}
    return {"poolclass": _Pool, "pool_timeout": settings.database_pool_timeout_seconds}


def refusal(error: BaseException) -> str | None:
    """Why the database cannot be used at all, in the driver's words, when `error` says
    so: it does not answer, does not exist, or refuses the role or password. None for any
    other error, such as a statement that failed."""
    if isinstance(error, DatabaseUnavailable):
        return f"it does not answer ({error.reason})"
    if isinstance(error, OSError):
        return f"it does not answer ({type(error).__name__}: {error})"
    sqlstate = getattr(getattr(error, "orig", None), "sqlstate", None) or ""
    if isinstance(error, DBAPIError) and sqlstate.startswith(_REFUSING):
        return str(error.orig)
    return None


def watch(engine: AsyncEngine) -> None:
    """Raise `DatabaseUnavailable` for errors of statements that mean the database is down
    or silent (see `_during_statement`)."""
    event.listen(engine.sync_engine, "handle_error", _during_statement)


def _during_statement(context: ExceptionContext) -> DatabaseUnavailable | None:
    error = context.original_exception
    if isinstance(error, OSError):
        # The socket failed, or the statement was not answered in time: the connection is
        # in a state nobody knows, so it is closed rather than handed out again.
        context.is_disconnect = True
    elif not (context.is_disconnect or _refused_for_now(error)):
        return None
    return DatabaseUnavailable(
        context.statement, None, error, connection_invalidated=context.is_disconnect
    )


def _refused_for_now(error: BaseException) -> bool:
    sqlstate = getattr(error, "sqlstate", None) or ""
    sqlite_error = getattr(error, "sqlite_errorname", None) or ""
    return sqlstate.startswith(_SQLSTATES) or sqlite_error.startswith(_SQLITE_ERRORS)
