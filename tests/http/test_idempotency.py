"""`Idempotency-Key`: a retried POST answers what the first one did, and does nothing again."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Response
from sqlalchemy import delete, event, update
from sqlalchemy.orm import ORMExecuteState, Session

from galley.app import create_app
from galley.config import Settings
from galley.errors import Conflict
from galley.http import idempotency
from galley.identity.credentials import digest
from galley.privacy.keys import data_keys
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


async def test_a_key_still_in_flight_is_409(client: httpx.AsyncClient, app: FastAPI) -> None:
    await open_shop(client)
    body = _body(ORDER)
    claim = await idempotency.claim(
        app.state.database,
        _caller(client),
        "busy",
        idempotency.fingerprint("POST", "/v1/orders", body),
    )
    assert isinstance(claim, idempotency.Claim)
    before = await shop.everything(client)

    response = await _post(client, "busy", body)

    assert problem(response, 409)["type"].endswith("/conflict")
    assert await shop.everything(client) == before


async def test_a_claim_abandoned_by_a_dead_process_is_taken_over(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await open_shop(client)
    body = _body(ORDER)
    await idempotency.claim(
        app.state.database,
        _caller(client),
        "lost",
        idempotency.fingerprint("POST", "/v1/orders", body),
    )
    await _age(app, "lost", dt.timedelta(minutes=2))

    response = await _post(client, "lost", body)

    assert response.status_code == 201, response.text
    assert len(await orders(client)) == 1


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


# ---- a claim racing other requests with its key, one interleaving at a time -----------
# Another request's release, answer or take-over lands between two statements of a claim.
# (On SQLite a claim is one write transaction, so there nothing lands in between; the
# claim must still be right where it can, as on PostgreSQL.)


@contextmanager
def meanwhile(
    before: Callable[[ORMExecuteState], bool], do: Callable[[Session], Any]
) -> Iterator[None]:
    """Run `do` in the claim's own transaction, once, just before the first statement
    that `before` picks out: the state the claim then meets is as if another request
    had committed it between the claim's statements."""
    done = False

    def hook(state: ORMExecuteState) -> None:
        nonlocal done
        if not done and before(state):
            done = True
            do(state.session)

    event.listen(Session, "do_orm_execute", hook)
    try:
        yield
    finally:
        event.remove(Session, "do_orm_execute", hook)


def reading_the_key(state: ORMExecuteState) -> bool:
    return state.is_select and "FROM idempotency_keys" in str(state.statement)


def taking_it_over(state: ORMExecuteState) -> bool:
    return state.is_update and "SET fingerprint" in str(state.statement)


def released(key: str) -> Callable[[Session], Any]:
    table = idempotency.IdempotencyKey
    return lambda session: session.execute(delete(table).where(table.key == key))


async def _claim(client: httpx.AsyncClient, app: FastAPI, key: str) -> idempotency.Claim:
    """A request with the key, in flight (as far as the key shows)."""
    print_ = idempotency.fingerprint("POST", "/v1/orders", _body(ORDER))
    claim = await idempotency.claim(app.state.database, _caller(client), key, print_)
    assert isinstance(claim, idempotency.Claim)
    return claim


async def test_a_claim_that_meets_its_key_released_meanwhile_runs_the_request_afresh(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """The first attempt failed and released the key between the retry's insert, which met
    its row, and the retry's look at that row."""
    await open_shop(client)
    await _claim(client, app, "k")

    with meanwhile(reading_the_key, released("k")):
        response = await _post(client, "k", _body(ORDER))

    assert response.status_code == 201, response.text
    assert "idempotent-replayed" not in response.headers
    assert len(await orders(client)) == 1
    assert (await _post(client, "k", _body(ORDER))).json() == response.json()


async def test_a_take_over_that_meets_the_key_released_meanwhile_runs_the_request_afresh(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await open_shop(client)
    await _claim(client, app, "lost")
    await _age(app, "lost", dt.timedelta(minutes=2))

    with meanwhile(taking_it_over, released("lost")):
        response = await _post(client, "lost", _body(ORDER))

    assert response.status_code == 201, response.text
    assert len(await orders(client)) == 1


async def test_a_take_over_that_meets_the_answer_recorded_meanwhile_replays_it(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    """A slow first request, not dead after all, answers between the retry's look at its
    claim (old and unanswered) and the retry's take-over: the retry replays that answer."""
    await open_shop(client)
    await _claim(client, app, "slow")
    await _age(app, "slow", dt.timedelta(minutes=2))
    before = await shop.everything(client)
    table = idempotency.IdempotencyKey
    answer = {"id": "first"}
    sealed = data_keys(settings.data_keys).seal(json.dumps(answer), idempotency.BODY)

    def answered(session: Session) -> None:
        session.execute(
            update(table)
            .where(table.key == "slow")
            .values(
                status_code=201,
                response_body=sealed,
                response_headers={"content-type": "application/json"},
            )
        )

    with meanwhile(taking_it_over, answered):
        response = await _post(client, "slow", _body(ORDER))

    assert (response.status_code, response.json()) == (201, answer)
    assert response.headers["idempotent-replayed"] == "true"
    assert await shop.everything(client) == before


async def test_a_request_whose_claim_was_taken_over_cannot_record_its_answer(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """It ran past the abandonment age and a retry ran it afresh: its own transaction is
    refused, so its effects are not made a second time, and the retry's answer stays."""
    await open_shop(client)
    slow = await _claim(client, app, "slow")
    await _age(app, "slow", dt.timedelta(minutes=2))
    retry = await _post(client, "slow", _body(ORDER))
    assert retry.status_code == 201, retry.text

    with pytest.raises(Conflict):
        async with app.state.database.transaction() as session:
            await idempotency.record(session, slow, Response(b'{"id": "slow"}', 201))

    again = await _post(client, "slow", _body(ORDER))
    assert (again.json(), again.headers["idempotent-replayed"]) == (retry.json(), "true")


async def test_a_request_whose_claim_was_taken_over_does_not_release_the_key_when_it_fails(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await open_shop(client)
    slow = await _claim(client, app, "slow")
    await _age(app, "slow", dt.timedelta(minutes=2))
    await _claim(client, app, "slow")  # the retry that took it over, still running
    before = await shop.everything(client)

    await idempotency.release(app.state.database, slow)
    response = await _post(client, "slow", _body(ORDER))

    assert problem(response, 409)["type"].endswith("/conflict")
    assert await shop.everything(client) == before


def _caller(client: httpx.AsyncClient) -> str:
    """The key space of the client's own credentials (an API key)."""
    secret = client.headers["Authorization"].removeprefix("Bearer ")
    return "api_key:" + digest(secret)[:24]
