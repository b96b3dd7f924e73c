"""Bad input to suppliers, purchase orders, receipts, the plan and product replenishment
settings gets the right 4xx problem, and a refused request writes nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests import shop
from tests.problems import fields, problem

Ids = dict[str, str]

# Every endpoint of purchasing that takes a body, with a body it would accept. Strings
# hold `{supplier}` and `{draft}` for the ids of the books `open_books` sets up.
WRITES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/v1/suppliers"): {"name": "Mill", "lead_time_days": 1, "currency": "EUR"},
    ("PATCH", "/v1/suppliers/{supplier}"): {"lead_time_days": 4},
    ("POST", "/v1/purchase-orders"): {
        "supplier": "{supplier}",
        "location": "KITCHEN",
        "lines": [{"sku": "ESP", "quantity": 2, "unit_cost": {"amount": 400, "currency": "EUR"}}],
    },
    ("PATCH", "/v1/purchase-orders/{draft}"): {"lines": [{"sku": "ESP", "quantity": 4}]},
    ("POST", "/v1/purchase-orders/{draft}/cancel"): {"reason": "ordered elsewhere"},
    ("POST", "/v1/purchase-orders/{draft}/receipts"): {"lines": [{"sku": "ESP", "quantity": 1}]},
    ("POST", "/v1/products"): {
        "sku": "NEW",
        "name": "New",
        "price": {"amount": 1, "currency": "EUR"},
        "supplier": "{supplier}",
        "replenishment": {"margin_pct": 10, "reorder_point": 2, "reorder_quantity": 6},
    },
    ("PATCH", "/v1/products/TEA"): {"supplier": "{supplier}", "replenishment": {"pack_size": 6}},
}
# The same endpoints with one field of the wrong JSON type, and the field a 422 must name.
WRONG_TYPES: dict[tuple[str, str], tuple[dict[str, Any], str]] = {
    ("POST", "/v1/suppliers"): (
        {"name": "Mill", "lead_time_days": "1", "currency": "EUR"},
        "lead_time_days",
    ),
    ("PATCH", "/v1/suppliers/{supplier}"): ({"auto_send": "yes"}, "auto_send"),
    ("POST", "/v1/purchase-orders"): (
        {"supplier": 1, "location": "KITCHEN", "lines": [{"sku": "ESP", "quantity": 2}]},
        "supplier",
    ),
    ("PATCH", "/v1/purchase-orders/{draft}"): (
        {"lines": [{"sku": "ESP", "quantity": 4.0}]},
        "lines[0].quantity",
    ),
    ("POST", "/v1/purchase-orders/{draft}/cancel"): ({"reason": 5}, "reason"),
    ("POST", "/v1/purchase-orders/{draft}/receipts"): (
        {"lines": [{"sku": "ESP", "quantity": 1}], "allow_over_receipt": "true"},
        "allow_over_receipt",
    ),
    ("POST", "/v1/products"): (
        {
            "sku": "NEW",
            "name": "New",
            "price": {"amount": 1, "currency": "EUR"},
            "replenishment": {"margin_pct": "20"},
        },
        "replenishment.margin_pct",
    ),
    ("PATCH", "/v1/products/TEA"): ({"supplier": 1}, "supplier"),
}
LISTS = (
    "/v1/suppliers",
    "/v1/purchase-orders",
    "/v1/replenishment/plan",
    "/v1/replenishment/unsourced",
)

writes = pytest.mark.parametrize(("method", "path"), list(WRITES))
lists = pytest.mark.parametrize("path", LISTS)


async def open_books(client: httpx.AsyncClient) -> Ids:
    """A kitchen with 2 ESP (bought from a supplier, no margin) and TEA (no supplier); an
    order for 5 ESP waits for 3, which are on the supplier's draft purchase order."""
    await shop.location(client)
    supplier = await shop.supplier(client)
    await shop.product(client, "ESP", supplier=supplier, replenishment={"margin_pct": 0})
    await shop.product(client, "TEA")
    await shop.stock(client, "ESP", 2)
    await shop.order(client, ("ESP", 5))
    (draft,) = await shop.purchase_orders(client, status="draft")
    return {"supplier": supplier, "draft": str(draft["id"])}


def fill(value: Any, ids: Ids) -> Any:
    """`value` with the ids put into every string that names one."""
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, ids) for v in value]
    return value


async def books(client: httpx.AsyncClient) -> dict[str, Any]:
    """Everything the API shows, purchasing included: a refused request changes none of it.

    Stock levels carry incoming, promised and spare; the ledger shows every receipt."""
    found = await shop.everything(client)
    for path in ("/v1/suppliers", "/v1/purchase-orders", "/v1/replenishment/plan"):
        response = await client.get(path, params={"limit": 200})
        assert response.status_code == 200, response.text
        found[path] = response.json()["data"]
    return found


async def send(client: httpx.AsyncClient, po: str) -> None:
    response = await client.post(f"/v1/purchase-orders/{po}/send")
    assert response.status_code == 200, response.text


async def cancel(client: httpx.AsyncClient, po: str) -> None:
    response = await client.post(f"/v1/purchase-orders/{po}/cancel", json={})
    assert response.status_code == 200, response.text


async def by_hand(client: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    return await client.post("/v1/purchase-orders", json=body)


def hand_body(ids: Ids, *lines: dict[str, Any]) -> dict[str, Any]:
    return {"supplier": ids["supplier"], "location": "KITCHEN", "lines": list(lines)}


async def receive(client: httpx.AsyncClient, po: str, body: Any) -> httpx.Response:
    return await client.post(f"/v1/purchase-orders/{po}/receipts", json=body)


async def edit(client: httpx.AsyncClient, po: str, *lines: dict[str, Any]) -> httpx.Response:
    return await client.patch(f"/v1/purchase-orders/{po}", json={"lines": list(lines)})


# ---- bodies that are not JSON, or not of the right shape ---------------------------------


@writes
async def test_the_bodies_the_other_tests_spoil_are_accepted_as_they_are(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    ids = await open_books(client)

    response = await client.request(
        method, path.format(**ids), json=fill(WRITES[method, path], ids)
    )

    assert response.status_code in (200, 201), response.text


@writes
async def test_malformed_json_is_400_and_writes_nothing(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    ids = await open_books(client)
    before = await books(client)

    for body in (b'{"lines": [', b"{'single': 'quotes'}", b"\xff\xfe", b"[" * 5000):
        response = await client.request(
            method,
            path.format(**ids),
            content=body,
            headers={"Content-Type": "application/json"},
        )
        assert problem(response, 400)["type"].endswith("/malformed-request")

    assert await books(client) == before


@writes
async def test_a_body_of_the_wrong_json_type_is_422(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    ids = await open_books(client)
    before = await books(client)

    for body in ([fill(WRITES[method, path], ids)], "text", 5):
        response = await client.request(method, path.format(**ids), json=body)
        assert problem(response, 422)["errors"], body

    assert await books(client) == before


@writes
async def test_a_field_of_the_wrong_type_is_422_naming_it(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    ids = await open_books(client)
    before = await books(client)
    body, field = WRONG_TYPES[method, path]

    response = await client.request(method, path.format(**ids), json=fill(body, ids))

    assert fields(response) == [field]
    assert field in response.json()["detail"]
    assert await books(client) == before


@writes
async def test_an_unknown_field_is_422_naming_it(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    ids = await open_books(client)
    before = await books(client)

    response = await client.request(
        method, path.format(**ids), json=fill(WRITES[method, path], ids) | {"owner": "me"}
    )

    assert fields(response) == ["owner"]
    assert await books(client) == before


async def test_an_unknown_field_inside_a_line_a_cost_or_the_settings_is_422_naming_it(
    client: httpx.AsyncClient,
) -> None:
    ids = await open_books(client)
    before = await books(client)
    esp = {"sku": "ESP", "quantity": 1}
    cost = {"amount": 1, "currency": "EUR"}
    product = {"sku": "NEW", "name": "New", "price": cost}

    for response, field in (
        (await by_hand(client, hand_body(ids, esp | {"received": 1})), "lines[0].received"),
        (
            await by_hand(client, hand_body(ids, esp | {"unit_cost": cost | {"tax": 1}})),
            "lines[0].unit_cost.tax",
        ),
        (
            await edit(client, ids["draft"], esp | {"quantity_received": 1}),
            "lines[0].quantity_received",
        ),
        (await receive(client, ids["draft"], {"lines": [esp | {"cost": 1}]}), "lines[0].cost"),
        (
            await client.post("/v1/products", json=product | {"replenishment": {"margin": 20}}),
            "replenishment.margin",
        ),
        (
            await client.patch("/v1/products/TEA", json={"replenishment": {"auto": True}}),
            "replenishment.auto",
        ),
    ):
        assert fields(response) == [field]

    assert await books(client) == before


async def test_a_receipt_or_a_purchase_order_without_a_body_is_422(
    client: httpx.AsyncClient,
) -> None:
    ids = await open_books(client)
    before = await books(client)

    for path in (
        "/v1/suppliers",
        "/v1/purchase-orders",
        f"/v1/purchase-orders/{ids['draft']}/receipts",
    ):
        assert fields(await client.post(path)) == ["body"], path
    assert fields(await client.patch(f"/v1/purchase-orders/{ids['draft']}")) == ["body"]
    assert await books(client) == before


# ---- lists ------------------------------------------------------------------------------


@lists
async def test_a_limit_outside_1_to_200_or_a_foreign_cursor_is_422(
    client: httpx.AsyncClient, path: str
) -> None:
    await open_books(client)

    for limit in ("201", "0", "-1", "ten", ""):
        assert fields(await client.get(path, params={"limit": limit})) == ["limit"], limit
    for cursor in ("nope", "x" * 65):
        assert fields(await client.get(path, params={"cursor": cursor})) == ["cursor"], cursor
    for limit in (1, 200):
        assert (await client.get(path, params={"limit": limit})).status_code == 200


async def test_a_list_filter_of_the_wrong_shape_is_422_naming_it(
    client: httpx.AsyncClient,
) -> None:
    await open_books(client)

    for path, params, field in (
        ("/v1/purchase-orders", {"status": "open"}, "status"),
        ("/v1/purchase-orders", {"supplier": "Roastery"}, "supplier"),
        ("/v1/purchase-orders", {"supplier": "0"}, "supplier"),
        ("/v1/purchase-orders", {"location": "no spaces"}, "location"),
        ("/v1/replenishment/plan", {"sku": "no spaces"}, "sku"),
        ("/v1/replenishment/plan", {"location": "x" * 33}, "location"),
        ("/v1/replenishment/unsourced", {"sku": "a\x00b"}, "sku"),
    ):
        assert fields(await client.get(path, params=params)) == [field], params


async def test_list_filters_that_match_nothing_answer_an_empty_page(
    client: httpx.AsyncClient,
) -> None:
    await open_books(client)

    for path, params in (
        ("/v1/purchase-orders", {"status": "received"}),
        ("/v1/purchase-orders", {"supplier": "999"}),
        ("/v1/purchase-orders", {"location": "NOWHERE"}),
        ("/v1/replenishment/plan", {"sku": "NOPE"}),
        ("/v1/replenishment/unsourced", {"location": "NOWHERE"}),
    ):
        response = await client.get(path, params=params)
        assert response.status_code == 200, response.text
        assert response.json() == {"data": [], "next_cursor": None}


# ---- unknown resources ------------------------------------------------------------------


async def test_an_unknown_supplier_in_the_path_is_404_and_nothing_changes(
    client: httpx.AsyncClient,
) -> None:
    await open_books(client)
    before = await books(client)

    for supplier in ("999", "999999999999999999", "not-a-supplier"):
        path = f"/v1/suppliers/{supplier}"
        for response in (
            await client.get(path),
            await client.patch(path, json={"lead_time_days": 4}),
        ):
            assert problem(response, 404)["type"].endswith("/supplier-not-found"), supplier

    assert await books(client) == before


async def test_an_unknown_purchase_order_is_404_in_every_route_and_nothing_changes(
    client: httpx.AsyncClient,
) -> None:
    await open_books(client)
    before = await books(client)
    receipt = {"lines": [{"sku": "ESP", "quantity": 1}]}

    for po in ("999", "999999999999999999", "not-a-purchase-order"):
        path = f"/v1/purchase-orders/{po}"
        for response in (
            await client.get(path),
            await client.patch(path, json={"lines": [{"sku": "ESP", "quantity": 1}]}),
            await client.post(f"{path}/send"),
            await client.post(f"{path}/cancel", json={}),
            await client.post(f"{path}/cancel"),
            await client.post(f"{path}/receipts", json=receipt),
        ):
            assert problem(response, 404)["type"].endswith("/purchase-order-not-found"), po

    assert await books(client) == before


async def test_an_unknown_supplier_location_or_sku_in_a_body_is_422_naming_it(
    client: httpx.AsyncClient,
) -> None:
    ids = await open_books(client)
    before = await books(client)
    esp = {"sku": "ESP", "quantity": 1}
    product = {"sku": "NEW", "name": "New", "price": {"amount": 1, "currency": "EUR"}}

    for response, field in (
        (await by_hand(client, hand_body(ids, esp) | {"supplier": "999"}), "supplier"),
        (await by_hand(client, hand_body(ids, esp) | {"location": "NOWHERE"}), "location"),
        (
            await by_hand(client, hand_body(ids, esp, {"sku": "NOPE", "quantity": 1})),
            "lines[1].sku",
        ),
        (await edit(client, ids["draft"], {"sku": "NOPE", "quantity": 1}), "lines[0].sku"),
        (await client.post("/v1/products", json=product | {"supplier": "999"}), "supplier"),
        (await client.patch("/v1/products/TEA", json={"supplier": "999"}), "supplier"),
    ):
        assert fields(response) == [field]

    assert await books(client) == before


async def test_a_supplier_id_of_the_wrong_shape_in_a_body_is_422(
    client: httpx.AsyncClient,
) -> None:
    ids = await open_books(client)
    before = await books(client)
    product = {"sku": "NEW", "name": "New", "price": {"amount": 1, "currency": "EUR"}}

    for supplier in ("", "0", "01", "Roastery", "1" * 19, "1\x00"):
        body = hand_body(ids, {"sku": "ESP", "quantity": 1}) | {"supplier": supplier}
        assert fields(await by_hand(client, body)) == ["supplier"], supplier
        created = await client.post("/v1/products", json=product | {"supplier": supplier})
        assert fields(created) == ["supplier"], supplier
        patched = await client.patch("/v1/products/TEA", json={"supplier": supplier})
        assert fields(patched) == ["supplier"], supplier

    assert await books(client) == before


# ---- suppliers --------------------------------------------------------------------------


async def test_supplier_fields_out_of_range_or_shape_are_422_naming_them(
    client: httpx.AsyncClient,
) -> None:
    ids = await open_books(client)
    before = await books(client)
    good = WRITES["POST", "/v1/suppliers"]

    for change, field in (
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "Mi\x00ll"}, "name"),
        ({"lead_time_days": -1}, "lead_time_days"),
        ({"lead_time_days": 366}, "lead_time_days"),
        ({"lead_time_days": 1.5}, "lead_time_days"),
        ({"currency": "eur"}, "currency"),
        ({"currency": "EURO"}, "currency"),
        ({"email": "not an address"}, "email"),
        ({"email": "a@b\x00c"}, "email"),
        ({"webhook_url": "ftp://mill.example/orders"}, "webhook_url"),
        ({"webhook_url": "https://mill.example/a b"}, "webhook_url"),
        ({"auto_send": 1}, "auto_send"),
    ):
        created = await client.post("/v1/suppliers", json=good | change)
        assert fields(created) == [field], change
        patched = await client.patch(f"/v1/suppliers/{ids['supplier']}", json=change)
        assert fields(patched) == [field], change

    assert await books(client) == before


async def test_a_supplier_needs_a_name_a_lead_time_and_a_currency(
    client: httpx.AsyncClient,
) -> None:
    await open_books(client)
    before = await books(client)

    response = await client.post("/v1/suppliers", json={})

    assert sorted(fields(response)) == ["currency", "lead_time_days", "name"]
    assert await books(client) == before


async def test_a_supplier_patch_cannot_clear_a_required_field(client: httpx.AsyncClient) -> None:
    ids = await open_books(client)
    before = await books(client)

    for field in ("name", "lead_time_days", "currency", "auto_send"):
        response = await client.patch(f"/v1/suppliers/{ids['supplier']}", json={field: None})
        assert fields(response) == [field]

    assert await books(client) == before


async def test_a_supplier_patch_with_a_stale_if_match_is_412_and_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    ids = await open_books(client)
    path = f"/v1/suppliers/{ids['supplier']}"
    etag = (await client.get(path)).headers["etag"]
    assert (await client.patch(path, json={"name": "Mill"})).status_code == 200
    before = await books(client)

    response = await client.patch(path, json={"name": "Bakery"}, headers={"If-Match": etag})

    problem(response, 412)
    assert await books(client) == before


# ---- purchase-order lines ---------------------------------------------------------------


async def test_purchase_quantities_out_of_range_are_422_and_write_nothing(
    client: httpx.AsyncClient,
) -> None:
    ids = await open_books(client)
    before = await books(client)

    for quantity in (-1, 1_000_001, 1.5, "2", None, True):
        line = {"sku": "ESP", "quantity": quantity}
        assert fields(await by_hand(client, hand_body(ids, line))) == ["lines[0].quantity"]
        assert fields(await edit(client, ids["draft"], line)) == ["lines[0].quantity"]
    # Buying nothing by hand is refused; on a draft, 0 takes the line off.
    zero = {"sku": "ESP", "quantity": 0}
    assert fields(await by_hand(client, hand_body(ids, zero))) == ["lines[0].quantity"]

    assert await books(client) == before


async def test_a_purchase_of_a_million_units_is_accepted(client: httpx.AsyncClient) -> None:
    ids = await open_books(client)

    response = await by_hand(client, hand_body(ids, {"sku": "TEA", "quantity": 1_000_000}))

    assert response.status_code == 200, response.text
    assert (await shop.level(client, "TEA"))["incoming"] == 1_000_000


async def test_the_same_sku_on_two_purchase_lines_is_422_and_writes_nothing(
    client: httpx.AsyncClient,
) -> None:
    ids = await open_books(client)
    before = await books(client)
    esp = {"sku": "ESP", "quantity": 1}
    tea = {"sku": "TEA", "quantity": 1}

    assert fields(await by_hand(client, hand_body(ids, esp, tea, esp))) == ["lines[2].sku"]
    assert fields(await edit(client, ids["draft"], esp, esp | {"quantity": 0})) == ["lines[1].sku"]
    assert await books(client) == before


async def test_no_lines_or_more_than_500_are_422_and_write_nothing(
    client: httpx.AsyncClient,
) -> None:
    ids = await open_books(client)
    before = await books(client)
    many = [{"sku": f"SKU-{n}", "quantity": 1} for n in range(501)]

    for lines in ([], many):
        assert fields(await by_hand(client, hand_body(ids, *lines))) == ["lines"]
        assert fields(await edit(client, ids["draft"], *lines)) == ["lines"]
        assert fields(await receive(client, ids["draft"], {"lines": lines})) == ["lines"]

    assert await books(client) == before


async def test_a_unit_cost_in_another_currency_than_the_suppliers_is_422(
    client: httpx.AsyncClient,
) -> None:
    ids = await open_books(client)
    before = await books(client)
    line = {"sku": "ESP", "quantity": 1, "unit_cost": {"amount": 400, "currency": "USD"}}

    for response in (
        await by_hand(client, hand_body(ids, line)),
        await edit(client, ids["draft"], line),
    ):
        body = problem(response, 422)
        assert [(e["field"], e["message"]) for e in body["errors"]] == [
            ("lines[0].unit_cost.currency", "must be EUR")
        ]

    assert await books(client) == before


async def test_a_unit_cost_that_is_not_money_is_422_naming_it(client: httpx.AsyncClient) -> None:
    ids = await open_books(client)
    before = await books(client)

    for cost, field in (
        ({"amount": -1, "currency": "EUR"}, "lines[0].unit_cost.amount"),
        ({"amount": 1.5, "currency": "EUR"}, "lines[0].unit_cost.amount"),
        ({"amount": "400", "currency": "EUR"}, "lines[0].unit_cost.amount"),
        ({"amount": 400, "currency": "eur"}, "lines[0].unit_cost.currency"),
        ({"amount": 400}, "lines[0].unit_cost.currency"),
        (400, "lines[0].unit_cost"),
    ):
        line = {"sku": "ESP", "quantity": 1, "unit_cost": cost}
        assert fields(await by_hand(client, hand_body(ids, line))) == [field], cost
        assert fields(await edit(client, ids["draft"], line)) == [field], cost

    assert await books(client) == before


async def test_a_purchase_order_patch_with_a_stale_if_match_is_412_and_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    ids = await open_books(client)
    path = f"/v1/purchase-orders/{ids['draft']}"
    etag = (await client.get(path)).headers["etag"]
    assert (await edit(client, ids["draft"], {"sku": "ESP", "quantity": 4})).status_code == 200
    before = await books(client)

    response = await client.patch(
        path, json={"lines": [{"sku": "ESP", "quantity": 9}]}, headers={"If-Match": etag}
    )

    problem(response, 412)
    assert await books(client) == before


# ---- illegal transitions ----------------------------------------------------------------


async def test_sending_a_sent_purchase_order_is_409_and_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    ids = await open_books(client)
    await send(client, ids["draft"])
    before = await books(client)

    response = await client.post(f"/v1/purchase-orders/{ids['draft']}/send")

    assert problem(response, 409)["current_status"] == "sent"
    assert await books(client) == before


async def test_editing_a_purchase_order_that_is_no_draft_is_409_and_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    ids = await open_books(client)
    await send(client, ids["draft"])
    await shop.order(client, ("ESP", 2))
    (second,) = await shop.purchase_orders(client, status="draft")
    await cancel(client, second["id"])
    before = await books(client)

    for po, status in ((ids["draft"], "sent"), (second["id"], "cancelled")):
        for quantity in (0, 1, 9):
            response = await edit(client, po, {"sku": "ESP", "quantity": quantity})
            body = problem(response, 409)
            assert body["type"].endswith("/illegal-transition")
            assert body["current_status"] == status

    assert await books(client) == before


async def test_cancelling_a_received_or_partially_received_order_is_409(
    client: httpx.AsyncClient,
) -> None:
    ids = await open_books(client)
    await shop.order(client, ("TEA", 4))
    partly = (await by_hand(client, hand_body(ids, {"sku": "TEA", "quantity": 4}))).json()
    assert partly["id"] == ids["draft"]
    await shop.receive(client, ids["draft"], ("ESP", 3))
    await shop.order(client, ("ESP", 2))
    (full,) = await shop.purchase_orders(client, status="draft")
    await shop.receive(client, full["id"], ("ESP", 2))
    before = await books(client)

    for po, status in ((ids["draft"], "partially_received"), (full["id"], "received")):
        for body in ({}, {"reason": "too late"}):
            response = await client.post(f"/v1/purchase-orders/{po}/cancel", json=body)
            assert problem(response, 409)["current_status"] == status

    assert await books(client) == before
    level = await shop.level(client, "TEA")
    assert (level["incoming"], level["backordered"]) == (4, 4)


async def test_receiving_against_a_cancelled_or_received_order_is_409(
    client: httpx.AsyncClient,
) -> None:
    ids = await open_books(client)
    await cancel(client, ids["draft"])
    (second,) = await shop.purchase_orders(client, status="draft")
    await shop.receive(client, second["id"], ("ESP", 3))
    before = await books(client)

    for po, status in ((ids["draft"], "cancelled"), (second["id"], "received")):
        for allow in (False, True):
            body = {"lines": [{"sku": "ESP", "quantity": 1}], "allow_over_receipt": allow}
            assert problem(await receive(client, po, body), 409)["current_status"] == status

    assert await books(client) == before


async def test_sending_or_cancelling_a_cancelled_order_is_409(client: httpx.AsyncClient) -> None:
    ids = await open_books(client)
    await cancel(client, ids["draft"])
    before = await books(client)

    for action in ("send", "cancel"):
        response = await client.post(f"/v1/purchase-orders/{ids['draft']}/{action}")
        assert problem(response, 409)["current_status"] == "cancelled"

    assert await books(client) == before


# ---- receipts ---------------------------------------------------------------------------


async def test_receipt_lines_for_skus_not_on_the_order_are_422_and_write_nothing(
    client: httpx.AsyncClient,
) -> None:
    ids = await open_books(client)
    await send(client, ids["draft"])
    before = await books(client)
    esp = {"sku": "ESP", "quantity": 1}

    for lines, expected in (
        ([{"sku": "TEA", "quantity": 1}], [("lines[0].sku", "not on this purchase order")]),
        ([esp, {"sku": "NOPE", "quantity": 1}], [("lines[1].sku", "not on this purchase order")]),
        ([esp, esp], [("lines[1].sku", "on an earlier line")]),
    ):
        body = problem(await receive(client, ids["draft"], {"lines": lines}), 422)
        assert [(e["field"], e["message"]) for e in body["errors"]] == expected

    assert await books(client) == before


async def test_receipt_quantities_out_of_range_are_422_and_write_nothing(
    client: httpx.AsyncClient,
) -> None:
    ids = await open_books(client)
    before = await books(client)

    for quantity in (0, -1, 1_000_001, 1.5, "1", None):
        body = {"lines": [{"sku": "ESP", "quantity": quantity}], "allow_over_receipt": True}
        assert fields(await receive(client, ids["draft"], body)) == ["lines[0].quantity"]
    for sku in ("", "no spaces", "E" * 65):
        body = {"lines": [{"sku": sku, "quantity": 1}]}
        assert fields(await receive(client, ids["draft"], body)) == ["lines[0].sku"]

    assert await books(client) == before


async def test_receiving_more_than_is_outstanding_is_409_and_writes_nothing(
    client: httpx.AsyncClient,
) -> None:
    ids = await open_books(client)
    await shop.receive(client, ids["draft"], ("ESP", 2))
    before = await books(client)

    response = await receive(client, ids["draft"], {"lines": [{"sku": "ESP", "quantity": 2}]})

    body = problem(response, 409)
    assert body["type"].endswith("/over-receipt")
    assert body["lines"] == [{"sku": "ESP", "ordered": 3, "received": 2, "arriving": 2}]
    assert await books(client) == before


async def test_a_receipt_with_a_bad_idempotency_key_is_422_and_writes_nothing(
    client: httpx.AsyncClient,
) -> None:
    ids = await open_books(client)
    before = await books(client)

    response = await client.post(
        f"/v1/purchase-orders/{ids['draft']}/receipts",
        json={"lines": [{"sku": "ESP", "quantity": 1}]},
        headers={"Idempotency-Key": "has space"},
    )

    assert fields(response) == ["Idempotency-Key"]
    assert await books(client) == before


# ---- product replenishment settings -----------------------------------------------------


async def test_replenishment_settings_out_of_range_are_422_naming_them(
    client: httpx.AsyncClient,
) -> None:
    await open_books(client)
    before = await books(client)
    product = {"sku": "NEW", "name": "New", "price": {"amount": 1, "currency": "EUR"}}

    for settings, field in (
        ({"margin_pct": 501}, "replenishment.margin_pct"),
        ({"margin_pct": -1}, "replenishment.margin_pct"),
        ({"margin_pct": 20.5}, "replenishment.margin_pct"),
        ({"pack_size": 0}, "replenishment.pack_size"),
        ({"pack_size": 10_001}, "replenishment.pack_size"),
        ({"allow_backorder": "false"}, "replenishment.allow_backorder"),
        (
            {"reorder_point": -1, "reorder_quantity": 5},
            "replenishment.reorder_point",
        ),
        (
            {"reorder_point": 5, "reorder_quantity": 0},
            "replenishment.reorder_quantity",
        ),
        (
            {"reorder_point": 5, "reorder_quantity": 1_000_001},
            "replenishment.reorder_quantity",
        ),
        ({"reorder_point": 5}, "replenishment"),
        ({"reorder_quantity": 5}, "replenishment"),
        ({"reorder_point": 5, "reorder_quantity": None}, "replenishment"),
    ):
        created = await client.post("/v1/products", json=product | {"replenishment": settings})
        assert fields(created) == [field], settings
        patched = await client.patch("/v1/products/ESP", json={"replenishment": settings})
        assert fields(patched) == [field], settings

    assert await books(client) == before


async def test_a_margin_of_500_percent_and_a_pack_of_10000_are_accepted(
    client: httpx.AsyncClient,
) -> None:
    await open_books(client)

    response = await client.patch(
        "/v1/products/TEA", json={"replenishment": {"margin_pct": 500, "pack_size": 10_000}}
    )

    assert response.status_code == 200, response.text
    assert response.json()["replenishment"]["margin_pct"] == 500


async def test_a_patch_that_leaves_a_reorder_point_without_its_quantity_is_422(
    client: httpx.AsyncClient,
) -> None:
    """The settings sent are merged with those stored, and the whole must hold together."""
    await open_books(client)
    paired = {"reorder_point": 1, "reorder_quantity": 4}
    response = await client.patch("/v1/products/ESP", json={"replenishment": paired})
    assert response.status_code == 200, response.text
    before = await books(client)

    for settings in ({"reorder_quantity": None}, {"reorder_point": None}):
        response = await client.patch("/v1/products/ESP", json={"replenishment": settings})
        assert fields(response) == ["replenishment"], settings
    response = await client.patch("/v1/products/TEA", json={"replenishment": {"reorder_point": 3}})
    assert fields(response) == ["replenishment"]

    assert await books(client) == before


async def test_replenishment_and_supplier_cannot_be_cleared_wrongly(
    client: httpx.AsyncClient,
) -> None:
    await open_books(client)
    before = await books(client)

    for body, field in (
        ({"replenishment": None}, "replenishment"),
        ({"replenishment": {"margin_pct": None}}, "replenishment.margin_pct"),
        ({"replenishment": {"pack_size": None}}, "replenishment.pack_size"),
        ({"replenishment": {"allow_backorder": None}}, "replenishment.allow_backorder"),
        ({"replenishment": []}, "replenishment"),
    ):
        assert fields(await client.patch("/v1/products/ESP", json=body)) == [field], body

    assert await books(client) == before


async def test_a_product_patch_with_a_stale_if_match_changes_no_supplier(
    client: httpx.AsyncClient,
) -> None:
    ids = await open_books(client)
    etag = (await client.get("/v1/products/TEA")).headers["etag"]
    assert (await client.patch("/v1/products/TEA", json={"name": "Tea"})).status_code == 200
    await shop.order(client, ("TEA", 3))
    before = await books(client)

    response = await client.patch(
        "/v1/products/TEA", json={"supplier": ids["supplier"]}, headers={"If-Match": etag}
    )

    problem(response, 412)
    assert await books(client) == before
