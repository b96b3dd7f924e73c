from __future__ import annotations

import asyncio

import httpx

from galley.app import create_app
from galley.config import Settings
from tests import shop
from tests.auth import api_key, bearer


async def test_auto_sent_drafts_go_out_at_most_once_per_batch_window(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"purchasing_batch_seconds": 0.6}))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=transport,
            base_url="http://t",
            headers=bearer(await api_key(settings.database_url)),
        ) as client,
    ):
        await shop.location(client)
        supplier = await shop.supplier(client, auto_send=True)
        await shop.product(client, "ESP", supplier=supplier, replenishment={"margin_pct": 0})

        await shop.order(client, ("ESP", 2))
        await shop.order(client, ("ESP", 3))

        (first,) = await shop.purchase_orders(client, status="sent")
        (waiting,) = await shop.purchase_orders(client, status="draft")
        assert waiting["lines"][0]["quantity_ordered"] == 3

        for _ in range(50):
            await asyncio.sleep(0.1)
            if not await shop.purchase_orders(client, status="draft"):
                break
        sent = await shop.purchase_orders(client, status="sent")
        assert [po["id"] for po in sent] == [first["id"], waiting["id"]]
