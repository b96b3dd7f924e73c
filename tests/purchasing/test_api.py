from __future__ import annotations

from typing import Any

import httpx

from tests import shop


async def _draft_lines(client: httpx.AsyncClient) -> dict[str, int]:
    (draft,) = await shop.purchase_orders(client, status="draft")
    return {line["sku"]: line["quantity_ordered"] for line in draft["lines"]}


async def _status(client: httpx.AsyncClient, order: dict[str, Any]) -> str:
    return str((await client.get(f"/v1/orders/{order['id']}")).json()["status"])


async def test_the_worked_example(client: httpx.AsyncClient) -> None:
    """docs/domain.md: margin 20%, 4 on hand; orders for 10, 1 and 3; receive 11."""
    await shop.location(client)
    supplier = await shop.supplier(client)
    await shop.product(client, "ESP", supplier=supplier)
    await shop.stock(client, "ESP", 4)

    a = await shop.order(client, ("ESP", 10))
    assert (a["lines"][0]["allocated"], a["lines"][0]["backordered"]) == (4, 6)
    assert await _draft_lines(client) == {"ESP": 8}
    assert (await shop.level(client, "ESP"))["spare"] == 2

    b = await shop.order(client, ("ESP", 1))
    assert b["lines"][0]["backordered"] == 1
    assert await _draft_lines(client) == {"ESP": 8}

    c = await shop.order(client, ("ESP", 3))
    assert c["lines"][0]["backordered"] == 3
    assert await _draft_lines(client) == {"ESP": 11}

    (draft,) = await shop.purchase_orders(client, status="draft")
    await shop.receive(client, draft["id"], ("ESP", 11))

    for order, allocated in ((a, 10), (b, 1), (c, 3)):
        again = (await client.get(f"/v1/orders/{order['id']}")).json()
        assert again["status"] == "confirmed"
        assert again["lines"][0]["allocated"] == allocated
    level = await shop.level(client, "ESP")
    assert (level["available"], level["backordered"], level["incoming"]) == (1, 0, 0)
    (received,) = await shop.purchase_orders(client, status="received")
    assert received["lines"][0]["quantity_received"] == 11


async def test_a_product_that_may_not_be_backordered_refuses_the_whole_order(
    client: httpx.AsyncClient,
) -> None:
    await shop.location(client)
    await shop.product(client, "TEA", replenishment={"allow_backorder": False})
    await shop.product(client, "BUN")
    await shop.stock(client, "TEA", 2)

    response = await client.post(
        "/v1/orders",
        json={
            "location": "KITCHEN",
            "lines": [{"sku": "BUN", "quantity": 1}, {"sku": "TEA", "quantity": 5}],
        },
    )

    assert response.status_code == 409
    assert response.json()["short"] == [{"sku": "TEA", "requested": 5, "available": 2}]
    assert (await client.get("/v1/orders")).json()["data"] == []
    assert (await shop.level(client, "TEA"))["reserved"] == 0


async def test_without_a_supplier_a_backorder_waits_and_is_listed_as_unsourced(
    client: httpx.AsyncClient,
) -> None:
    await shop.location(client)
    await shop.product(client, "JAM")
    await shop.order(client, ("JAM", 3))

    assert await shop.purchase_orders(client) == []
    unsourced = (await client.get("/v1/replenishment/unsourced")).json()["data"]
    assert [(u["sku"], u["backordered"]) for u in unsourced] == [("JAM", 3)]


async def test_giving_a_product_a_supplier_buys_what_waits_for_it(
    client: httpx.AsyncClient,
) -> None:
    await shop.location(client)
    await shop.product(client, "JAM")
    await shop.order(client, ("JAM", 5))
    supplier = await shop.supplier(client)

    response = await client.patch("/v1/products/JAM", json={"supplier": supplier})

    assert response.status_code == 200, response.text
    assert await _draft_lines(client) == {"JAM": 6}
    assert (await client.get("/v1/replenishment/unsourced")).json()["data"] == []


async def test_cancelling_a_purchase_order_buys_its_demand_again(client: httpx.AsyncClient) -> None:
    await shop.location(client)
    supplier = await shop.supplier(client)
    await shop.product(client, "ESP", supplier=supplier)
    await shop.order(client, ("ESP", 5))
    (first,) = await shop.purchase_orders(client, status="draft")
    assert (await client.post(f"/v1/purchase-orders/{first['id']}/send")).status_code == 200

    response = await client.post(f"/v1/purchase-orders/{first['id']}/cancel", json={})

    assert response.json()["status"] == "cancelled"
    (second,) = await shop.purchase_orders(client, status="draft")
    assert second["id"] != first["id"]
    assert await _draft_lines(client) == {"ESP": 6}
    assert (await shop.level(client, "ESP"))["incoming"] == 6


async def test_a_sent_order_is_frozen_and_a_new_draft_collects_later_shortfalls(
    client: httpx.AsyncClient,
) -> None:
    await shop.location(client)
    supplier = await shop.supplier(client)
    await shop.product(client, "ESP", supplier=supplier, replenishment={"margin_pct": 0})
    await shop.order(client, ("ESP", 2))
    (draft,) = await shop.purchase_orders(client, status="draft")
    await client.post(f"/v1/purchase-orders/{draft['id']}/send")

    await shop.order(client, ("ESP", 3))

    (sent,) = await shop.purchase_orders(client, status="sent")
    assert sent["lines"][0]["quantity_ordered"] == 2
    assert await _draft_lines(client) == {"ESP": 3}


async def test_a_supplier_that_takes_orders_automatically_gets_each_draft_at_once(
    client: httpx.AsyncClient,
) -> None:
    await shop.location(client)
    supplier = await shop.supplier(client, auto_send=True)
    await shop.product(client, "ESP", supplier=supplier)

    await shop.order(client, ("ESP", 5))

    assert await shop.purchase_orders(client, status="draft") == []
    (sent,) = await shop.purchase_orders(client, status="sent")
    assert sent["lines"][0]["quantity_ordered"] == 6


async def test_receiving_more_than_ordered_needs_consent(client: httpx.AsyncClient) -> None:
    await shop.location(client)
    supplier = await shop.supplier(client)
    await shop.product(client, "ESP", supplier=supplier, replenishment={"margin_pct": 0})
    await shop.order(client, ("ESP", 2))
    (draft,) = await shop.purchase_orders(client, status="draft")
    path = f"/v1/purchase-orders/{draft['id']}/receipts"

    refused = await client.post(path, json={"lines": [{"sku": "ESP", "quantity": 3}]})
    assert refused.status_code == 409
    assert (await shop.level(client, "ESP"))["on_hand"] == 0

    accepted = await client.post(
        path, json={"lines": [{"sku": "ESP", "quantity": 3}], "allow_over_receipt": True}
    )
    assert accepted.status_code == 201
    level = await shop.level(client, "ESP")
    assert (level["on_hand"], level["reserved"], level["available"], level["incoming"]) == (
        3,
        2,
        1,
        0,
    )


async def test_a_partial_receipt_fills_the_oldest_order_first(client: httpx.AsyncClient) -> None:
    await shop.location(client)
    supplier = await shop.supplier(client)
    await shop.product(client, "ESP", supplier=supplier, replenishment={"margin_pct": 0})
    first = await shop.order(client, ("ESP", 3))
    second = await shop.order(client, ("ESP", 3))
    (draft,) = await shop.purchase_orders(client, status="draft")

    await shop.receive(client, draft["id"], ("ESP", 4))

    assert await _status(client, first) == "confirmed"
    assert await _status(client, second) == "awaiting_stock"
    again = (await client.get(f"/v1/orders/{second['id']}")).json()
    assert (again["lines"][0]["allocated"], again["lines"][0]["backordered"]) == (1, 2)
    (po,) = await shop.purchase_orders(client, status="partially_received")
    assert po["lines"][0]["quantity_received"] == 4


async def test_a_positive_adjustment_goes_to_waiting_orders_before_new_ones(
    client: httpx.AsyncClient,
) -> None:
    await shop.location(client)
    await shop.product(client, "BUN")
    waiting = await shop.order(client, ("BUN", 2))

    await shop.stock(client, "BUN", 3)

    assert await _status(client, waiting) == "confirmed"
    assert (await shop.level(client, "BUN"))["available"] == 1
    events = (await client.get(f"/v1/orders/{waiting['id']}/events")).json()["data"]
    assert [e["type"] for e in events][-2:] == ["allocated", "status_changed"]


async def test_a_cancelled_order_releases_its_stock_to_the_next_waiting_order(
    client: httpx.AsyncClient,
) -> None:
    await shop.location(client)
    await shop.product(client, "BUN")
    await shop.stock(client, "BUN", 2)
    holder = await shop.order(client, ("BUN", 2))
    waiting = await shop.order(client, ("BUN", 2))

    await client.post(f"/v1/orders/{holder['id']}/cancel", json={})

    assert await _status(client, waiting) == "confirmed"
    level = await shop.level(client, "BUN")
    assert (level["reserved"], level["backordered"]) == (2, 0)


async def test_a_reorder_point_buys_before_stock_runs_out(client: httpx.AsyncClient) -> None:
    await shop.location(client)
    supplier = await shop.supplier(client)
    await shop.product(
        client,
        "CUP",
        supplier=supplier,
        replenishment={"reorder_point": 5, "reorder_quantity": 10, "pack_size": 4},
    )
    await shop.stock(client, "CUP", 8)

    await shop.order(client, ("CUP", 4))

    assert await _draft_lines(client) == {"CUP": 12}
    plan = (await client.get("/v1/replenishment/plan", params={"sku": "CUP"})).json()["data"]
    assert plan[0] | {"supplier": None} == {
        "sku": "CUP",
        "location": "KITCHEN",
        "supplier": None,
        "backordered": 0,
        "incoming": 12,
        "spare": 12,
        "uncovered": 0,
        "to_buy": 0,
    }


async def test_a_manager_buys_by_hand_onto_the_draft(client: httpx.AsyncClient) -> None:
    await shop.location(client)
    supplier = await shop.supplier(client)
    await shop.product(client, "ESP", supplier=supplier)
    body = {
        "supplier": supplier,
        "location": "KITCHEN",
        "lines": [{"sku": "ESP", "quantity": 5, "unit_cost": {"amount": 420, "currency": "EUR"}}],
    }

    created = await client.post("/v1/purchase-orders", json=body)
    grown = await client.post("/v1/purchase-orders", json=body)

    assert (created.status_code, grown.status_code) == (201, 200)
    assert grown.json()["lines"] == [
        {
            "sku": "ESP",
            "quantity_ordered": 10,
            "quantity_received": 0,
            "unit_cost": {"amount": 420, "currency": "EUR"},
        }
    ]
    assert (await shop.level(client, "ESP"))["incoming"] == 10

    edited = await client.patch(
        created.headers["Location"], json={"lines": [{"sku": "ESP", "quantity": 3}]}
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["lines"][0]["quantity_ordered"] == 3
    assert (await shop.level(client, "ESP"))["incoming"] == 3


async def test_suppliers_are_created_listed_and_changed(client: httpx.AsyncClient) -> None:
    supplier = await shop.supplier(client, email="orders@roastery.example")
    changed = await client.patch(f"/v1/suppliers/{supplier}", json={"lead_time_days": 5})
    assert changed.json()["lead_time_days"] == 5
    listed = (await client.get("/v1/suppliers")).json()["data"]
    assert [s["id"] for s in listed] == [supplier]
    assert (await client.get("/v1/suppliers/999")).status_code == 404
    assert (
        await client.post(
            "/v1/products",
            json={
                "sku": "X",
                "name": "X",
                "price": {"amount": 1, "currency": "EUR"},
                "supplier": "999",
            },
        )
    ).status_code == 422


async def test_an_empty_draft_cannot_be_sent(client: httpx.AsyncClient) -> None:
    await shop.location(client)
    supplier = await shop.supplier(client)
    await shop.product(client, "ESP", supplier=supplier)
    body = {"supplier": supplier, "location": "KITCHEN", "lines": [{"sku": "ESP", "quantity": 2}]}
    created = await client.post("/v1/purchase-orders", json=body)
    await client.patch(created.headers["Location"], json={"lines": [{"sku": "ESP", "quantity": 0}]})

    response = await client.post(f"{created.headers['Location']}/send")

    assert response.status_code == 409
    assert response.json()["type"].endswith("/empty-purchase-order")


async def test_a_post_is_never_answered_not_modified(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/locations", json={"code": "K2", "name": "K2"}, headers={"If-None-Match": "*"}
    )
    assert response.status_code == 201


async def test_a_receipt_sent_twice_with_one_idempotency_key_counts_once(
    client: httpx.AsyncClient,
) -> None:
    await shop.location(client)
    supplier = await shop.supplier(client)
    await shop.product(client, "ESP", supplier=supplier, replenishment={"margin_pct": 0})
    await shop.order(client, ("ESP", 4))
    (draft,) = await shop.purchase_orders(client, status="draft")
    path = f"/v1/purchase-orders/{draft['id']}/receipts"
    body = {"lines": [{"sku": "ESP", "quantity": 2}]}

    first = await client.post(path, json=body, headers={"Idempotency-Key": "delivery-17"})
    again = await client.post(path, json=body, headers={"Idempotency-Key": "delivery-17"})

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    level = await shop.level(client, "ESP")
    assert (level["on_hand"], level["incoming"]) == (2, 2)


async def test_each_answer_about_a_purchase_order_is_what_a_read_then_shows(
    client: httpx.AsyncClient,
) -> None:
    """The answers are built from what the request holds, not read again: after edits the
    rule then adds to (on a line the edit kept, on one it took off, and sending the draft
    once its supplier takes orders automatically), a purchase by hand, a receipt and a
    cancel, each is what a read shows once the request is done."""
    await shop.location(client)
    supplier = await shop.supplier(client)
    for sku in ("ESP", "TEA"):
        await shop.product(client, sku, supplier=supplier, replenishment={"margin_pct": 0})
    await shop.order(client, ("ESP", 5), ("TEA", 3))
    (draft,) = await shop.purchase_orders(client, status="draft")
    path = f"/v1/purchase-orders/{draft['id']}"

    async def answered(method: str, url: str, **body: Any) -> dict[str, Any]:
        response = await client.request(method, url, **body)
        assert response.status_code < 300, response.text
        again = await client.get(f"/v1/purchase-orders/{response.json()['id']}")
        assert response.json() == again.json()
        assert response.headers.get("ETag", again.headers["ETag"]) == again.headers["ETag"]
        return dict(response.json())

    async def edited(*lines: tuple[str, int]) -> tuple[dict[str, int], str]:
        body = {"lines": [{"sku": s, "quantity": q} for s, q in lines]}
        po = await answered("PATCH", path, json=body)
        return {line["sku"]: line["quantity_ordered"] for line in po["lines"]}, po["status"]

    assert await edited(("ESP", 2)) == ({"ESP": 5, "TEA": 3}, "draft")  # 3 bought back
    assert await edited(("TEA", 0)) == ({"ESP": 5, "TEA": 3}, "draft")  # its line made again
    by_hand = {
        "supplier": supplier,
        "location": "KITCHEN",
        "lines": [{"sku": "TEA", "quantity": 1}],
    }
    assert (await answered("POST", "/v1/purchase-orders", json=by_hand))["id"] == draft["id"]
    response = await client.patch(f"/v1/suppliers/{supplier}", json={"auto_send": True})
    assert response.status_code == 200, response.text
    assert await edited(("ESP", 4)) == ({"ESP": 5, "TEA": 4}, "sent")  # bought, then sent

    receipt = {"lines": [{"sku": "ESP", "quantity": 2}]}
    assert (await answered("POST", f"{path}/receipts", json=receipt))[
        "status"
    ] == "partially_received"
    by_hand["lines"] = [{"sku": "ESP", "quantity": 1}]
    new = await answered("POST", "/v1/purchase-orders", json=by_hand)
    assert new["id"] != draft["id"]
    cancel = f"/v1/purchase-orders/{new['id']}/cancel"
    assert (await answered("POST", cancel, json={}))["status"] == "cancelled"
