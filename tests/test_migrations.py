from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from galley.models import Base
from tests import shop


async def test_the_migrations_build_exactly_the_models(database_url: str) -> None:
    engine = create_async_engine(database_url)

    def differences(connection: Any) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with engine.connect() as connection:
        assert await connection.run_sync(differences) == []
    await engine.dispose()


@pytest.mark.parametrize(
    "change", ["UPDATE stock_ledger SET delta = 99", "DELETE FROM stock_ledger"]
)
async def test_the_stock_ledger_is_append_only(client: Any, database_url: str, change: str) -> None:
    await shop.location(client)
    await shop.product(client, "TEA")
    await shop.stock(client, "TEA", 5)
    engine = create_async_engine(database_url)
    with pytest.raises(DBAPIError, match="append-only"):
        async with engine.begin() as connection:
            await connection.execute(text(change))
    await engine.dispose()
