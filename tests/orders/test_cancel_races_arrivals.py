"""A backordered order cancelled while stock for it arrives leaves the figures true.

The kitchen's case: an order for 5 and a younger one for 20 both wait; the first is
cancelled while three small deliveries are booked at the same moment. Afterwards every
stock row equals the open orders' lines, and the other order can still be cancelled.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from tests.auth import api_key, bearer
from tests.live import TLS, running_server
from tests.stock_figures import drift, rows

pytestmark = pytest.mark.slow

ROUNDS = 25
ARRIVALS = (2, 3, 4)


async def _race(http: httpx.AsyncClient, sku: str) -> str:
    """The race; returns the id of the order still waiting."""
    product = {"sku": sku, "name": sku, "price": {"amount": 100, "currency": "EUR"}}
    assert (await http.post("/v1/products", json=product)).status_code == 201
    older, younger = [
        (
            await http.post(
                "/v1/orders", json={"location": "K", "lines": [{"sku": sku, "quantity": n}]}
            )
        ).json()
        for n in (5, 20)
    ]
    assert older["status"] == younger["status"] == "awaiting_stock"
    cancel = http.post(f"/v1/orders/{older['id']}/cancel", json={"reason": "changed mind"})
    arrivals = [
        http.post(
            "/v1/stock/adjustments",
            json={"sku": sku, "location": "K", "delta": n, "reason": "received"},
        )
        for n in ARRIVALS
    ]
    cancelled, *arrived = await asyncio.gather(cancel, *arrivals)
    assert cancelled.status_code == 200, cancelled.text
    assert [r.status_code for r in arrived] == [201] * len(ARRIVALS)
    return str(younger["id"])


async def test_a_cancel_racing_arrivals_keeps_every_stock_row_equal_to_the_open_orders(
    database_url: str,
) -> None:
    headers = bearer(await api_key(database_url, "manager"))
    engine = create_async_engine(database_url)
    try:
        with running_server(database_url, workers=2) as base:
            async with httpx.AsyncClient(
                verify=TLS, base_url=base, headers=headers, timeout=60
            ) as http:
                kitchen = {"code": "K", "name": "Kitchen"}
                assert (await http.post("/v1/locations", json=kitchen)).status_code == 201
                for n in range(ROUNDS):
                    waiting = await _race(http, f"R{n}")
                    assert drift(await rows(engine)) == [], f"round {n}"
                    closing = {"reason": "closing"}
                    later = await http.post(f"/v1/orders/{waiting}/cancel", json=closing)
                    assert later.status_code == 200, later.text
        levels = await rows(engine)
        assert len(levels) == ROUNDS
        # Everything was cancelled: what arrived is free, nothing is held or awaited.
        assert {(row["reserved"], row["backordered"]) for row in levels} == {(0, 0)}
        assert {row["on_hand"] for row in levels} == {sum(ARRIVALS)}
    finally:
        await engine.dispose()
