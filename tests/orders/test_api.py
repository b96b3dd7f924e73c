from __future__ import annotations

import httpx

from tests import shop


async def test_order_takes_stock_and_backorders_the_rest(client: httpx.AsyncClient) -> None:
    await shop.location(client)
    await shop.product(client, "ESP-250", price=1250)
    await shop.stock(client, "ESP-250", 4)

    order = await shop.order(client, ("ESP-250", 10), customer_ref="c-1")

    assert order["status"] == "awaiting_stock"
    assert order["lines"] == [
        {
            "sku": "ESP-250",
            "quantity": 10,
            "allocated": 4,
            "backordered": 6,
            "unit_price": {"amount": 1250, "currency": "EUR"},
            "line_total": {"amount": 12500, "currency": "EUR"},
        }
    ]
    assert order["total"] == {"amount": 12500, "currency": "EUR"}
    assert await shop.level(client, "ESP-250") == {
        "sku": "ESP-250",
        "location": "KITCHEN",
        "on_hand": 4,
        "reserved": 4,
        "available": 0,
        "backordered": 6,
        "incoming": 0,
        "promised": 0,
        "spare": 0,
    }


async def test_a_confirmed_order_goes_through_preparation_and_consumes_its_stock(
    client: httpx.AsyncClient,
) -> None:
    await shop.location(client)
    await shop.product(client, "BUN")
    await shop.stock(client, "BUN", 5)
    order = await shop.order(client, ("BUN", 2))
    assert order["status"] == "confirmed"

    for action, status in (("start", "preparing"), ("ready", "ready"), ("complete", "completed")):
        response = await client.post(f"/v1/orders/{order['id']}/{action}")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == status

    assert await shop.level(client, "BUN") == {
        "sku": "BUN",
        "location": "KITCHEN",
        "on_hand": 3,
        "reserved": 0,
        "available": 3,
        "backordered": 0,
        "incoming": 0,
        "promised": 0,
        "spare": 0,
    }
    ledger = (await client.get("/v1/stock/ledger", params={"sku": "BUN"})).json()["data"]
    assert [(e["delta"], e["reason"]) for e in ledger] == [(5, "received"), (-2, "consumed")]
    events = (await client.get(f"/v1/orders/{order['id']}/events")).json()["data"]
    assert [e["type"] for e in events] == [
        "placed",
        "allocated",
        "status_changed",
        "status_changed",
        "status_changed",
    ]


async def test_an_illegal_transition_is_409_naming_the_current_state(
    client: httpx.AsyncClient,
) -> None:
    await shop.location(client)
    await shop.product(client, "BUN")
    order = await shop.order(client, ("BUN", 1))

    response = await client.post(f"/v1/orders/{order['id']}/complete")

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["current_status"] == "awaiting_stock"
    assert "awaiting_stock" in response.json()["detail"]


async def test_cancelling_releases_reserved_stock_and_backorders(client: httpx.AsyncClient) -> None:
    await shop.location(client)
    await shop.product(client, "BUN")
    await shop.stock(client, "BUN", 3)
    order = await shop.order(client, ("BUN", 5))

    response = await client.post(
        f"/v1/orders/{order['id']}/cancel", json={"reason": "changed mind"}
    )

    assert response.json()["status"] == "cancelled"
    assert await shop.level(client, "BUN") == {
        "sku": "BUN",
        "location": "KITCHEN",
        "on_hand": 3,
        "reserved": 0,
        "available": 3,
        "backordered": 0,
        "incoming": 0,
        "promised": 0,
        "spare": 0,
    }
