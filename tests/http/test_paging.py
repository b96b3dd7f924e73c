"""Every list reads `?cursor=` alike: absent or empty is the first page, as its one
definition in the spec says. The lists are found by walking the app's routes, so a new one
is covered without naming it here."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi.dependencies.utils import get_flat_params
from fastapi.params import Query
from fastapi.routing import APIRoute, iter_route_contexts

from galley.app import create_app
from tests import shop

# Published, so no name needs looking up (see tests/webhooks/test_endpoints.py).
WEBHOOK_URL = "https://93.184.216.34/hooks"


def _lists() -> list[str]:
    """The path of every route that takes a `cursor` query parameter."""
    return sorted(
        context.route.path
        for context in iter_route_contexts(create_app().router.routes)
        if isinstance(context.route, APIRoute)
        and any(
            param.name == "cursor" and isinstance(param.field_info, Query)
            for param in get_flat_params(context.route.dependant)
        )
    )


LISTS = _lists()


async def _a_bit_of_everything(client: httpx.AsyncClient) -> dict[str, str]:
    """Two of most things, so first pages have a next page; the ids lists are under."""
    await shop.location(client)
    await shop.location(client, "BAR")
    supplier = await shop.supplier(client)
    await shop.supplier(client, "Dairy")
    await shop.product(client, "ESP", supplier=supplier, replenishment={"margin_pct": 0})
    await shop.product(client, "TEA")
    await shop.stock(client, "ESP", 2)
    await shop.stock(client, "TEA", 2)
    order = await shop.order(client, ("ESP", 5), ("TEA", 3))
    await shop.order(client, ("TEA", 1))
    await client.post(f"/v1/orders/{order['id']}/cancel", json={})
    endpoint = await client.post(
        "/v1/webhook-endpoints", json={"url": WEBHOOK_URL, "event_types": ["order.placed"]}
    )
    assert endpoint.status_code == 201, endpoint.text
    await client.post(
        "/v1/webhook-endpoints", json={"url": WEBHOOK_URL, "event_types": ["order.cancelled"]}
    )
    return {"order_id": str(order["id"]), "endpoint_id": str(endpoint.json()["id"])}


def test_the_walk_finds_the_lists() -> None:
    assert "/v1/orders" in LISTS
    assert "/v1/orders/{order_id}/events" in LISTS
    assert len(LISTS) >= 13


def test_every_list_has_the_one_cursor_parameter() -> None:
    spec = create_app().openapi()
    cursors = [
        parameter
        for path in LISTS
        for parameter in spec["paths"][path]["get"]["parameters"]
        if parameter["name"] == "cursor"
    ]

    assert len(cursors) == len(LISTS)
    assert all(cursor == cursors[0] for cursor in cursors)
    assert "empty for the first page" in cursors[0]["description"]


@pytest.mark.parametrize("path", LISTS)
async def test_an_empty_cursor_is_the_first_page(client: httpx.AsyncClient, path: str) -> None:
    ids = await _a_bit_of_everything(client)
    try:
        url = path.format(**ids)
    except KeyError as missing:
        pytest.fail(f"{path}: make a resource for {missing} in _a_bit_of_everything")

    absent = await client.get(url, params={"limit": 1})
    empty = await client.get(url, params={"limit": 1, "cursor": ""})

    assert absent.status_code == 200, absent.text
    assert empty.status_code == 200, empty.text
    page: dict[str, Any] = empty.json()
    assert page == absent.json()
