"""`Idempotency-Key`: a retried POST answers what the first one did, and does nothing again."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from galley import appends
from galley.app import create_app
from galley.config import Settings
from galley.http import idempotency
from galley.identity.credentials import digest
from tests import shop
from tests.problems import fields, problem

ORDER = {"location": "KITCHEN", "lines": [{"sku": "TEA", "quantity": 3}]}


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """A second app on the test's database, to reach the stored keys directly."""
    second = create_app(settings)
    yield second
    await second.state.engine.dispose()


async def open_shop(client: httpx.AsyncClient) -> None:
    await shop.location(client)
    await shop.product(client, "TEA", price=300)
    await shop.stock(client, "TEA", 10)


async def place(
    client: httpx.AsyncClient, key: str, body: dict[str, Any] = ORDER
) -> httpx.Response:
    return await client.post("/v1/orders", json=body, headers={"Idempotency-Key": key})


async def orders(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    return list((await client.get("/v1/orders")).json()["data"])


async def test_a_retry_replays_the_first_answer_and_places_nothing_new(
    client: httpx.AsyncClient,
) -> None:
    await open_shop(client)
    first = await place(client, "order-1")
    assert first.status_code == 201, first.text

    again = await place(client, "order-1")

    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    for header in ("location", "etag", "content-type"):
        assert again.headers[header] == first.headers[header]
    assert [o["id"] for o in await orders(client)] == [first.json()["id"]]
    level = await shop.level(client, "TEA")
    assert (level["on_hand"], level["reserved"], level["available"]) == (10, 3, 7)


async def test_a_retry_that_would_now_be_refused_replays_the_first_answer(
    client: httpx.AsyncClient,
) -> None:
    """The claim goes with the request's first write: a retry runs until then, and is
    answered as the first was, not as it would be answered now."""
    await shop.location(client)
    await shop.product(client, "TEA", replenishment={"allow_backorder": False})
    await shop.stock(client, "TEA", 10)
    everything = {"location": "KITCHEN", "lines": [{"sku": "TEA", "quantity": 10}]}
    first = await place(client, "all-of-it", everything)
    assert first.status_code == 201, first.text
    assert (await place(client, "another", everything)).status_code == 409  # none left

    again = await place(client, "all-of-it", everything)

    assert (again.status_code, again.json()) == (201, first.json())
    assert again.headers["idempotent-replayed"] == "true"
    assert [o["id"] for o in await orders(client)] == [first.json()["id"]]


async def test_a_retry_of_a_request_that_writes_no_stock_replays_the_first_answer(
    client: httpx.AsyncClient,
) -> None:
    """Its claim goes with its last statement, merged with its answer."""
    body = {"code": "HALL", "name": "Hall"}
    headers = {"Idempotency-Key": "hall"}
    first = await client.post("/v1/locations", json=body, headers=headers)
    assert first.status_code == 201, first.text

    again = await client.post("/v1/locations", json=body, headers=headers)

    assert (again.status_code, again.json()) == (201, first.json())
    assert again.headers["idempotent-replayed"] == "true"


async def test_a_replay_carries_its_own_request_id_and_security_headers(
    client: httpx.AsyncClient,
) -> None:
    await open_shop(client)
    await place(client, "order-1")

    again = await client.post(
        "/v1/orders", json=ORDER, headers={"Idempotency-Key": "order-1", "X-Request-ID": "retry-1"}
    )

    assert again.headers["x-request-id"] == "retry-1"
    assert again.headers["x-content-type-options"] == "nosniff"


async def test_different_keys_place_different_orders(client: httpx.AsyncClient) -> None:
    await open_shop(client)

    first = await place(client, "order-1")
    second = await place(client, "order-2")

    assert first.json()["id"] != second.json()["id"]
    assert len(await orders(client)) == 2
    assert (await shop.level(client, "TEA"))["reserved"] == 6


async def test_the_same_key_with_another_body_is_422_and_places_nothing(
    client: httpx.AsyncClient,
) -> None:
    await open_shop(client)
    await place(client, "order-1")
    before = await shop.everything(client)

    other = {"location": "KITCHEN", "lines": [{"sku": "TEA", "quantity": 4}]}
    response = await place(client, "order-1", other)

    assert fields(response) == ["Idempotency-Key"]
    assert "idempotent-replayed" not in response.headers
    assert await shop.everything(client) == before


async def test_the_same_key_on_another_endpoint_is_422(client: httpx.AsyncClient) -> None:
    await open_shop(client)
    await place(client, "shared")
    before = await shop.everything(client)

    response = await client.post(
        "/v1/locations",
        json={"code": "SHOP", "name": "Shop"},
        headers={"Idempotency-Key": "shared"},
    )

    assert fields(response) == ["Idempotency-Key"]
    assert await shop.everything(client) == before


async def test_a_refused_request_does_not_use_up_its_key(client: httpx.AsyncClient) -> None:
    """Only successful answers are stored: a corrected retry under the same key goes through."""
    await open_shop(client)
    bad = {"location": "KITCHEN", "lines": [{"sku": "TEA", "quantity": 0}]}
    before = await shop.everything(client)

    refused = await place(client, "order-1", bad)
    refused_again = await place(client, "order-1", bad)

    assert fields(refused) == ["lines[0].quantity"]
    assert fields(refused_again) == ["lines[0].quantity"]
    assert "idempotent-replayed" not in refused_again.headers
    assert await shop.everything(client) == before

    corrected = await place(client, "order-1")
    replayed = await place(client, "order-1")

    assert corrected.status_code == 201, corrected.text
    assert "idempotent-replayed" not in corrected.headers
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.json() == corrected.json()
    assert len(await orders(client)) == 1


async def test_a_conflict_does_not_use_up_the_key_and_the_same_request_may_succeed_later(
    client: httpx.AsyncClient,
) -> None:
    await open_shop(client)
    await shop.order(client, ("TEA", 10))
    count = {"sku": "TEA", "location": "KITCHEN", "delta": -2, "reason": "damaged"}
    headers = {"Idempotency-Key": "count-1"}

    refused = await client.post("/v1/stock/adjustments", json=count, headers=headers)
    problem(refused, 409)
    await shop.stock(client, "TEA", 5)
    accepted = await client.post("/v1/stock/adjustments", json=count, headers=headers)
    replayed = await client.post("/v1/stock/adjustments", json=count, headers=headers)

    assert accepted.status_code == 201, accepted.text
    assert replayed.json() == accepted.json()
    assert replayed.headers["idempotent-replayed"] == "true"
    ledger = (await client.get("/v1/stock/ledger")).json()["data"]
    assert [e["delta"] for e in ledger] == [10, 5, -2]


async def test_a_replayed_transition_cancels_only_once(client: httpx.AsyncClient) -> None:
    await open_shop(client)
    order = await shop.order(client, ("TEA", 3))
    path = f"/v1/orders/{order['id']}/cancel"
    headers = {"Idempotency-Key": "cancel-1"}

    first = await client.post(path, json={"reason": "no show"}, headers=headers)
    again = await client.post(path, json={"reason": "no show"}, headers=headers)

    assert first.status_code == 200, first.text
    assert (again.status_code, again.json()) == (200, first.json())
    assert again.headers["idempotent-replayed"] == "true"
    events = (await client.get(f"/v1/orders/{order['id']}/events")).json()["data"]
    assert [e["type"] for e in events].count("status_changed") == 1


async def test_a_key_must_be_1_to_255_printable_ascii_characters(
    client: httpx.AsyncClient,
) -> None:
    await open_shop(client)
    before = await shop.everything(client)

    for key in (b"k" * 256, b"", b"has space", "schlüssel".encode(), b"tab\there"):
        response = await client.post("/v1/orders", json=ORDER, headers=[(b"Idempotency-Key", key)])
        assert fields(response) == ["Idempotency-Key"], key

    assert await shop.everything(client) == before
    assert (await place(client, "k" * 255)).status_code == 201
    assert (await place(client, "~!#$%&'*+-.^_`|")).status_code == 201


async def test_a_key_is_ignored_on_reads(client: httpx.AsyncClient) -> None:
    await open_shop(client)

    response = await client.get("/v1/orders", headers={"Idempotency-Key": "k" * 300})

    assert response.status_code == 200


# ---- the stored keys --------------------------------------------------------------------


def _body(order: dict[str, Any]) -> bytes:
    return json.dumps(order).encode()


async def _post(client: httpx.AsyncClient, key: str, body: bytes) -> httpx.Response:
    headers = {"Idempotency-Key": key, "Content-Type": "application/json"}
    return await client.post("/v1/orders", content=body, headers=headers)


async def _age(app: FastAPI, key: str, by: dt.timedelta) -> None:
    async with app.state.database.transaction() as session:
        table = idempotency.IdempotencyKey
        await session.execute(
            update(table).where(table.key == key).values(claimed_at=idempotency.utcnow() - by)
        )


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_key_still_in_flight_is_409(client: httpx.AsyncClient, app: FastAPI) -> None:
    """Its holder's transaction holds the key until it ends; then the key is free again."""
    await open_shop(client)
    body = _body(ORDER)
    print_ = idempotency.fingerprint("POST", "/v1/orders", body)
    before = await shop.everything(client)

    with contextlib.suppress(_RolledBack):
        async with app.state.database.transaction() as holder:
            idempotency.claim(holder, _caller(client), "busy", print_)
            await appends.write(holder)  # the claim, as a request's first carried statement
            response = await _post(client, "busy", body)
            raise _RolledBack

    assert problem(response, 409)["type"].endswith("/conflict")
    assert await shop.everything(client) == before
    assert (await _post(client, "busy", body)).status_code == 201


class _RolledBack(Exception):
    """Ends the holder's transaction as a failed request's ends."""


async def test_requests_with_one_key_at_once_place_one_order(client: httpx.AsyncClient) -> None:
    """Each answer is the order placed, its replay, or (on PostgreSQL) 409 while in flight."""
    await open_shop(client)
    answers = await asyncio.gather(*(_post(client, "together", _body(ORDER)) for _ in range(5)))

    placed = [a for a in answers if "idempotent-replayed" not in a.headers and a.status_code == 201]
    assert len(placed) == 1
    for answer in answers:
        if answer.status_code == 201:
            assert answer.json() == placed[0].json()
        else:
            assert problem(answer, 409)["type"].endswith("/conflict")
    assert len(await orders(client)) == 1


async def test_a_key_left_without_an_answer_is_taken_over(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """Only a refusal that keeps its writes commits a claim without an answer; nobody holds
    it, so the next request with the key runs afresh."""
    await open_shop(client)
    body = _body(ORDER)
    print_ = idempotency.fingerprint("POST", "/v1/orders", body)
    async with app.state.database.transaction() as session:
        idempotency.claim(session, _caller(client), "left", print_)

    response = await _post(client, "left", body)

    assert response.status_code == 201, response.text
    assert "idempotent-replayed" not in response.headers
    assert len(await orders(client)) == 1
    assert (await _post(client, "left", body)).json() == response.json()


async def test_after_24_hours_a_key_may_be_used_again(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await open_shop(client)
    first = await _post(client, "daily", _body(ORDER))
    await _age(app, "daily", dt.timedelta(hours=25))

    other = {"location": "KITCHEN", "lines": [{"sku": "TEA", "quantity": 1}]}
    response = await _post(client, "daily", _body(other))

    assert response.status_code == 201, response.text
    assert response.json()["id"] != first.json()["id"]
    assert "idempotent-replayed" not in response.headers


def _caller(client: httpx.AsyncClient) -> str:
    """The key space of the client's own credentials (an API key)."""
    secret = client.headers["Authorization"].removeprefix("Bearer ")
    return "api_key:" + digest(secret)[:24]
