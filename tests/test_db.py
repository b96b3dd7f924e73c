"""Rows are written one way, by statements, and a query shows what the database holds."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from galley.config import Settings
from galley.db import Database, UnitOfWorkWrite, insert_row, update_row
from galley.inventory.models import Location


async def test_a_row_changed_through_the_orm_is_refused_and_nothing_is_written(
    settings: Settings,
) -> None:
    database = Database(settings)
    try:
        async with database.transaction() as session:
            await insert_row(session, Location, {"code": "K", "name": "Kitchen"})
        with pytest.raises(UnitOfWorkWrite, match="Location written through the ORM"):
            await _rename_through_the_orm(database)
        with pytest.raises(UnitOfWorkWrite):
            await _add_through_the_orm(database)
        async with database.transaction(read_only=True) as session:
            names = (await session.execute(select(Location.code, Location.name))).all()
        assert [tuple(row) for row in names] == [("K", "Kitchen")]
    finally:
        await database.dispose()


async def _rename_through_the_orm(database: Database) -> None:
    async with database.transaction() as session:
        kitchen = (await session.execute(select(Location))).scalar_one()
        kitchen.name = "Renamed behind the statements' back"


async def _add_through_the_orm(database: Database) -> None:
    async with database.transaction() as session:
        session.add(Location(code="B", name="Bar"))


async def test_a_query_after_a_statement_shows_the_row_as_it_is_not_the_older_copy(
    settings: Settings,
) -> None:
    database = Database(settings)
    try:
        async with database.transaction() as session:
            kitchen = await insert_row(session, Location, {"code": "K", "name": "Kitchen"})
            await session.execute(update(Location).values(name="Changed by statement"))
            again = (await session.execute(select(Location))).scalar_one()
            assert again is kitchen
            assert kitchen.name == "Changed by statement"
            await session.execute(update(Location.__table__).values(name="Changed by Core"))
            assert (await session.get_one(Location, kitchen.id)).name == "Changed by Core"
            renamed = await update_row(session, kitchen, {"name": "Main kitchen"})
            assert renamed is kitchen
            assert kitchen.name == "Main kitchen"
    finally:
        await database.dispose()


async def test_a_row_changed_by_another_transaction_is_read_fresh_under_the_lock(
    settings: Settings,
) -> None:
    """What `transition` relies on: an ORM copy read before a lock is replaced by the
    row as it stands once the lock is held."""
    database = Database(settings)
    try:
        async with database.transaction() as session:
            await insert_row(session, Location, {"code": "K", "name": "Kitchen"})
        async with database.transaction() as first:
            seen = (await first.execute(select(Location))).scalar_one()
            if settings.is_sqlite:  # one writer at a time: change it the same way, in-line
                await first.execute(update(Location.__table__).values(name="Elsewhere"))
            else:
                async with database.transaction() as second:
                    await second.execute(update(Location.__table__).values(name="Elsewhere"))
            locked = (await first.execute(select(Location).with_for_update())).scalar_one()
            assert locked is seen
            assert seen.name == "Elsewhere"
    finally:
        await database.dispose()


async def test_a_transaction_s_session_carries_no_settings(settings: Settings) -> None:
    """Services are handed the settings they need (`galley.reactions` hands them to every
    reaction), so none reads them off the session."""
    database = Database(settings)
    try:
        async with database.transaction() as session:
            assert not any(isinstance(value, Settings) for value in session.info.values())
    finally:
        await database.dispose()
