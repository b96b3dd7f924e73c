"""The promise: stock is never over-allocated, whatever runs at the same time."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.auth import api_key, bearer
from tests.live import TLS, running_server

pytestmark = pytest.mark.slow

CLIENTS = 50
EACH = 3
ON_HAND = 100


async def _set_up(base: str, headers: dict[str, str]) -> None:
    async with httpx.AsyncClient(verify=TLS, base_url=base, headers=headers) as http:
        for path, body in (
            ("/v1/locations", {"code": "K", "name": "Kitchen"}),
            (
                "/v1/products",
                {"sku": "HOT", "name": "Hot item", "price": {"amount": 500, "currency": "EUR"}},
            ),
            (
                "/v1/stock/adjustments",
                {"sku": "HOT", "location": "K", "delta": ON_HAND, "reason": "received"},
            ),
        ):
            response = await http.post(path, json=body)
            assert response.status_code == 201, response.text


async def _one_client(base: str, headers: dict[str, str], start: asyncio.Event) -> httpx.Response:
    async with httpx.AsyncClient(verify=TLS, base_url=base, timeout=60, headers=headers) as http:
        await start.wait()
        return await http.post(
            "/v1/orders", json={"location": "K", "lines": [{"sku": "HOT", "quantity": EACH}]}
        )


async def test_concurrent_orders_never_allocate_more_than_is_on_hand(database_url: str) -> None:
    headers = bearer(await api_key(database_url))
    with running_server(database_url, workers=2) as base:
        await _set_up(base, headers)
        start = asyncio.Event()
        clients = [asyncio.create_task(_one_client(base, headers, start)) for _ in range(CLIENTS)]
        await asyncio.sleep(0.2)
        start.set()
        responses = await asyncio.gather(*clients)

        assert [r.status_code for r in responses] == [201] * CLIENTS, responses[0].text
        lines = [r.json()["lines"][0] for r in responses]
        assert sum(line["allocated"] for line in lines) == ON_HAND
        assert sum(line["backordered"] for line in lines) == CLIENTS * EACH - ON_HAND

        async with httpx.AsyncClient(verify=TLS, base_url=base, headers=headers) as http:
            (level,) = (await http.get("/v1/stock", params={"sku": "HOT"})).json()["data"]
            ledger = (await http.get("/v1/stock/ledger", params={"sku": "HOT"})).json()["data"]
        assert level == {
            "sku": "HOT",
            "location": "K",
            "on_hand": ON_HAND,
            "reserved": ON_HAND,
            "available": 0,
            "backordered": CLIENTS * EACH - ON_HAND,
            "incoming": 0,
            "promised": 0,
            "spare": 0,
        }
        assert sum(entry["delta"] for entry in ledger) == level["on_hand"]
