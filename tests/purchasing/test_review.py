"""Regressions found in review of purchasing: each test failed before its fix."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest

from galley.config import Settings
from galley.inventory import levels
from tests import shop
from tests.problems import fields, problem


async def _books(client: httpx.AsyncClient) -> dict[str, Any]:
    found = await shop.everything(client)
    for path in ("/v1/suppliers", "/v1/purchase-orders"):
        found[path] = (await client.get(path, params={"limit": 200})).json()["data"]
    return found


async def _draft(client: httpx.AsyncClient) -> dict[str, Any]:
    (draft,) = await shop.purchase_orders(client, status="draft")
    return draft


def _open_incoming(orders: Iterable[dict[str, Any]], sku: str) -> int:
    """What the open purchase orders still have to bring of `sku`, from scratch."""
    return sum(
        max(0, line["quantity_ordered"] - line["quantity_received"])
        for po in orders
        if po["status"] in ("draft", "sent", "partially_received")
        for line in po["lines"]
        if line["sku"] == sku
    )


# Races between row locks: SQLite has one writer at a time, so they only exist here.
POSTGRES_ONLY = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


@asynccontextmanager
async def _postgres(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """A connection of its own to the test's PostgreSQL database: another transaction."""
    url = settings.database_url.set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(url)
    try:
        yield connection
    finally:
        await connection.close()


async def _until_waiting_on_locks(settings: Settings, count: int) -> None:
    """Until `count` other transactions wait on a row lock."""
    async with _postgres(settings) as watcher:
        for _ in range(500):
            waiting = await watcher.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if waiting >= count:
                return
            await asyncio.sleep(0.01)
    raise AssertionError(f"{count} requests never waited on a lock")


# ---- money and ids ----------------------------------------------------------------------


async def test_a_unit_cost_beyond_any_price_is_422_not_a_server_error(
    client: httpx.AsyncClient,
) -> None:
    await shop.location(client)
    supplier = await shop.supplier(client)
    await shop.product(client, "ESP", supplier=supplier)
    await shop.order(client, ("ESP", 5))
    draft = await _draft(client)
    before = await _books(client)

    for amount in (10_000_000_001, 2**63, 10**30):
        line = {"sku": "ESP", "quantity": 1, "unit_cost": {"amount": amount, "currency": "EUR"}}
        body = {"supplier": supplier, "location": "KITCHEN", "lines": [line]}
        created = await client.post("/v1/purchase-orders", json=body)
        assert fields(created) == ["lines[0].unit_cost.amount"], amount
        edited = await client.patch(f"/v1/purchase-orders/{draft['id']}", json={"lines": [line]})
        assert fields(edited) == ["lines[0].unit_cost.amount"], amount

    assert await _books(client) == before


async def test_a_unit_cost_of_a_hundred_million_is_kept(client: httpx.AsyncClient) -> None:
    await shop.location(client)
    supplier = await shop.supplier(client)
    await shop.product(client, "ESP", supplier=supplier)
    cost = {"amount": 10_000_000_000, "currency": "EUR"}
    line = {"sku": "ESP", "quantity": 1, "unit_cost": cost}

    response = await client.post(
        "/v1/purchase-orders", json={"supplier": supplier, "location": "KITCHEN", "lines": [line]}
    )

    assert response.status_code == 201, response.text
    assert response.json()["lines"][0]["unit_cost"] == cost


async def test_an_id_that_is_no_number_is_an_unknown_resource(client: httpx.AsyncClient) -> None:
    """Ids are opaque to clients: one that cannot exist is 404 like any other unknown id."""
    for path in ("/v1/suppliers/abc", "/v1/suppliers/0", "/v1/purchase-orders/PO-1"):
        assert problem(await client.get(path), 404)["type"].endswith("-not-found")


async def test_changing_a_suppliers_currency_never_relabels_the_costs_it_quoted(
    client: httpx.AsyncClient,
) -> None:
    await shop.location(client)
    supplier = await shop.supplier(client)
    await shop.product(client, "ESP", supplier=supplier)
    line = {"sku": "ESP", "quantity": 2, "unit_cost": {"amount": 420, "currency": "EUR"}}
    body = {"supplier": supplier, "location": "KITCHEN", "lines": [line]}
    assert (await client.post("/v1/purchase-orders", json=body)).status_code == 201
    before = await _books(client)

    response = await client.patch(f"/v1/suppliers/{supplier}", json={"currency": "USD"})

    assert problem(response, 409)["type"].endswith("/supplier-currency-in-use")
    assert await _books(client) == before


async def test_a_supplier_without_costs_on_record_may_change_its_currency(
    client: httpx.AsyncClient,
) -> None:
    await shop.location(client)
    supplier = await shop.supplier(client)
    await shop.product(client, "ESP", supplier=supplier)
    await shop.order(client, ("ESP", 2))

    response = await client.patch(
        f"/v1/suppliers/{supplier}", json={"currency": "USD", "name": "Roastery"}
    )

    assert response.status_code == 200, response.text
    assert response.json()["currency"] == "USD"


# ---- locks ------------------------------------------------------------------------------


async def test_editing_a_draft_locks_stock_rows_in_product_order(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two transactions that lock the same rows in different orders can deadlock."""
    await shop.location(client)
    supplier = await shop.supplier(client)
    await shop.product(client, "A", supplier=supplier)
    await shop.product(client, "B", supplier=supplier)
    await shop.order(client, ("A", 1), ("B", 1))
    draft = await _draft(client)
    locked: list[list[int]] = []
    lock_levels = levels.lock_levels

    async def recording(session: Any, location_id: int, product_ids: Any) -> Any:
        ids = sorted(set(product_ids))
        locked.append(ids)
        return await lock_levels(session, location_id, ids)

    monkeypatch.setattr(levels, "lock_levels", recording)

    response = await client.patch(
        f"/v1/purchase-orders/{draft['id']}", json={"lines": [{"sku": "B", "quantity": 5}]}
    )

    assert response.status_code == 200, response.text
    held: set[int] = set()
    for ids in locked:
        new = [i for i in ids if i not in held]
        assert not held or not new or min(new) > max(held), locked
        held |= set(ids)


@POSTGRES_ONLY
async def test_an_order_that_grows_a_draft_being_sent_starts_a_new_draft(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """The draft is sent between the statement that finds it and the one that locks it."""
    await shop.location(client)
    supplier = await shop.supplier(client)
    await shop.product(client, "ESP", supplier=supplier, replenishment={"margin_pct": 0})
    await shop.product(client, "TEA", supplier=supplier, replenishment={"margin_pct": 0})
    await shop.order(client, ("ESP", 1))
    draft = await _draft(client)
    po = int(draft["id"])

    async with _postgres(settings) as sender:
        sending = sender.transaction()
        await sending.start()
        await sender.execute("SELECT id FROM purchase_orders WHERE id = $1 FOR UPDATE", po)
        placing = asyncio.create_task(client.post("/v1/orders", json=_order_of("TEA", 2)))
        await _until_waiting_on_locks(settings, 1)
        await sender.execute(
            "UPDATE purchase_orders SET status = 'sent', sent_at = now() WHERE id = $1", po
        )
        await sending.commit()
        response = await placing

    assert response.status_code == 201, response.text
    (sent,) = await shop.purchase_orders(client, status="sent")
    assert sent["id"] == draft["id"]
    assert [(line["sku"], line["quantity_ordered"]) for line in sent["lines"]] == [("ESP", 1)]
    new = await _draft(client)
    assert [(line["sku"], line["quantity_ordered"]) for line in new["lines"]] == [("TEA", 2)]


def _order_of(sku: str, quantity: int) -> dict[str, Any]:
    return {"location": "KITCHEN", "lines": [{"sku": sku, "quantity": quantity}]}


@POSTGRES_ONLY
async def test_two_editors_with_the_same_etag_never_both_win(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """If-Match is compared under the purchase order's lock, not before it."""
    await shop.location(client)
    supplier = await shop.supplier(client)
    await shop.product(client, "ESP", supplier=supplier, replenishment={"margin_pct": 0})
    await shop.order(client, ("ESP", 1))
    draft = await _draft(client)
    path = f"/v1/purchase-orders/{draft['id']}"
    etag = (await client.get(path)).headers["etag"]

    async def edit(quantity: int) -> httpx.Response:
        return await client.patch(
            path,
            json={"lines": [{"sku": "ESP", "quantity": quantity}]},
            headers={"If-Match": etag},
        )

    async with _postgres(settings) as other:
        holding = other.transaction()
        await holding.start()
        await other.execute("SELECT * FROM stock_levels FOR UPDATE")
        editors = [asyncio.create_task(edit(q)) for q in (4, 7)]
        await _until_waiting_on_locks(settings, 2)
        await holding.rollback()
        responses = await asyncio.gather(*editors)

    assert sorted(r.status_code for r in responses) == [200, 412], [r.text for r in responses]
    (winner,) = [r for r in responses if r.status_code == 200]
    assert (await client.get(path)).json()["lines"] == winner.json()["lines"]


# ---- incoming is what open purchase orders still have to bring ---------------------------


async def test_incoming_is_what_open_purchase_orders_still_bring_through_every_change(
    client: httpx.AsyncClient,
) -> None:
    await shop.location(client)
    supplier = await shop.supplier(client)
    await shop.product(client, "ESP", supplier=supplier, replenishment={"margin_pct": 0})
    await shop.product(client, "TEA", supplier=supplier, replenishment={"margin_pct": 0})
    hand = {"supplier": supplier, "location": "KITCHEN"}

    async def check() -> None:
        orders = await shop.purchase_orders(client, limit="200")
        stock = (await client.get("/v1/stock")).json()["data"]
        incoming = {level["sku"]: level["incoming"] for level in stock}
        for sku in ("ESP", "TEA"):
            assert incoming.get(sku, 0) == _open_incoming(orders, sku), sku

    await shop.order(client, ("ESP", 4))
    await check()
    buy = [{"sku": "TEA", "quantity": 6}, {"sku": "ESP", "quantity": 2}]
    first = (await client.post("/v1/purchase-orders", json=hand | {"lines": buy})).json()
    await check()
    lower = [{"sku": "TEA", "quantity": 2}, {"sku": "ESP", "quantity": 1}]
    assert (
        await client.patch(f"/v1/purchase-orders/{first['id']}", json={"lines": lower})
    ).is_success
    await check()
    remove = [{"sku": "TEA", "quantity": 0}]
    assert (
        await client.patch(f"/v1/purchase-orders/{first['id']}", json={"lines": remove})
    ).is_success
    await check()
    await shop.receive(client, first["id"], ("ESP", 1))
    await check()
    await shop.order(client, ("ESP", 3), ("TEA", 2))
    second = await _draft(client)
    over = {"lines": [{"sku": "ESP", "quantity": 5}], "allow_over_receipt": True}
    assert (
        await client.post(f"/v1/purchase-orders/{second['id']}/receipts", json=over)
    ).status_code == 201
    await check()
    await shop.order(client, ("TEA", 3))
    third = await _draft(client)
    assert (await client.post(f"/v1/purchase-orders/{third['id']}/send")).is_success
    assert (await client.post(f"/v1/purchase-orders/{third['id']}/cancel", json={})).is_success
    await check()
    for po in await shop.purchase_orders(client, limit="200"):
        if po["status"] == "draft":
            assert (await client.post(f"/v1/purchase-orders/{po['id']}/cancel")).is_success
    await check()
