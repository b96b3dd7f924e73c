"""Many requests at once under one `Idempotency-Key`, on a server with several workers.

Each answer is the first answer replayed, `409` while another request with the key is in
flight, or the request run afresh after a failed attempt released the key; never a 5xx,
and at most one of them does anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.auth import api_key, bearer
from tests.live import TLS, running_server

pytestmark = pytest.mark.slow

CLIENTS = 30
ROUNDS = 5
# A client whose request is in flight elsewhere (or refused, where it waits for a
# location) sends it again after this long, this many times at most.
PAUSE = 0.01
TRIES = 300
ON_HAND = 1000

ORDER = {"location": "K", "lines": [{"sku": "TEA", "quantity": 1}]}
NOWHERE = {"location": "SHOP", "lines": [{"sku": "TEA", "quantity": 1}]}
TOO_MANY = {"sku": "TEA", "location": "K", "delta": -ON_HAND - 1, "reason": "damaged"}


def kind(answer: httpx.Response) -> str:
    """A replay, a refusal while in flight, or the request run afresh."""
    assert answer.status_code < 500, answer.text
    if answer.headers.get("idempotent-replayed") == "true":
        return "replayed"
    if answer.status_code == 409 and answer.json()["type"].endswith("/conflict"):
        return "in flight"
    return "fresh"


def heard(answer: httpx.Response) -> bool:
    return answer.status_code >= 500 or kind(answer) != "in flight"


async def race(
    base: str,
    headers: dict[str, str],
    path: str,
    body: dict[str, Any],
    key: str,
    done: Callable[[httpx.Response], bool] = heard,
) -> list[list[httpx.Response]]:
    """CLIENTS clients send the same request under one key at once, each again until
    `done` with its answer; every client's answers, in order."""
    start = asyncio.Event()

    async def client() -> list[httpx.Response]:
        answers: list[httpx.Response] = []
        async with httpx.AsyncClient(
            verify=TLS, base_url=base, timeout=60, headers=headers
        ) as http:
            await start.wait()
            for _ in range(TRIES):
                answers.append(await http.post(path, json=body, headers={"Idempotency-Key": key}))
                if done(answers[-1]) or answers[-1].status_code >= 500:
                    break
                await asyncio.sleep(PAUSE)
        return answers

    clients = [asyncio.create_task(client()) for _ in range(CLIENTS)]
    await asyncio.sleep(0.2)
    start.set()
    return await asyncio.gather(*clients)


def one_fresh_success(clients: list[list[httpx.Response]]) -> httpx.Response:
    """Every client ends with the same success: one ran the request, the others replay it."""
    answers = [answer for answers in clients for answer in answers]
    assert {kind(a) for a in answers} <= {"fresh", "replayed", "in flight"}
    fresh = [a for a in answers if kind(a) == "fresh" and a.is_success]
    assert len(fresh) == 1, [(a.status_code, a.text) for a in fresh]
    assert fresh[0].status_code == 201, fresh[0].text
    for answer in answers:
        if kind(answer) == "replayed":
            assert (answer.status_code, answer.json()) == (201, fresh[0].json())
    assert all(answers[-1].status_code == 201 for answers in clients)
    return fresh[0]


async def open_shop(http: httpx.AsyncClient) -> None:
    for path, body in (
        ("/v1/locations", {"code": "K", "name": "Kitchen"}),
        ("/v1/products", {"sku": "TEA", "name": "Tea", "price": {"amount": 3, "currency": "EUR"}}),
        (
            "/v1/stock/adjustments",
            {"sku": "TEA", "location": "K", "delta": ON_HAND, "reason": "received"},
        ),
    ):
        response = await http.post(path, json=body)
        assert response.status_code == 201, response.text


async def listed(http: httpx.AsyncClient, path: str) -> list[dict[str, Any]]:
    response = await http.get(path, params={"limit": 200})
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def test_an_order_raced_under_one_key_is_placed_once(database_url: str) -> None:
    headers = bearer(await api_key(database_url))
    with running_server(database_url, workers=2) as base:
        async with httpx.AsyncClient(verify=TLS, base_url=base, headers=headers) as http:
            await open_shop(http)

            for round_ in range(ROUNDS):
                one_fresh_success(await race(base, headers, "/v1/orders", ORDER, f"order-{round_}"))

            assert len(await listed(http, "/v1/orders")) == ROUNDS
            (level,) = await listed(http, "/v1/stock")
            assert level["reserved"] == ROUNDS


@pytest.mark.parametrize(
    ("path", "body", "refusal"),
    [
        ("/v1/orders", NOWHERE, (422, "/validation-error")),
        ("/v1/stock/adjustments", TOO_MANY, (409, "/stock-reserved")),
    ],
    ids=["unknown location", "refused adjustment"],
)
async def test_a_refusal_raced_under_one_key_is_refused_afresh_each_time_and_writes_nothing(
    database_url: str, path: str, body: dict[str, Any], refusal: tuple[int, str]
) -> None:
    """A refusal is not kept: each client waits out the others in flight and hears its own."""
    headers = bearer(await api_key(database_url))
    with running_server(database_url, workers=2) as base:
        async with httpx.AsyncClient(verify=TLS, base_url=base, headers=headers) as http:
            await open_shop(http)
            ledger = await listed(http, "/v1/stock/ledger")

            for round_ in range(ROUNDS):
                clients = await race(base, headers, path, body, f"refused-{round_}")

                for answers in clients:
                    assert [kind(a) for a in answers] == ["in flight"] * (len(answers) - 1) + [
                        "fresh"
                    ]
                    status, problem = refusal
                    assert answers[-1].status_code == status, answers[-1].text
                    assert answers[-1].json()["type"].endswith(problem), answers[-1].text

            assert await listed(http, "/v1/orders") == []
            assert await listed(http, "/v1/stock/ledger") == ledger


async def test_after_raced_refusals_the_first_attempt_that_can_succeed_does_so_once(
    database_url: str,
) -> None:
    """The order is for a location that opens once the first refusal is in; every client
    sends it again while refused or in flight, until it has the order."""
    headers = bearer(await api_key(database_url))
    with running_server(database_url, workers=2) as base:
        async with httpx.AsyncClient(verify=TLS, base_url=base, headers=headers) as http:
            await open_shop(http)

            for round_ in range(ROUNDS):
                location = f"SHOP{round_}"
                refused = asyncio.Event()

                def placed(answer: httpx.Response, refused: asyncio.Event = refused) -> bool:
                    if answer.status_code == 422:
                        refused.set()
                    return answer.status_code == 201

                async def open_location(
                    location: str = location, refused: asyncio.Event = refused
                ) -> None:
                    await refused.wait()
                    body = {"code": location, "name": "Shop"}
                    response = await http.post("/v1/locations", json=body)
                    assert response.status_code == 201, response.text

                opening = asyncio.create_task(open_location())
                order = NOWHERE | {"location": location}
                clients = await race(base, headers, "/v1/orders", order, f"later-{round_}", placed)
                await opening

                one_fresh_success(clients)
                for answer in (a for answers in clients for a in answers):
                    if kind(answer) == "fresh" and answer.status_code != 201:
                        assert answer.json()["type"].endswith("/validation-error"), answer.text

            orders = await listed(http, "/v1/orders")
            assert sorted(o["location"] for o in orders) == [f"SHOP{r}" for r in range(ROUNDS)]
