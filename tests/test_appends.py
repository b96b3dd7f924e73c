"""What nothing reads back in its transaction is written with the transaction's last
statement: all of it, in order, as one statement on PostgreSQL, and none of it when the
transaction or its savepoint is taken back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from sqlalchemy import Table, event, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from galley import appends
from galley.audit.models import AuditEvent
from galley.config import Settings
from galley.db import Database, insert_row, utcnow
from galley.inventory.models import Location

_AUDIT = cast(Table, AuditEvent.__table__)


def _entries(*subjects: str) -> list[dict[str, Any]]:
    return [
        {
            "occurred_at": utcnow(),
            "kind": "api_key.created",
            "actor": "test",
            "subject": subject,
            "address": None,
            "request_id": None,
            "data": {"n": n},
        }
        for n, subject in enumerate(subjects)
    ]


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings)
    yield database
    await database.dispose()


async def _subjects(database: Database) -> list[str | None]:
    async with database.transaction(read_only=True) as session:
        found = await session.execute(select(AuditEvent.subject).order_by(AuditEvent.id))
        return list(found.scalars())


async def test_what_is_handed_over_is_written_at_commit_in_order_in_one_statement(
    database: Database,
) -> None:
    sent: list[str] = []
    event.listen(database.engine.sync_engine, "before_cursor_execute", _collect(sent))
    async with database.transaction() as session:
        kitchen = await insert_row(session, Location, {"code": "K", "name": "Kitchen"})
        appends.append(session, _AUDIT, _entries("a", "b"))
        appends.write_last(
            session, update(Location).where(Location.id == kitchen.id).values(name="Renamed")
        )
        appends.append(session, _AUDIT, _entries("c"))
        assert await _count(session) == 0  # not yet
        sent.clear()
    written = len(sent)

    assert written == (2 if database.settings.is_sqlite else 1)
    assert await _subjects(database) == ["a", "b", "c"]
    async with database.transaction(read_only=True) as session:
        assert (await session.execute(select(Location.name))).scalar() == "Renamed"


async def test_a_statement_can_carry_what_was_handed_over_until_then(database: Database) -> None:
    sent: list[str] = []
    event.listen(database.engine.sync_engine, "before_cursor_execute", _collect(sent))
    async with database.transaction() as session:
        kitchen = await insert_row(session, Location, {"code": "K", "name": "Kitchen"})
        appends.append(session, _AUDIT, _entries("a"))
        sent.clear()
        renamed = await appends.write_with(
            session,
            update(Location)
            .where(Location.id == kitchen.id)
            .values(name="Renamed")
            .returning(Location.name),
        )
        assert renamed.scalar_one() == "Renamed"
        assert len(sent) == (2 if database.settings.is_sqlite else 1)
        appends.append(session, _AUDIT, _entries("b"))

    assert await _subjects(database) == ["a", "b"]


async def test_a_savepoint_taken_back_takes_back_what_it_handed_over(database: Database) -> None:
    async with database.transaction() as session:
        appends.append(session, _AUDIT, _entries("kept"))
        with pytest.raises(RuntimeError):
            await _refused_in_a_savepoint(session)
        async with session.begin_nested():
            appends.append(session, _AUDIT, _entries("released, so kept"))

    assert await _subjects(database) == ["kept", "released, so kept"]


async def test_a_transaction_taken_back_writes_nothing_it_handed_over(database: Database) -> None:
    with pytest.raises(RuntimeError):
        await _refused(database)

    assert await _subjects(database) == []


async def test_more_rows_than_one_statement_may_carry_are_all_written(database: Database) -> None:
    many = [f"s{n}" for n in range(5_000)]  # 35 000 values
    async with database.transaction() as session:
        appends.append(session, _AUDIT, _entries(*many))

    assert await _subjects(database) == many


def test_rows_of_one_table_name_the_same_columns() -> None:
    session = cast(AsyncSession, _Unbound())
    appends.append(session, _AUDIT, _entries("a"))
    with pytest.raises(ValueError, match="different columns"):
        appends.append(session, _AUDIT, [{"subject": "b"}])


async def _refused_in_a_savepoint(session: AsyncSession) -> None:
    async with session.begin_nested():
        appends.append(session, _AUDIT, _entries("dropped"))
        async with session.begin_nested():
            appends.append(session, _AUDIT, _entries("dropped too"))
        raise RuntimeError("refused")


async def _refused(database: Database) -> None:
    async with database.transaction() as session:
        appends.append(session, _AUDIT, _entries("never"))
        raise RuntimeError("refused")


async def _count(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(_AUDIT))).scalar_one())


def _collect(sent: list[str]) -> Any:
    def collect(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    return collect


class _Unbound:
    """Enough of a session to hand rows over to."""

    def __init__(self) -> None:
        self.info: dict[str, Any] = {}
        self.sync_session = self

    def get_nested_transaction(self) -> None:
        return None
