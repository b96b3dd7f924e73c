from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event

from tests import shop


@contextmanager
def counted_statements(app: FastAPI) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # The caller's key is read once a second at most (GALLEY_PRINCIPAL_CACHE_SECONDS),
        # whichever request that falls on: the order's own statements are counted.
        if "FROM api_keys" not in statement:
            statements.append(statement)

    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


@pytest.fixture
def app(client: httpx.AsyncClient) -> FastAPI:
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    return transport.app  # type: ignore[return-value]


async def test_placing_an_order_runs_the_same_statements_for_one_line_or_fifty(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await shop.location(client)
    skus = [f"SKU-{n}" for n in range(50)]
    for sku in skus:
        await shop.product(client, sku)
        await shop.stock(client, sku, 1)

    with counted_statements(app) as one_line:
        await shop.order(client, (skus[0], 2))
    with counted_statements(app) as fifty_lines:
        await shop.order(client, *[(sku, 2) for sku in skus])

    assert len(fifty_lines) == len(one_line)
    # BEGIN (on SQLite), then the order: products, location, stock (read, then locked, as
    # the order waits for some), order, lines, its history, the stock taken, the
    # `stock.low` events of the stock it took to zero and the `order.placed` event. The
    # rule reads nothing more: it has what the order read.
    assert len(one_line) <= 11


async def test_prices_are_copied_onto_the_lines_when_the_order_is_placed(
    client: httpx.AsyncClient,
) -> None:
    await shop.location(client)
    await shop.product(client, "TEA", price=300)
    order = await shop.order(client, ("TEA", 3))

    response = await client.patch(
        "/v1/products/TEA", json={"price": {"amount": 999, "currency": "EUR"}}
    )
    assert response.status_code == 200

    again = (await client.get(f"/v1/orders/{order['id']}")).json()
    assert again["lines"][0]["unit_price"] == {"amount": 300, "currency": "EUR"}
    assert again["total"] == {"amount": 900, "currency": "EUR"}


async def test_an_order_with_any_bad_line_is_rejected_whole(client: httpx.AsyncClient) -> None:
    await shop.location(client)
    await shop.product(client, "TEA")
    await shop.product(client, "OLD", active=False)
    await shop.stock(client, "TEA", 10)

    response = await client.post(
        "/v1/orders",
        json={
            "location": "KITCHEN",
            "lines": [
                {"sku": "TEA", "quantity": 2},
                {"sku": "NOPE", "quantity": 1},
                {"sku": "OLD", "quantity": 1},
                {"sku": "TEA", "quantity": 1},
            ],
        },
    )

    assert response.status_code == 422
    fields = [e["field"] for e in response.json()["errors"]]
    assert fields == ["lines[1].sku", "lines[2].sku", "lines[3].sku"]
    assert (await client.get("/v1/orders")).json()["data"] == []
    assert (await shop.level(client, "TEA"))["reserved"] == 0


async def test_orders_are_listed_by_status_location_and_customer(client: httpx.AsyncClient) -> None:
    await shop.location(client)
    await shop.location(client, "SHOP")
    await shop.product(client, "TEA")
    await shop.stock(client, "TEA", 1)
    first = await shop.order(client, ("TEA", 1), customer_ref="alice")
    second = await shop.order(client, ("TEA", 1), customer_ref="bob")
    third = await shop.order(client, ("TEA", 1), where="SHOP", customer_ref="alice")

    async def ids(**params: str) -> list[str]:
        response = await client.get("/v1/orders", params=params)
        assert response.status_code == 200, response.text
        return [o["id"] for o in response.json()["data"]]

    assert await ids() == [first["id"], second["id"], third["id"]]
    assert await ids(status="confirmed") == [first["id"]]
    assert await ids(status="awaiting_stock") == [second["id"], third["id"]]
    assert await ids(location="SHOP") == [third["id"]]
    assert await ids(customer_ref="alice") == [first["id"], third["id"]]
    assert second["number"] == first["number"] + 1


async def test_buying_for_an_order_runs_the_same_statements_for_one_line_or_fifty(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await shop.location(client)
    suppliers = [await shop.supplier(client, name=f"S{n}") for n in range(2)]
    skus = [f"SKU-{n}" for n in range(50)]
    for n, sku in enumerate(skus):
        await shop.product(client, sku, supplier=suppliers[n % 2])

    with counted_statements(app) as one_line:
        await shop.order(client, (skus[0], 2))
    with counted_statements(app) as fifty_lines:
        await shop.order(client, *[(sku, 2) for sku in skus])

    assert len(fifty_lines) == len(one_line)
    drafts = await shop.purchase_orders(client, status="draft")
    assert sorted(len(po["lines"]) for po in drafts) == [25, 25]
