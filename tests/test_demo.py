from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from typer.testing import CliRunner

from galley.cli import app
from galley.config import Settings, load_settings
from galley.db import create_engine
from galley.demo import fill, is_empty
from galley.models import (
    Location,
    Order,
    OrderEvent,
    OrderLine,
    Product,
    StockLedgerEntry,
    StockLevel,
)
from galley.orders.rules import OPEN_STATUSES


async def rows(settings: Settings, stmt: Any) -> list[Any]:
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            return list((await connection.execute(stmt)).all())
    finally:
        await engine.dispose()


async def test_demo_fills_an_empty_database_with_a_shop(settings: Settings) -> None:
    assert await is_empty(settings)

    await fill(settings, products=30, orders=20)

    assert not await is_empty(settings)
    assert sorted(code for (code,) in await rows(settings, select(Location.code))) == [
        "KITCHEN",
        "SHOP",
    ]
    products = await rows(settings, select(Product.sku, Product.price_currency))
    assert len(products) == 30
    assert {currency for _, currency in products} == {"EUR"}
    statuses = [status for (status,) in await rows(settings, select(Order.status))]
    assert len(statuses) == 20
    assert len(set(statuses)) >= 3
    assert "awaiting_stock" in statuses
    actors = await rows(
        settings,
        select(StockLedgerEntry.actor).union(select(OrderEvent.actor)),
    )
    assert actors == [("demo",)]


async def test_demo_keeps_every_stock_figure_consistent(settings: Settings) -> None:
    await fill(settings, products=30, orders=20)

    ledger = {
        (p, loc): total
        for p, loc, total in await rows(
            settings,
            select(
                StockLedgerEntry.product_id,
                StockLedgerEntry.location_id,
                func.sum(StockLedgerEntry.delta),
            ).group_by(StockLedgerEntry.product_id, StockLedgerEntry.location_id),
        )
    }
    held: dict[tuple[int, int], tuple[int, int]] = {}
    for p, loc, allocated, backordered in await rows(
        settings,
        select(
            OrderLine.product_id,
            Order.location_id,
            func.sum(OrderLine.allocated),
            func.sum(OrderLine.backordered),
        )
        .join(Order, Order.number == OrderLine.order_number)
        .where(Order.status.in_(OPEN_STATUSES))
        .group_by(OrderLine.product_id, Order.location_id),
    ):
        held[(p, loc)] = (allocated, backordered)
    levels = await rows(
        settings,
        select(
            StockLevel.product_id,
            StockLevel.location_id,
            StockLevel.on_hand,
            StockLevel.reserved,
            StockLevel.backordered,
        ),
    )
    assert levels
    for p, loc, on_hand, reserved, backordered in levels:
        assert 0 <= reserved <= on_hand
        assert on_hand == ledger.get((p, loc), 0)
        assert (reserved, backordered) == held.get((p, loc), (0, 0))


async def test_demo_builds_the_same_shop_every_time(tmp_path: Path, sqlite_template: Path) -> None:
    shops = []
    for name in ("first.db", "second.db"):
        shutil.copy(sqlite_template, tmp_path / name)
        settings = load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / name}")
        await fill(settings, products=20, orders=10)
        shops.append(
            (
                await rows(settings, select(Product.sku, Product.name, Product.price_amount)),
                await rows(
                    settings,
                    select(Order.number, Order.status, OrderLine.sku, OrderLine.allocated)
                    .join(OrderLine, OrderLine.order_number == Order.number)
                    .order_by(OrderLine.id),
                ),
            )
        )
    assert shops[0] == shops[1]


def test_demo_command_refuses_a_database_that_has_data(
    tmp_path: Path, sqlite_template: Path
) -> None:
    shutil.copy(sqlite_template, tmp_path / "galley.db")
    env = {"GALLEY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'galley.db'}"}
    runner = CliRunner()
    first = runner.invoke(app, ["demo", "--products", "5", "--orders", "3"], env=env)
    assert first.exit_code == 0, first.output

    again = runner.invoke(app, ["demo"], env=env)

    assert again.exit_code == 1
    assert "already has data" in again.output
    settings = load_settings(database_url=env["GALLEY_DATABASE_URL"])
    assert len(asyncio.run(rows(settings, select(Product.id)))) == 5
