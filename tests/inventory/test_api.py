from __future__ import annotations

from typing import Any

import httpx

from galley.config import Settings
from galley.db import Database
from galley.events.relay import publish_pending
from tests import shop
from tests.problems import fields, problem


async def adjust(
    client: httpx.AsyncClient,
    sku: str,
    delta: int,
    where: str = "KITCHEN",
    reason: str = "count",
) -> httpx.Response:
    body = {"sku": sku, "location": where, "delta": delta, "reason": reason}
    return await client.post("/v1/stock/adjustments", json=body)


async def listing(client: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


# ---- locations --------------------------------------------------------------------------


async def test_creating_a_location_answers_201_with_location_and_etag(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/v1/locations", json={"code": "KITCHEN-1", "name": "Kitchen"})

    assert response.status_code == 201, response.text
    assert response.headers["location"] == "/v1/locations/KITCHEN-1"
    assert response.json()["code"] == "KITCHEN-1"
    assert response.json()["name"] == "Kitchen"
    read = await client.get("/v1/locations/KITCHEN-1")
    assert read.json() == response.json()
    assert read.headers["etag"] == response.headers["etag"]


async def test_a_location_read_again_with_its_etag_is_304(client: httpx.AsyncClient) -> None:
    await shop.location(client)
    etag = (await client.get("/v1/locations/KITCHEN")).headers["etag"]

    response = await client.get("/v1/locations/KITCHEN", headers={"If-None-Match": etag})

    assert response.status_code == 304


async def test_locations_are_listed_in_creation_order_page_by_page(
    client: httpx.AsyncClient,
) -> None:
    for code in ("SHOP", "KITCHEN", "WAREHOUSE"):
        await shop.location(client, code)

    first = (await client.get("/v1/locations", params={"limit": 2})).json()
    second = (
        await client.get("/v1/locations", params={"limit": 2, "cursor": first["next_cursor"]})
    ).json()

    assert [loc["code"] for loc in first["data"]] == ["SHOP", "KITCHEN"]
    assert [loc["code"] for loc in second["data"]] == ["WAREHOUSE"]
    assert second["next_cursor"] is None


async def test_a_second_location_with_the_same_code_is_409_and_the_first_is_kept(
    client: httpx.AsyncClient,
) -> None:
    first = await shop.location(client)

    response = await client.post("/v1/locations", json={"code": "KITCHEN", "name": "Other"})

    assert problem(response, 409)["type"].endswith("/duplicate-location")
    assert await listing(client, "/v1/locations") == [first]


async def test_an_unknown_location_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/locations/NOWHERE")

    assert problem(response, 404)["type"].endswith("/location-not-found")
    assert "NOWHERE" in response.json()["detail"]


async def test_a_code_no_location_can_have_is_422(client: httpx.AsyncClient) -> None:
    for code in ("a%00b", "x" * 33, "a.b"):
        assert fields(await client.get(f"/v1/locations/{code}")) == ["code"]


async def test_a_location_with_a_bad_code_or_name_is_422_and_not_created(
    client: httpx.AsyncClient,
) -> None:
    for body, field in (
        ({"code": "has space", "name": "x"}, "code"),
        ({"code": "", "name": "x"}, "code"),
        ({"code": "K", "name": ""}, "name"),
        ({"code": "K", "name": "a\x00b"}, "name"),
        ({"code": "K"}, "name"),
    ):
        assert fields(await client.post("/v1/locations", json=body)) == [field]

    assert await listing(client, "/v1/locations") == []


# ---- adjustments ------------------------------------------------------------------------


async def test_an_adjustment_writes_a_ledger_entry_and_answers_the_new_level(
    client: httpx.AsyncClient,
) -> None:
    await shop.location(client)
    await shop.product(client, "BUN")

    response = await adjust(client, "BUN", 12, reason="received")

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["stock"] == {
        "sku": "BUN",
        "location": "KITCHEN",
        "on_hand": 12,
        "reserved": 0,
        "available": 12,
        "backordered": 0,
        "incoming": 0,
        "promised": 0,
        "spare": 0,
    }
    entry = body["entry"]
    assert {k: entry[k] for k in ("sku", "location", "delta", "reason", "reference")} == {
        "sku": "BUN",
        "location": "KITCHEN",
        "delta": 12,
        "reason": "received",
        "reference": None,
    }
    assert entry["actor"]
    assert await listing(client, "/v1/stock/ledger") == [entry]
    assert await shop.level(client, "BUN") == body["stock"]


async def test_on_hand_always_equals_the_sum_of_the_ledger(client: httpx.AsyncClient) -> None:
    await shop.location(client)
    await shop.product(client, "BUN")
    deltas = [(10, "received"), (-3, "damaged"), (2, "returned"), (-9, "count"), (4, "other")]

    for delta, reason in deltas:
        response = await adjust(client, "BUN", delta, reason=reason)
        assert response.status_code == 201, response.text

    ledger = await listing(client, "/v1/stock/ledger", sku="BUN")
    assert [(e["delta"], e["reason"]) for e in ledger] == deltas
    assert (await shop.level(client, "BUN"))["on_hand"] == sum(e["delta"] for e in ledger) == 4


async def test_stock_can_be_counted_down_to_zero(client: httpx.AsyncClient) -> None:
    await shop.location(client)
    await shop.product(client, "BUN")
    await shop.stock(client, "BUN", 3)

    response = await adjust(client, "BUN", -3)

    assert response.status_code == 201, response.text
    assert response.json()["stock"]["on_hand"] == 0


async def test_an_adjustment_below_zero_is_409_and_writes_nothing(
    client: httpx.AsyncClient,
) -> None:
    await shop.location(client)
    await shop.product(client, "BUN")
    await shop.stock(client, "BUN", 2)
    before = await shop.everything(client)

    response = await adjust(client, "BUN", -3, reason="damaged")

    assert problem(response, 409)["type"].endswith("/stock-reserved")
    assert await shop.everything(client) == before


async def test_an_adjustment_below_reserved_is_409_and_writes_nothing(
    client: httpx.AsyncClient,
) -> None:
    await shop.location(client)
    await shop.product(client, "BUN")
    await shop.stock(client, "BUN", 5)
    await shop.order(client, ("BUN", 3))
    before = await shop.everything(client)

    response = await adjust(client, "BUN", -3, reason="damaged")

    body = problem(response, 409)
    assert body["type"].endswith("/stock-reserved")
    assert (body["on_hand"], body["reserved"]) == (5, 3)
    assert "3 reserved" in body["detail"]
    assert await shop.everything(client) == before


async def test_stock_not_reserved_can_be_adjusted_away(client: httpx.AsyncClient) -> None:
    await shop.location(client)
    await shop.product(client, "BUN")
    await shop.stock(client, "BUN", 5)
    await shop.order(client, ("BUN", 3))

    response = await adjust(client, "BUN", -2, reason="damaged")

    assert response.status_code == 201, response.text
    assert response.json()["stock"] == {
        "sku": "BUN",
        "location": "KITCHEN",
        "on_hand": 3,
        "reserved": 3,
        "available": 0,
        "backordered": 0,
        "incoming": 0,
        "promised": 0,
        "spare": 0,
    }


async def test_a_zero_adjustment_is_422_and_writes_nothing(client: httpx.AsyncClient) -> None:
    await shop.location(client)
    await shop.product(client, "BUN")
    await shop.stock(client, "BUN", 5)
    before = await shop.everything(client)

    response = await adjust(client, "BUN", 0)

    assert fields(response) == ["delta"]
    assert await shop.everything(client) == before


async def test_an_adjustment_of_an_unknown_sku_or_location_is_422_and_writes_nothing(
    client: httpx.AsyncClient,
) -> None:
    await shop.location(client)
    await shop.product(client, "BUN")
    before = await shop.everything(client)

    assert fields(await adjust(client, "NOPE", 5)) == ["sku"]
    assert fields(await adjust(client, "BUN", 5, where="NOWHERE")) == ["location"]
    assert fields(await adjust(client, "NOPE", -5, where="NOWHERE")) in (["sku"], ["location"])

    assert await shop.everything(client) == before
    assert await listing(client, "/v1/stock") == []


async def test_an_adjustment_with_a_reason_not_on_the_list_is_422(
    client: httpx.AsyncClient,
) -> None:
    await shop.location(client)
    await shop.product(client, "BUN")

    for reason in ("stolen", "consumed", "", "RECEIVED"):
        assert fields(await adjust(client, "BUN", 1, reason=reason)) == ["reason"]

    assert await listing(client, "/v1/stock/ledger") == []


async def test_an_adjustment_beyond_a_million_is_422(client: httpx.AsyncClient) -> None:
    await shop.location(client)
    await shop.product(client, "BUN")

    for delta in (1_000_001, -1_000_001):
        assert fields(await adjust(client, "BUN", delta)) == ["delta"]

    assert await listing(client, "/v1/stock/ledger") == []


async def test_an_adjustment_with_a_missing_field_names_it(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/stock/adjustments", json={"sku": "BUN", "location": "KITCHEN", "reason": "count"}
    )

    assert fields(response) == ["delta"]


# ---- levels and the ledger --------------------------------------------------------------


async def stocked_shop(client: httpx.AsyncClient) -> None:
    """Two locations, two products, stock of each product at each location."""
    for code in ("KITCHEN", "SHOP"):
        await shop.location(client, code)
    for sku in ("BUN", "TEA"):
        await shop.product(client, sku)
    await shop.stock(client, "BUN", 1, "KITCHEN")
    await shop.stock(client, "TEA", 2, "KITCHEN")
    await shop.stock(client, "BUN", 3, "SHOP")
    await shop.stock(client, "TEA", 4, "SHOP")
    await shop.stock(client, "BUN", 5, "KITCHEN")


async def test_stock_levels_filter_by_sku_and_location(client: httpx.AsyncClient) -> None:
    await stocked_shop(client)

    def figures(levels: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
        return [(lv["sku"], lv["location"], lv["on_hand"]) for lv in levels]

    assert figures(await listing(client, "/v1/stock")) == [
        ("BUN", "KITCHEN", 6),
        ("TEA", "KITCHEN", 2),
        ("BUN", "SHOP", 3),
        ("TEA", "SHOP", 4),
    ]
    assert figures(await listing(client, "/v1/stock", sku="BUN")) == [
        ("BUN", "KITCHEN", 6),
        ("BUN", "SHOP", 3),
    ]
    assert figures(await listing(client, "/v1/stock", location="SHOP")) == [
        ("BUN", "SHOP", 3),
        ("TEA", "SHOP", 4),
    ]
    assert figures(await listing(client, "/v1/stock", sku="TEA", location="KITCHEN")) == [
        ("TEA", "KITCHEN", 2)
    ]
    assert await listing(client, "/v1/stock", sku="NOPE") == []


async def test_stock_levels_show_reserved_available_and_backordered(
    client: httpx.AsyncClient,
) -> None:
    await shop.location(client)
    await shop.product(client, "BUN")
    await shop.stock(client, "BUN", 4)
    await shop.order(client, ("BUN", 3))
    await shop.order(client, ("BUN", 5))

    assert await listing(client, "/v1/stock") == [
        {
            "sku": "BUN",
            "location": "KITCHEN",
            "on_hand": 4,
            "reserved": 4,
            "available": 0,
            "backordered": 4,
            "incoming": 0,
            "promised": 0,
            "spare": 0,
        }
    ]


async def test_the_ledger_lists_entries_oldest_first_and_filters(
    client: httpx.AsyncClient,
) -> None:
    await stocked_shop(client)

    def moves(entries: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
        return [(e["sku"], e["location"], e["delta"]) for e in entries]

    everything = await listing(client, "/v1/stock/ledger")
    assert moves(everything) == [
        ("BUN", "KITCHEN", 1),
        ("TEA", "KITCHEN", 2),
        ("BUN", "SHOP", 3),
        ("TEA", "SHOP", 4),
        ("BUN", "KITCHEN", 5),
    ]
    assert [e["created_at"] for e in everything] == sorted(e["created_at"] for e in everything)
    assert len({e["id"] for e in everything}) == 5
    assert moves(await listing(client, "/v1/stock/ledger", sku="BUN")) == [
        ("BUN", "KITCHEN", 1),
        ("BUN", "SHOP", 3),
        ("BUN", "KITCHEN", 5),
    ]
    assert moves(await listing(client, "/v1/stock/ledger", location="SHOP")) == [
        ("BUN", "SHOP", 3),
        ("TEA", "SHOP", 4),
    ]
    assert moves(await listing(client, "/v1/stock/ledger", sku="BUN", location="KITCHEN")) == [
        ("BUN", "KITCHEN", 1),
        ("BUN", "KITCHEN", 5),
    ]


async def test_the_ledger_pages_without_repeats_or_gaps(client: httpx.AsyncClient) -> None:
    await stocked_shop(client)
    seen: list[str] = []
    cursor = None

    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        body = (await client.get("/v1/stock/ledger", params=params)).json()
        assert len(body["data"]) <= 2
        seen += [e["id"] for e in body["data"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert seen == [e["id"] for e in await listing(client, "/v1/stock/ledger")]


async def test_stock_and_ledger_filters_must_look_like_a_sku_or_code(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/v1/stock", "/v1/stock/ledger"):
        assert fields(await client.get(path, params={"sku": "a b"})) == ["sku"]
        assert fields(await client.get(path, params={"location": "a\x00"})) == ["location"]


async def test_an_adjustment_points_at_its_ledger_entry(client: httpx.AsyncClient) -> None:
    await shop.location(client)
    await shop.product(client, "TEA")
    response = await client.post(
        "/v1/stock/adjustments",
        json={"sku": "TEA", "location": "KITCHEN", "delta": 3, "reason": "received"},
    )

    entry = await client.get(response.headers["Location"])

    assert entry.status_code == 200
    assert entry.json() == response.json()["entry"]
    assert (await client.get("/v1/stock/ledger/999999")).status_code == 404


async def test_stock_that_falls_below_its_reorder_point_or_to_zero_is_announced(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await shop.location(client)
    await shop.product(client, "TEA", replenishment={"reorder_point": 5, "reorder_quantity": 10})
    await shop.product(client, "JAM")
    await shop.stock(client, "TEA", 8)
    await shop.stock(client, "JAM", 2)
    await shop.order(client, ("TEA", 2))  # 6 left: still at or above 5
    await shop.order(client, ("TEA", 2))  # 4 left: below the reorder point
    await shop.order(client, ("TEA", 1))  # 3: below already, nothing new
    await shop.order(client, ("JAM", 1))  # 1 left: no reorder point, not zero
    adjusted = await client.post(
        "/v1/stock/adjustments",
        json={"sku": "JAM", "location": "KITCHEN", "delta": -1, "reason": "damaged"},
    )
    assert adjusted.status_code == 201
    await shop.order(client, ("TEA", 4))  # 0 left: to zero

    database = Database(settings)
    try:
        await publish_pending(database)
    finally:
        await database.dispose()
    low = (await client.get("/v1/events", params={"type": "stock.low"})).json()["data"]
    assert [(e["data"]["sku"], e["data"]["available"]) for e in low] == [
        ("TEA", 4),
        ("JAM", 0),
        ("TEA", 0),
    ]
    assert low[0]["data"] == {
        "sku": "TEA",
        "location": "KITCHEN",
        "on_hand": 8,
        "reserved": 4,
        "available": 4,
        "backordered": 0,
        "incoming": 0,
        "promised": 0,
        "spare": 0,
    }
