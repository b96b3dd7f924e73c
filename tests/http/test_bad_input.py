"""Bad input of every kind gets the right 4xx problem, and a refused request writes nothing."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from galley.catalog import service as catalog_service
from tests import shop
from tests.problems import fields, problem

ONE_MIB = 1_048_576

# Every endpoint that takes a body, with a body it would accept.
WRITES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/v1/locations"): {"code": "SHOP", "name": "Shop"},
    ("POST", "/v1/products"): {
        "sku": "NEW",
        "name": "New",
        "price": {"amount": 1, "currency": "EUR"},
    },
    ("PATCH", "/v1/products/TEA"): {"name": "Green tea"},
    ("POST", "/v1/stock/adjustments"): {
        "sku": "TEA",
        "location": "KITCHEN",
        "delta": 1,
        "reason": "count",
    },
    ("POST", "/v1/orders"): {"location": "KITCHEN", "lines": [{"sku": "TEA", "quantity": 1}]},
    ("POST", "/v1/orders/{order}/cancel"): {"reason": "changed mind"},
}
# The same endpoints, with one field of the wrong JSON type, and the field a 422 must name.
WRONG_TYPES: dict[tuple[str, str], tuple[dict[str, Any], str]] = {
    ("POST", "/v1/locations"): ({"code": "SHOP", "name": 5}, "name"),
    ("POST", "/v1/products"): (
        {"sku": "NEW", "name": "New", "price": "1 EUR"},
        "price",
    ),
    ("PATCH", "/v1/products/TEA"): ({"active": "no"}, "active"),
    ("POST", "/v1/stock/adjustments"): (
        {"sku": "TEA", "location": "KITCHEN", "delta": "1", "reason": "count"},
        "delta",
    ),
    ("POST", "/v1/orders"): (
        {"location": "KITCHEN", "lines": [{"sku": "TEA", "quantity": "two"}]},
        "lines[0].quantity",
    ),
    ("POST", "/v1/orders/{order}/cancel"): ({"reason": ["no"]}, "reason"),
}
LISTS = (
    "/v1/locations",
    "/v1/products",
    "/v1/stock",
    "/v1/stock/ledger",
    "/v1/orders",
    "/v1/orders/{order}/events",
)
ORDER_ACTIONS = ("start", "ready", "complete", "cancel")

writes = pytest.mark.parametrize(("method", "path"), list(WRITES))
lists = pytest.mark.parametrize("path", LISTS)


async def open_shop(client: httpx.AsyncClient) -> str:
    """A kitchen with tea in stock, a withdrawn product and one open order; its id."""
    await shop.location(client)
    await shop.product(client, "TEA", price=300)
    await shop.product(client, "OLD", active=False)
    await shop.stock(client, "TEA", 10)
    order = await shop.order(client, ("TEA", 2))
    return str(order["id"])


def order_body(*lines: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"location": "KITCHEN", "lines": list(lines)} | extra


async def place(client: httpx.AsyncClient, body: Any) -> httpx.Response:
    return await client.post("/v1/orders", json=body)


# ---- bodies that are not JSON, too large or of the wrong kind ----------------------------


@writes
async def test_the_bodies_the_other_tests_spoil_are_accepted_as_they_are(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    order = await open_shop(client)

    response = await client.request(method, path.format(order=order), json=WRITES[method, path])

    assert response.status_code in (200, 201), response.text


@writes
async def test_malformed_json_is_400_and_writes_nothing(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    order = await open_shop(client)
    before = await shop.everything(client)

    for body in (b'{"location": "KITCHEN",', b"{'single': 'quotes'}", b"\xff\xfe", b"[" * 5000):
        response = await client.request(
            method,
            path.format(order=order),
            content=body,
            headers={"Content-Type": "application/json"},
        )
        assert problem(response, 400)["type"].endswith("/malformed-request")

    assert await shop.everything(client) == before


@writes
async def test_a_body_of_the_wrong_json_type_is_422(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    order = await open_shop(client)
    before = await shop.everything(client)

    for body in ([WRITES[method, path]], "text", 5):
        response = await client.request(method, path.format(order=order), json=body)
        assert problem(response, 422)["errors"]

    assert await shop.everything(client) == before


@writes
async def test_a_field_of_the_wrong_type_is_422_naming_it(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    order = await open_shop(client)
    before = await shop.everything(client)
    body, field = WRONG_TYPES[method, path]

    response = await client.request(method, path.format(order=order), json=body)

    assert fields(response) == [field]
    assert field in response.json()["detail"]
    assert await shop.everything(client) == before


@writes
async def test_an_unknown_field_is_422_naming_it(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    order = await open_shop(client)
    before = await shop.everything(client)

    response = await client.request(
        method, path.format(order=order), json=WRITES[method, path] | {"owner": "me"}
    )

    assert fields(response) == ["owner"]
    assert await shop.everything(client) == before


@writes
async def test_a_body_over_one_mib_is_413_and_writes_nothing(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    order = await open_shop(client)
    before = await shop.everything(client)
    body = json.dumps(WRITES[method, path] | {"padding": "x" * ONE_MIB}).encode()

    response = await client.request(
        method, path.format(order=order), content=body, headers={"Content-Type": "application/json"}
    )

    assert problem(response, 413)["type"].endswith("/payload-too-large")
    assert await shop.everything(client) == before


@writes
async def test_a_streamed_body_over_one_mib_is_413_too(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    order = await open_shop(client)
    before = await shop.everything(client)

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"padding": "'
        for _ in range(20):
            yield b"x" * 65_536
        yield b'"}'

    response = await client.request(
        method,
        path.format(order=order),
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )

    assert "content-length" not in response.request.headers
    problem(response, 413)
    assert await shop.everything(client) == before


async def test_a_body_of_exactly_one_mib_is_read(client: httpx.AsyncClient) -> None:
    await open_shop(client)
    body = json.dumps(order_body({"sku": "TEA", "quantity": 1}, note="")).encode()
    padded = body[:-1] + b" " * (ONE_MIB - len(body)) + b"}"

    response = await client.post(
        "/v1/orders", content=padded, headers={"Content-Type": "application/json"}
    )

    assert len(padded) == ONE_MIB
    assert response.status_code == 201, response.text


@writes
async def test_a_body_that_is_not_json_is_415_and_writes_nothing(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    order = await open_shop(client)
    before = await shop.everything(client)
    body = json.dumps(WRITES[method, path]).encode()

    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
        response = await client.request(
            method, path.format(order=order), content=body, headers={"Content-Type": content_type}
        )
        assert problem(response, 415)["type"].endswith("/unsupported-media-type")
        assert content_type in response.json()["detail"]
    response = await client.request(method, path.format(order=order), content=body)
    assert "content-type" not in response.request.headers
    problem(response, 415)

    assert await shop.everything(client) == before


async def test_json_with_a_charset_parameter_is_json(client: httpx.AsyncClient) -> None:
    await open_shop(client)
    body = json.dumps(order_body({"sku": "TEA", "quantity": 1})).encode()

    response = await client.post(
        "/v1/orders", content=body, headers={"Content-Type": "application/json; charset=utf-8"}
    )

    assert response.status_code == 201, response.text


async def test_an_order_without_a_body_is_422(client: httpx.AsyncClient) -> None:
    await open_shop(client)
    before = await shop.everything(client)

    response = await client.post("/v1/orders")

    assert fields(response) == ["body"]
    assert await shop.everything(client) == before


# ---- lists ------------------------------------------------------------------------------


@lists
async def test_a_limit_outside_1_to_200_is_422(client: httpx.AsyncClient, path: str) -> None:
    order = await open_shop(client)

    for limit in ("201", "0", "-1", "1e3", "ten", "", "99999999999999999999999"):
        response = await client.get(path.format(order=order), params={"limit": limit})
        assert fields(response) == ["limit"], limit


@lists
async def test_the_limits_1_and_200_are_fine(client: httpx.AsyncClient, path: str) -> None:
    order = await open_shop(client)

    for limit in (1, 200):
        response = await client.get(path.format(order=order), params={"limit": limit})
        assert response.status_code == 200, response.text


@lists
async def test_a_cursor_this_api_never_gave_out_is_422(
    client: httpx.AsyncClient, path: str
) -> None:
    order = await open_shop(client)

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    for cursor in (
        "nope",
        "!!!!",
        "x" * 65,
        b64(b"k"),
        b64(b"k-1"),
        b64(b"k 1"),
        b64(b"k1.5"),
        b64(b"k" + b"9" * 19),
        b64(b"k" + b"9" * 40),
        b64(b"\xff\xfe"),
    ):
        response = await client.get(path.format(order=order), params={"cursor": cursor})
        assert fields(response) == ["cursor"], cursor


# ---- unknown resources ------------------------------------------------------------------


async def test_an_unknown_order_is_404_in_every_route_and_nothing_changes(
    client: httpx.AsyncClient,
) -> None:
    await open_shop(client)
    before = await shop.everything(client)

    for order in (str(uuid.uuid4()), "not-an-order", "1"):
        for response in (
            await client.get(f"/v1/orders/{order}"),
            await client.get(f"/v1/orders/{order}/events"),
            *[await client.post(f"/v1/orders/{order}/{action}") for action in ORDER_ACTIONS],
        ):
            assert problem(response, 404)["type"].endswith("/order-not-found")

    assert await shop.everything(client) == before


async def test_an_unknown_route_is_a_404_problem(client: httpx.AsyncClient) -> None:
    for path in ("/v1/nothing", "/v2/orders", "/", "/v1/orders/x/y/z"):
        assert problem(await client.get(path), 404)["type"].endswith("/not-found")


async def test_a_method_a_route_does_not_have_is_a_405_problem(
    client: httpx.AsyncClient,
) -> None:
    for method, path, allowed in (
        ("DELETE", "/v1/orders", {"GET", "POST"}),
        ("PUT", "/v1/products", {"GET", "POST"}),
        ("PUT", "/v1/products/TEA", {"GET", "PATCH", "DELETE"}),
        ("POST", "/v1/stock", {"GET"}),
        ("DELETE", "/v1/locations/KITCHEN", {"GET"}),
        ("GET", "/v1/orders/x/start", {"POST"}),
    ):
        response = await client.request(method, path)
        assert problem(response, 405)["type"].endswith("/method-not-allowed")
        assert set(response.headers["allow"].split(", ")) == allowed


# ---- order lines ------------------------------------------------------------------------


async def test_a_quantity_below_1_or_above_10000_is_422_and_writes_nothing(
    client: httpx.AsyncClient,
) -> None:
    await open_shop(client)
    before = await shop.everything(client)

    for quantity in (-1, 0, 10_001, 1.5, None, "two"):
        response = await place(client, order_body({"sku": "TEA", "quantity": quantity}))
        assert fields(response) == ["lines[0].quantity"], quantity

    assert await shop.everything(client) == before


async def test_the_bad_line_is_named_by_its_position(client: httpx.AsyncClient) -> None:
    await open_shop(client)
    before = await shop.everything(client)
    good = {"sku": "TEA", "quantity": 1}

    response = await place(client, order_body(good, {"sku": "OLD", "quantity": 0}))

    assert fields(response) == ["lines[1].quantity"]
    assert await shop.everything(client) == before


async def test_a_quantity_of_10000_is_accepted(client: httpx.AsyncClient) -> None:
    await open_shop(client)

    response = await place(client, order_body({"sku": "TEA", "quantity": 10_000}))

    assert response.status_code == 201, response.text


async def test_the_same_sku_on_two_lines_is_422_and_writes_nothing(
    client: httpx.AsyncClient,
) -> None:
    await open_shop(client)
    before = await shop.everything(client)
    tea = {"sku": "TEA", "quantity": 1}

    response = await place(client, order_body(tea, tea))

    assert fields(response) == ["lines[1].sku"]
    assert await shop.everything(client) == before


async def test_more_than_100_lines_or_none_is_422_and_writes_nothing(
    client: httpx.AsyncClient,
) -> None:
    await open_shop(client)
    before = await shop.everything(client)
    many = [{"sku": f"SKU-{n}", "quantity": 1} for n in range(101)]

    assert fields(await place(client, order_body(*many))) == ["lines"]
    assert fields(await place(client, order_body())) == ["lines"]
    assert await shop.everything(client) == before


async def test_an_unknown_or_withdrawn_sku_is_422_and_writes_nothing(
    client: httpx.AsyncClient,
) -> None:
    await open_shop(client)
    before = await shop.everything(client)

    response = await place(
        client,
        order_body(
            {"sku": "TEA", "quantity": 1},
            {"sku": "NOPE", "quantity": 1},
            {"sku": "OLD", "quantity": 1},
        ),
    )

    body = problem(response, 422)
    assert [(e["field"], e["message"]) for e in body["errors"]] == [
        ("lines[1].sku", "no product with SKU NOPE"),
        ("lines[2].sku", "OLD is not for sale"),
    ]
    assert await shop.everything(client) == before


async def test_an_order_at_an_unknown_location_is_422_and_writes_nothing(
    client: httpx.AsyncClient,
) -> None:
    await open_shop(client)
    before = await shop.everything(client)

    response = await place(client, order_body({"sku": "TEA", "quantity": 1}) | {"location": "X"})

    assert fields(response) == ["location"]
    assert await shop.everything(client) == before


async def test_an_order_with_a_sku_or_location_of_the_wrong_shape_is_422(
    client: httpx.AsyncClient,
) -> None:
    await open_shop(client)
    before = await shop.everything(client)

    bad_sku = await place(client, order_body({"sku": "no spaces", "quantity": 1}))
    bad_location = await place(client, {"location": "", "lines": [{"sku": "TEA", "quantity": 1}]})

    assert fields(bad_sku) == ["lines[0].sku"]
    assert fields(bad_location) == ["location"]
    assert await shop.everything(client) == before


async def test_an_unknown_field_on_a_line_is_422_naming_it(client: httpx.AsyncClient) -> None:
    await open_shop(client)
    before = await shop.everything(client)

    response = await place(client, order_body({"sku": "TEA", "quantity": 1, "unit_price": 0}))

    assert fields(response) == ["lines[0].unit_price"]
    assert await shop.everything(client) == before


# ---- what every answer carries ----------------------------------------------------------


async def test_a_valid_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    for given in ("abc-123", "a" * 128, "trace:1.2_3"):
        response = await client.get("/v1/products", headers={"X-Request-ID": given})
        assert response.headers["x-request-id"] == given


async def test_a_request_id_is_made_when_none_or_an_invalid_one_is_given(
    client: httpx.AsyncClient,
) -> None:
    ids = []
    for given in (None, b"", b"a" * 129, b"has space", b"semi;colon", "é".encode(), b"abc\n"):
        headers = [] if given is None else [(b"X-Request-ID", given)]
        response = await client.get("/v1/products", headers=headers)
        made = response.headers["x-request-id"]
        ids.append(made)
        assert given is None or given.decode("latin-1").strip() != made
        assert 1 <= len(made) <= 128

    assert len(set(ids)) == len(ids)


async def test_errors_carry_the_request_id_and_security_headers_too(
    client: httpx.AsyncClient,
) -> None:
    await open_shop(client)
    answers = [
        await client.get("/v1/products"),
        await client.get("/v1/nothing"),
        await client.delete("/v1/orders"),
        await client.post("/v1/orders", content=b"{", headers={"Content-Type": "application/json"}),
        await client.post(
            "/v1/orders", content=b"x" * (ONE_MIB + 1), headers={"Content-Type": "application/json"}
        ),
        await client.post("/v1/orders", json={}),
    ]

    assert [r.status_code for r in answers] == [200, 404, 405, 400, 413, 422]
    for response in answers:
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-request-id"]
        assert response.headers["cache-control"] == "no-store"


async def test_an_unexpected_error_is_a_500_problem_with_the_request_id_and_no_trace(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals at /srv/galley/catalog/service.py")

    monkeypatch.setattr(catalog_service, "list_products", broken)

    response = await client.get("/v1/products", headers={"X-Request-ID": "oops-1"})

    body = problem(response, 500)
    assert body["request_id"] == "oops-1"
    assert "oops-1" in body["detail"]
    assert "secret" not in response.text
    assert "Traceback" not in response.text
    assert response.headers["x-request-id"] == "oops-1"
