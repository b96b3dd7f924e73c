from __future__ import annotations

from typing import Any

import httpx

from tests import shop
from tests.problems import fields, problem

ESPRESSO = {
    "sku": "ESP-250",
    "name": "Espresso beans 250 g",
    "description": "Dark roast",
    "price": {"amount": 1250, "currency": "EUR"},
}


async def all_pages(client: httpx.AsyncClient, **params: Any) -> list[list[str]]:
    """The SKUs of every page of the product list, following `next_cursor` to the end."""
    pages: list[list[str]] = []
    cursor = None
    while True:
        query = params | ({"cursor": cursor} if cursor else {})
        response = await client.get("/v1/products", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([p["sku"] for p in body["data"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


async def skus(client: httpx.AsyncClient, **params: Any) -> list[str]:
    response = await client.get("/v1/products", params=params)
    assert response.status_code == 200, response.text
    return [p["sku"] for p in response.json()["data"]]


# ---- create and read --------------------------------------------------------------------


async def test_creating_a_product_answers_201_with_location_and_etag(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/v1/products", json=ESPRESSO)

    assert response.status_code == 201, response.text
    assert response.headers["location"] == "/v1/products/ESP-250"
    assert response.headers["etag"].startswith('"')
    body = response.json()
    assert {k: body[k] for k in ESPRESSO} == ESPRESSO
    assert body["active"] is True
    assert body["created_at"] == body["updated_at"]
    assert body["created_at"].endswith("Z") or body["created_at"].endswith("+00:00")


async def test_the_created_product_reads_back_with_the_same_etag(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post("/v1/products", json=ESPRESSO)

    response = await client.get(created.headers["location"])

    assert response.status_code == 200
    assert response.json() == created.json()
    assert response.headers["etag"] == created.headers["etag"]


async def test_a_second_product_with_the_same_sku_is_409_and_the_first_is_untouched(
    client: httpx.AsyncClient,
) -> None:
    first = await client.post("/v1/products", json=ESPRESSO)

    response = await client.post("/v1/products", json=ESPRESSO | {"name": "Other"})

    assert problem(response, 409)["type"].endswith("/duplicate-sku")
    assert "ESP-250" in response.json()["detail"]
    assert (await client.get("/v1/products/ESP-250")).json() == first.json()


async def test_a_price_in_another_currency_than_the_shops_is_422_and_nothing_is_created(
    client: httpx.AsyncClient,
) -> None:
    body = ESPRESSO | {"price": {"amount": 1250, "currency": "USD"}}

    response = await client.post("/v1/products", json=body)

    assert fields(response) == ["price.currency"]
    assert await skus(client) == []


async def test_a_product_may_be_created_inactive_and_without_description(
    client: httpx.AsyncClient,
) -> None:
    body = {"sku": "OLD-1", "name": "Old", "price": {"amount": 0, "currency": "EUR"}}

    response = await client.post("/v1/products", json=body | {"active": False})

    assert response.status_code == 201, response.text
    assert response.json()["active"] is False
    assert response.json()["description"] is None


async def test_a_product_that_is_not_there_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/products/NOPE-1")

    assert problem(response, 404)["type"].endswith("/product-not-found")
    assert "NOPE-1" in response.json()["detail"]


async def test_a_sku_no_product_can_have_is_422_in_every_method(
    client: httpx.AsyncClient,
) -> None:
    for sku in ("a%00b", "x" * 65, "-dash-first", "a%20b"):
        for method in ("GET", "PATCH", "DELETE"):
            body = {"name": "x"} if method == "PATCH" else None
            response = await client.request(method, f"/v1/products/{sku}", json=body)
            assert fields(response) == ["sku"]


async def test_text_with_a_nul_character_is_422_not_a_server_error(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/v1/products", json=ESPRESSO)
    bad_name = ESPRESSO | {"sku": "NUL-1", "name": "a\x00b"}

    assert fields(await client.post("/v1/products", json=bad_name)) == ["name"]
    for patch in ({"name": "a\x00b"}, {"description": "a\x00b"}):
        response = await client.patch("/v1/products/ESP-250", json=patch)
        assert fields(response) == list(patch)
    assert fields(await client.get("/v1/products", params={"q": "a\x00b"})) == ["q"]
    assert await skus(client) == ["ESP-250"]


async def test_if_none_match_with_the_current_etag_answers_304(
    client: httpx.AsyncClient,
) -> None:
    etag = (await client.post("/v1/products", json=ESPRESSO)).headers["etag"]

    response = await client.get("/v1/products/ESP-250", headers={"If-None-Match": etag})

    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag


async def test_if_none_match_with_an_old_etag_answers_the_product(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/v1/products", json=ESPRESSO)

    response = await client.get("/v1/products/ESP-250", headers={"If-None-Match": '"old"'})

    assert response.status_code == 200
    assert response.json()["sku"] == "ESP-250"


# ---- lists ------------------------------------------------------------------------------


async def test_walking_every_page_lists_each_product_once_in_creation_order(
    client: httpx.AsyncClient,
) -> None:
    created = [f"P-{n:02}" for n in range(7)]
    for sku in created:
        await shop.product(client, sku)

    pages = await all_pages(client, limit=3)

    assert pages == [created[0:3], created[3:6], created[6:7]]


async def test_a_page_that_ends_exactly_at_the_last_product_has_no_next_cursor(
    client: httpx.AsyncClient,
) -> None:
    for sku in ("A-1", "A-2", "A-3", "A-4"):
        await shop.product(client, sku)

    assert await all_pages(client, limit=2) == [["A-1", "A-2"], ["A-3", "A-4"]]


async def test_products_created_while_paging_appear_on_a_later_page_not_twice(
    client: httpx.AsyncClient,
) -> None:
    for sku in ("A-1", "A-2", "A-3"):
        await shop.product(client, sku)
    first = (await client.get("/v1/products", params={"limit": 2})).json()
    await shop.product(client, "A-4")

    rest = await all_pages(client, limit=2, cursor=first["next_cursor"])

    seen = [p["sku"] for p in first["data"]] + [sku for page in rest for sku in page]
    assert seen == ["A-1", "A-2", "A-3", "A-4"]


async def test_the_list_is_50_long_unless_asked(client: httpx.AsyncClient) -> None:
    for n in range(51):
        await shop.product(client, f"P-{n:02}")

    body = (await client.get("/v1/products")).json()

    assert len(body["data"]) == 50
    assert body["next_cursor"] is not None


async def test_q_finds_a_case_insensitive_part_of_the_name_or_the_sku(
    client: httpx.AsyncClient,
) -> None:
    await shop.product(client, "ESP-250", name="Espresso beans")
    await shop.product(client, "MILK-1", name="Oat milk")
    await shop.product(client, "BUN", name="Brioche bun")

    assert await skus(client, q="ESPRESSO") == ["ESP-250"]
    assert await skus(client, q="milk") == ["MILK-1"]
    assert await skus(client, q="bUn") == ["BUN"]
    assert await skus(client, q="esp-2") == ["ESP-250"]
    assert await skus(client, q="o") == ["ESP-250", "MILK-1", "BUN"]
    assert await skus(client, q="tea") == []


async def test_percent_and_underscore_in_q_are_plain_characters(
    client: httpx.AsyncClient,
) -> None:
    await shop.product(client, "CREAM-30", name="Cream 30% fat")
    await shop.product(client, "CREAM-35", name="Cream 35 fat")
    await shop.product(client, "CUP_S", name="Small cup")
    await shop.product(client, "CUPS", name="Cups")
    await shop.product(client, "SLASH", name="Back\\slash")

    assert await skus(client, q="%") == ["CREAM-30"]
    assert await skus(client, q="30%") == ["CREAM-30"]
    assert await skus(client, q="3_") == []
    assert await skus(client, q="p_") == ["CUP_S"]
    assert await skus(client, q="_") == ["CUP_S"]
    assert await skus(client, q="\\") == ["SLASH"]


async def test_active_filters_products_on_sale_or_withdrawn(client: httpx.AsyncClient) -> None:
    await shop.product(client, "ON-1")
    await shop.product(client, "OFF-1", active=False)
    await shop.product(client, "ON-2")

    assert await skus(client, active="true") == ["ON-1", "ON-2"]
    assert await skus(client, active="false") == ["OFF-1"]
    assert await skus(client) == ["ON-1", "OFF-1", "ON-2"]
    assert await skus(client, active="false", q="on") == []


async def test_filters_hold_across_pages(client: httpx.AsyncClient) -> None:
    for n in range(5):
        await shop.product(client, f"ON-{n}")
        await shop.product(client, f"OFF-{n}", active=False)

    pages = await all_pages(client, active="false", limit=2)

    assert pages == [["OFF-0", "OFF-1"], ["OFF-2", "OFF-3"], ["OFF-4"]]


# ---- partial updates --------------------------------------------------------------------


async def test_patch_changes_only_the_fields_sent(client: httpx.AsyncClient) -> None:
    before = (await client.post("/v1/products", json=ESPRESSO)).json()

    response = await client.patch("/v1/products/ESP-250", json={"name": "Espresso 250 g"})

    assert response.status_code == 200, response.text
    after = response.json()
    assert after["name"] == "Espresso 250 g"
    unchanged = ("sku", "description", "price", "active", "created_at")
    assert {k: after[k] for k in unchanged} == {k: before[k] for k in unchanged}
    assert after["updated_at"] >= before["updated_at"]
    assert (await client.get("/v1/products/ESP-250")).json() == after


async def test_patch_changes_price_and_active(client: httpx.AsyncClient) -> None:
    await client.post("/v1/products", json=ESPRESSO)

    response = await client.patch(
        "/v1/products/ESP-250",
        json={"price": {"amount": 1400, "currency": "EUR"}, "active": False},
    )

    assert response.status_code == 200, response.text
    assert response.json()["price"] == {"amount": 1400, "currency": "EUR"}
    assert response.json()["active"] is False
    assert response.json()["name"] == ESPRESSO["name"]


async def test_patch_with_description_null_clears_it(client: httpx.AsyncClient) -> None:
    await client.post("/v1/products", json=ESPRESSO)

    response = await client.patch("/v1/products/ESP-250", json={"description": None})

    assert response.status_code == 200, response.text
    assert response.json()["description"] is None
    assert (await client.get("/v1/products/ESP-250")).json()["description"] is None


async def test_patch_cannot_clear_a_required_field(client: httpx.AsyncClient) -> None:
    before = (await client.post("/v1/products", json=ESPRESSO)).json()

    for field in ("name", "price", "active"):
        response = await client.patch("/v1/products/ESP-250", json={field: None})
        assert fields(response) == [field]

    assert (await client.get("/v1/products/ESP-250")).json() == before


async def test_patch_refuses_a_price_in_another_currency_and_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    before = (await client.post("/v1/products", json=ESPRESSO)).json()

    response = await client.patch(
        "/v1/products/ESP-250",
        json={"name": "Renamed", "price": {"amount": 1, "currency": "GBP"}},
    )

    assert fields(response) == ["price.currency"]
    assert (await client.get("/v1/products/ESP-250")).json() == before


async def test_patch_cannot_change_the_sku_or_the_timestamps(client: httpx.AsyncClient) -> None:
    before = (await client.post("/v1/products", json=ESPRESSO)).json()

    for field, value in (("sku", "NEW-1"), ("created_at", "2020-01-01T00:00:00Z")):
        response = await client.patch("/v1/products/ESP-250", json={field: value})
        assert fields(response) == [field]

    assert (await client.get("/v1/products/ESP-250")).json() == before


async def test_patch_of_an_unknown_product_is_404(client: httpx.AsyncClient) -> None:
    response = await client.patch("/v1/products/NOPE-1", json={"name": "x"})

    problem(response, 404)


async def test_patch_with_a_stale_if_match_is_412_and_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    stale = (await client.post("/v1/products", json=ESPRESSO)).headers["etag"]
    first = await client.patch(
        "/v1/products/ESP-250", json={"name": "First editor"}, headers={"If-Match": stale}
    )
    assert first.status_code == 200, first.text

    response = await client.patch(
        "/v1/products/ESP-250", json={"name": "Second editor"}, headers={"If-Match": stale}
    )

    assert problem(response, 412)["type"].endswith("/precondition-failed")
    assert (await client.get("/v1/products/ESP-250")).json() == first.json()


async def test_patch_with_the_current_etag_succeeds_and_answers_the_new_etag(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/v1/products", json=ESPRESSO)
    current = (await client.get("/v1/products/ESP-250")).headers["etag"]

    response = await client.patch(
        "/v1/products/ESP-250", json={"active": False}, headers={"If-Match": current}
    )

    assert response.status_code == 200, response.text
    assert response.headers["etag"] != current
    read = await client.get("/v1/products/ESP-250")
    assert read.headers["etag"] == response.headers["etag"]


async def test_if_match_with_a_weak_etag_never_matches(client: httpx.AsyncClient) -> None:
    etag = (await client.post("/v1/products", json=ESPRESSO)).headers["etag"]

    response = await client.patch(
        "/v1/products/ESP-250", json={"name": "x"}, headers={"If-Match": f"W/{etag}"}
    )

    problem(response, 412)


# ---- deleting ---------------------------------------------------------------------------


async def test_a_product_never_used_can_be_deleted(client: httpx.AsyncClient) -> None:
    await client.post("/v1/products", json=ESPRESSO)

    response = await client.delete("/v1/products/ESP-250")

    assert response.status_code == 204
    assert response.content == b""
    problem(await client.get("/v1/products/ESP-250"), 404)
    problem(await client.delete("/v1/products/ESP-250"), 404)


async def test_a_product_on_an_order_cannot_be_deleted(client: httpx.AsyncClient) -> None:
    await shop.location(client)
    await shop.product(client, "BUN")
    await shop.order(client, ("BUN", 1))
    before = await shop.everything(client)

    response = await client.delete("/v1/products/BUN")

    assert problem(response, 409)["type"].endswith("/product-in-use")
    assert "active" in response.json()["detail"]
    assert await shop.everything(client) == before


async def test_a_product_with_ledger_entries_cannot_be_deleted(
    client: httpx.AsyncClient,
) -> None:
    await shop.location(client)
    await shop.product(client, "BUN")
    await shop.stock(client, "BUN", 5)
    before = await shop.everything(client)

    response = await client.delete("/v1/products/BUN")

    assert problem(response, 409)["type"].endswith("/product-in-use")
    assert await shop.everything(client) == before


async def test_a_product_in_use_can_still_be_withdrawn_from_sale(
    client: httpx.AsyncClient,
) -> None:
    await shop.location(client)
    await shop.product(client, "BUN")
    await shop.order(client, ("BUN", 1))

    response = await client.patch("/v1/products/BUN", json={"active": False})

    assert response.status_code == 200, response.text
    assert response.json()["active"] is False


# ---- prices -----------------------------------------------------------------------------


async def test_a_price_is_whole_minor_units_from_zero_to_a_hundred_million(
    client: httpx.AsyncClient,
) -> None:
    for amount in (-1, 10_000_000_001, 12.5, 12.0, "1250", True, None):
        body = ESPRESSO | {"price": {"amount": amount, "currency": "EUR"}}
        assert fields(await client.post("/v1/products", json=body)) == ["price.amount"]
    for currency in ("eur", "EURO", 978):
        body = ESPRESSO | {"price": {"amount": 1, "currency": currency}}
        assert fields(await client.post("/v1/products", json=body)) == ["price.currency"]

    assert await skus(client) == []


async def test_the_highest_price_can_be_ordered_in_the_largest_quantity(
    client: httpx.AsyncClient,
) -> None:
    await shop.location(client)
    await shop.product(client, "GOLD", price=10_000_000_000)

    order = await shop.order(client, ("GOLD", 10_000))

    assert order["total"] == {"amount": 100_000_000_000_000, "currency": "EUR"}


async def test_flags_and_text_must_have_their_json_types(client: httpx.AsyncClient) -> None:
    for field, value in (("active", "yes"), ("active", 1), ("name", 5), ("sku", 5)):
        assert fields(await client.post("/v1/products", json=ESPRESSO | {field: value})) == [field]

    assert await skus(client) == []


async def test_search_ignores_case_beyond_ascii(client: httpx.AsyncClient) -> None:
    await shop.product(client, "CRB-1", name="Crème brûlée")

    response = await client.get("/v1/products", params={"q": "CRÈME BRÛ"})

    assert [p["sku"] for p in response.json()["data"]] == ["CRB-1"]
