from __future__ import annotations

import asyncio
import random
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from typer.testing import CliRunner

from galley.app import create_app
from galley.cli import app
from galley.config import Settings, load_settings
from galley.db import Database, create_engine
from galley.demo import catalogue, fill, is_empty
from galley.models import (
    Location,
    Order,
    OrderEvent,
    OrderLine,
    Product,
    PurchaseOrder,
    PurchaseOrderEvent,
    PurchaseOrderLine,
    StockLedgerEntry,
    StockLevel,
    Supplier,
)
from galley.orders.rules import OPEN_STATUSES
from galley.purchasing.rules import OPEN_PO_STATUSES
from galley.purchasing.schemas import SupplierCreate
from galley.purchasing.suppliers import create_supplier


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
    assert await rows(settings, select(PurchaseOrderEvent.actor).distinct()) == [("demo",)]
    suppliers = await rows(
        settings,
        select(Supplier.currency, Supplier.lead_time_days, Supplier.email, Supplier.auto_send),
    )
    assert len(suppliers) >= 4
    assert {currency for currency, *_ in suppliers} == {"EUR"}
    assert all(1 <= days <= 7 for _, days, _, _ in suppliers)
    assert any(email for _, _, email, _ in suppliers)
    assert [auto for *_, auto in suppliers].count(True) == 1
    sourced = [supplier for (supplier,) in await rows(settings, select(Product.supplier_id))]
    assert len([s for s in sourced if s is not None]) > len(sourced) / 2
    assert None in sourced


async def test_demo_buys_for_waiting_orders_and_a_receipt_fills_them(settings: Settings) -> None:
    await fill(settings, products=30, orders=20)

    purchase_statuses = {status for (status,) in await rows(settings, select(PurchaseOrder.status))}
    assert len(purchase_statuses) > 1
    assert "draft" in purchase_statuses  # the latest shortfalls wait for the buyer
    filled = await rows(
        settings,
        select(OrderEvent.order_number, OrderEvent.cause).where(
            OrderEvent.type == "status_changed",
            OrderEvent.from_status == "awaiting_stock",
            OrderEvent.to_status == "confirmed",
            OrderEvent.cause.like("purchase order % received"),
        ),
    )
    assert filled
    receipts = await rows(
        settings,
        select(StockLedgerEntry.reference).where(
            StockLedgerEntry.reason == "received", StockLedgerEntry.reference.is_not(None)
        ),
    )
    received = {reference.removeprefix("purchase_order:") for (reference,) in receipts}
    for _, cause in filled:
        assert cause.removeprefix("purchase order ").removesuffix(" received") in received


async def test_demo_leaves_backorders_of_unsourced_products_to_the_kitchen(
    settings: Settings,
) -> None:
    await fill(settings, products=30, orders=20)

    unsourced = await rows(
        settings,
        select(StockLevel.product_id)
        .join(Product, Product.id == StockLevel.product_id)
        .where(Product.supplier_id.is_(None), StockLevel.backordered > StockLevel.incoming),
    )
    assert unsourced


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

    on_order: dict[tuple[int, int], int] = defaultdict(int)
    received: dict[tuple[int, int], int] = defaultdict(int)
    for po, p, loc, status, ordered, got in await rows(
        settings,
        select(
            PurchaseOrder.id,
            PurchaseOrderLine.product_id,
            PurchaseOrder.location_id,
            PurchaseOrder.status,
            PurchaseOrderLine.quantity_ordered,
            PurchaseOrderLine.quantity_received,
        ).join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.purchase_order_id),
    ):
        if status in OPEN_PO_STATUSES:
            on_order[(p, loc)] += max(0, ordered - got)
        received[(po, p)] += got
    assert on_order
    figures = await rows(
        settings,
        select(
            StockLevel.product_id,
            StockLevel.location_id,
            StockLevel.incoming,
            StockLevel.backordered,
            Product.supplier_id,
            Product.allow_backorder,
        ).join(Product, Product.id == StockLevel.product_id),
    )
    for p, loc, incoming, backordered, supplier, allow_backorder in figures:
        assert incoming == on_order.get((p, loc), 0)
        if supplier is not None and allow_backorder:
            assert backordered <= incoming  # nothing waits without being bought
    ledger_receipts: dict[tuple[int, int], int] = defaultdict(int)
    for reference, p, delta in await rows(
        settings,
        select(
            StockLedgerEntry.reference, StockLedgerEntry.product_id, StockLedgerEntry.delta
        ).where(StockLedgerEntry.reference.like("purchase_order:%")),
    ):
        ledger_receipts[(int(reference.removeprefix("purchase_order:")), p)] += delta
    assert ledger_receipts
    assert ledger_receipts == {key: n for key, n in received.items() if n}


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
                await rows(
                    settings,
                    select(
                        PurchaseOrder.id,
                        PurchaseOrder.supplier_id,
                        PurchaseOrder.status,
                        PurchaseOrderLine.sku,
                        PurchaseOrderLine.quantity_ordered,
                        PurchaseOrderLine.quantity_received,
                    )
                    .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.purchase_order_id)
                    .order_by(PurchaseOrderLine.id),
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


def test_demo_catalogue_buys_most_lines_from_a_supplier_of_their_kind() -> None:
    kinds = {kind: n for n, kind in enumerate(catalogue.suppliers("EUR"), start=1)}

    products = catalogue.products(300, "EUR", random.Random(7), kinds)

    by_sku = {product.sku: product for product in products}
    sourced = [product for product in products if product.supplier is not None]
    assert 0.8 * len(products) < len(sourced) < len(products)
    assert {product.supplier for product in sourced} == {str(n) for n in kinds.values()}
    assert by_sku["ESP-250"].supplier == str(kinds["roastery"])
    assert by_sku["CRO-1"].supplier == str(kinds["bakery"])
    assert by_sku["CUP-50"].supplier == str(kinds["packaging"])
    assert by_sku["LAS-400"].supplier is None  # cooked in the kitchen
    assert by_sku["CUP-50"].replenishment.pack_size == 20
    assert by_sku["CUP-500"].replenishment.pack_size == 2
    assert by_sku["MLK-500"].replenishment.reorder_point is not None
    assert not by_sku["WIN-750"].replenishment.allow_backorder
    assert {product.replenishment.margin_pct for product in products} == {20}


async def test_a_database_with_only_a_supplier_is_not_empty(settings: Settings) -> None:
    database = Database(settings)
    try:
        async with database.transaction() as session:
            await create_supplier(
                session, SupplierCreate(name="Roastery", lead_time_days=2, currency="EUR"), settings
            )
    finally:
        await database.dispose()

    assert not await is_empty(settings)


async def test_demo_prints_how_to_log_in_as_an_admin_staff_and_a_customer(
    tmp_path: Path, sqlite_template: Path
) -> None:
    shutil.copy(sqlite_template, tmp_path / "galley.db")
    url = f"sqlite+aiosqlite:///{tmp_path / 'galley.db'}"
    result = await asyncio.to_thread(
        CliRunner().invoke,
        app,
        ["demo", "--products", "5", "--orders", "3"],
        env={"GALLEY_DATABASE_URL": url},
    )
    assert result.exit_code == 0, result.output
    printed = {
        line.split()[0]: line.split()[1:]
        for line in result.output.splitlines()
        if line.startswith("  ") and "@example.com" in line
    }
    assert sorted(printed) == ["admin", "customer", "staff"]

    api = create_app(load_settings(database_url=url))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api), base_url="http://galley.test"
    ) as client:
        for role, (email, password) in printed.items():
            tokens = await client.post(
                "/v1/auth/token", json={"email": email, "password": password}
            )
            assert tokens.status_code == 200, tokens.text
            me = await client.get(
                "/v1/me", headers={"Authorization": f"Bearer {tokens.json()['access_token']}"}
            )
            assert me.json()["role"] == role
    await api.state.engine.dispose()
