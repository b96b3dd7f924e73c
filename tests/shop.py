"""Short ways for tests to set up a shop through the API."""

from __future__ import annotations

from typing import Any

import httpx


async def location(client: httpx.AsyncClient, code: str = "KITCHEN") -> dict[str, Any]:
    response = await client.post("/v1/locations", json={"code": code, "name": f"{code} site"})
    assert response.status_code == 201, response.text
    return response.json()


async def product(
    client: httpx.AsyncClient, sku: str, price: int = 250, **extra: Any
) -> dict[str, Any]:
    body = {"sku": sku, "name": f"Product {sku}", "price": {"amount": price, "currency": "EUR"}}
    response = await client.post("/v1/products", json=body | extra)
    assert response.status_code == 201, response.text
    return response.json()


async def stock(client: httpx.AsyncClient, sku: str, delta: int, where: str = "KITCHEN") -> None:
    response = await client.post(
        "/v1/stock/adjustments",
        json={"sku": sku, "location": where, "delta": delta, "reason": "received"},
    )
    assert response.status_code == 201, response.text


async def order(
    client: httpx.AsyncClient, *lines: tuple[str, int], where: str = "KITCHEN", **extra: Any
) -> dict[str, Any]:
    body = {"location": where, "lines": [{"sku": s, "quantity": q} for s, q in lines]} | extra
    response = await client.post("/v1/orders", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def level(client: httpx.AsyncClient, sku: str, where: str = "KITCHEN") -> dict[str, Any]:
    response = await client.get("/v1/stock", params={"sku": sku, "location": where})
    assert response.status_code == 200, response.text
    (found,) = response.json()["data"]
    return found


async def everything(client: httpx.AsyncClient) -> dict[str, Any]:
    """Every list the API has, to show that a refused request wrote nothing."""
    paths = ("/v1/locations", "/v1/products", "/v1/stock", "/v1/stock/ledger", "/v1/orders")
    found: dict[str, Any] = {}
    for path in paths:
        response = await client.get(path, params={"limit": 200})
        assert response.status_code == 200, response.text
        found[path] = response.json()["data"]
    return found


async def supplier(client: httpx.AsyncClient, name: str = "Roastery", **extra: Any) -> str:
    body = {"name": name, "lead_time_days": 2, "currency": "EUR"} | extra
    response = await client.post("/v1/suppliers", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def purchase_orders(client: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    response = await client.get("/v1/purchase-orders", params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def receive(client: httpx.AsyncClient, po_id: str, *lines: tuple[str, int]) -> None:
    body = {"lines": [{"sku": s, "quantity": q} for s, q in lines]}
    response = await client.post(f"/v1/purchase-orders/{po_id}/receipts", json=body)
    assert response.status_code == 201, response.text
