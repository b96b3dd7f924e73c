"""Writes that nothing reads back in their own transaction, sent as its last statement.

The outbox, the histories, audit entries and the idempotency answer are written once and
read by later transactions only. A use case or a reaction hands them over here as it goes
(`append` for rows of an append-only table, `write_last` for any other such statement),
and `Database.transaction` sends them all just before it commits: on PostgreSQL as one
statement however many tables they reach (each a `WITH` of the last), on SQLite one after
another. A statement that takes a contended lock can carry what was handed over until then
(`write_with`), so that it is not sent while the lock is held. A table's rows go as one
INSERT, in the order they came, so their keys are in that order too (PostgreSQL runs the
parts of one statement in no set order). What a savepoint handed over is dropped when it
rolls back.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Result, Table, event, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.sql.dml import UpdateBase

from galley.unnested import arrays, unnested

# A statement built once and the values of its parameters (named apart from every other
# statement's: on PostgreSQL they go together as one).
Bound = tuple[UpdateBase, Mapping[str, Any]]
# A statement, or what builds it when it is sent (None: nothing to send after all).
Statement = UpdateBase | Bound | Callable[[], UpdateBase | Bound | None]
# At most this many values in one statement's VALUES lists (SQLite's limit is 32 766).
_MOST_VALUES = 30_000
_KEY = "galley_appends"


@dataclass
class _Handed:
    rows: dict[Table, list[tuple[SessionTransaction | None, dict[str, Any]]]] = field(
        default_factory=dict
    )
    statements: list[tuple[SessionTransaction | None, Statement]] = field(default_factory=list)


def _handed(session: AsyncSession | Session) -> _Handed:
    handed: _Handed = session.info.setdefault(_KEY, _Handed())
    return handed


def append(session: AsyncSession, table: Table, rows: Iterable[Mapping[str, Any]]) -> None:
    """Rows for `table`, inserted when the transaction commits. Every row of a table names
    the same columns."""
    within = session.sync_session.get_nested_transaction()
    queued = _handed(session).rows.setdefault(table, [])
    for row in rows:
        if queued and queued[0][1].keys() != row.keys():
            raise ValueError(f"rows for {table.name} name different columns")
        queued.append((within, dict(row)))


def write_last(session: AsyncSession, statement: Statement) -> None:
    """A statement whose result nobody reads, sent when the transaction commits or with a
    statement that carries what was handed over (`write_with`); a function builds it then,
    from what it knows by that time."""
    within = session.sync_session.get_nested_transaction()
    _handed(session).statements.append((within, statement))


async def write(session: AsyncSession) -> None:
    """Send what was handed over (by `Database.transaction`, before it commits)."""
    parts, arrays = _parts(session)
    if parts:
        *first, (last, given) = parts
        await _send(session, last, first, arrays, given)


def handed_over(session: AsyncSession) -> object:
    """What the session would write when its transaction commits, taken from it: for
    another session's transaction to write (`write_for`)."""
    return session.info.pop(_KEY, None)


async def write_for(session: AsyncSession, handed: object) -> None:
    """Send, now and in the session's transaction, what another session handed over; what
    this session was handed itself stays for later."""
    if handed is None:
        return
    own = session.info.pop(_KEY, None)
    session.info[_KEY] = handed
    try:
        await write(session)
    finally:
        session.info.pop(_KEY, None)
        if own is not None:
            session.info[_KEY] = own


async def write_with(
    session: AsyncSession, statement: UpdateBase, given: Mapping[str, Any] | None = None
) -> Result[Any]:
    """`statement`'s result (with the parameters `given`), sent with what was handed over
    so far: on PostgreSQL as parts of it. The statement that takes a contended lock
    carries them, so that the lock is not held while they take round trips of their own."""
    parts, bound = _parts(session)
    return await _send(session, statement, parts, bound, given or {})


async def _send(
    session: AsyncSession,
    statement: UpdateBase,
    parts: list[Bound],
    arrays: dict[str, Any],
    given: Mapping[str, Any],
) -> Result[Any]:
    if not _on_postgresql(session):
        for part, values in parts:
            # Nobody reads them back: the session's copies of the rows are left as they are.
            await session.execute(
                part, dict(values) or None, execution_options={"synchronize_session": False}
            )
        return await session.execute(statement, dict(given) or None)
    named = (part.cte(f"written_{n}") for n, (part, _) in enumerate(parts))
    for _, values in parts:
        arrays = arrays | dict(values)
    return await session.execute(statement.add_cte(*named), {**arrays, **given} or None)


def _parts(session: AsyncSession) -> tuple[list[Bound], dict[str, Any]]:
    """What was handed over, as statements with their parameters, and the arrays they are
    sent with: on PostgreSQL a table's rows are one INSERT from `galley.unnested`, built
    once for its columns; on SQLite, VALUES lists of at most `_MOST_VALUES` values."""
    handed: _Handed | None = session.info.pop(_KEY, None)
    if handed is None:
        return [], {}
    parts: list[Bound] = []
    bound: dict[str, Any] = {}
    for table, queued in handed.rows.items():
        rows = [row for _, row in queued]
        if not rows:
            continue
        if _on_postgresql(session):
            keys = tuple(rows[0])
            parts.append((_inserted_from_arrays(table, keys), {}))
            bound |= arrays(table.name, rows, keys)
        else:
            size = _MOST_VALUES // len(rows[0])
            chunks = range(0, len(rows), size)
            parts += [(insert(table).values(rows[at : at + size]), {}) for at in chunks]
    for _, handed_over in handed.statements:
        built = handed_over() if callable(handed_over) else handed_over
        if isinstance(built, tuple):
            parts.append(built)
        elif built is not None:
            parts.append((built, {}))
    return parts, bound


@functools.cache
def _inserted_from_arrays(table: Table, keys: tuple[str, ...]) -> UpdateBase:
    """INSERT of the table's rows from one array per column (`galley.unnested`), built
    once: a statement built anew costs as much as sending it."""
    unnest = unnested(table.name, None, {key: table.c[key].type for key in keys})
    return insert(table).from_select(list(keys), select(*unnest.c))


def _on_postgresql(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


@event.listens_for(Session, "after_soft_rollback")
def _drop_what_a_savepoint_handed(session: Session, rolled_back: SessionTransaction) -> None:
    handed: _Handed | None = session.info.get(_KEY)
    if handed is None or not rolled_back.nested:
        return

    def kept(within: SessionTransaction | None) -> bool:
        while within is not None:
            if within is rolled_back:
                return False
            within = within.parent
        return True

    for table, queued in handed.rows.items():
        handed.rows[table] = [entry for entry in queued if kept(entry[0])]
    handed.statements = [entry for entry in handed.statements if kept(entry[0])]
