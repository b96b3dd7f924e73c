"""Orders for one hot product, placed at once in one process, take their stock together
(`galley.convoys`), and every promise holds as if each had run alone."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from galley import convoys
from galley.app import create_app
from galley.config import load_settings
from galley.reruns import Rerun
from tests import shop
from tests.auth import api_key, bearer
from tests.stock_figures import drift, rows

pytestmark = pytest.mark.postgres

AT_ONCE = 40


@pytest.fixture
async def client(postgres_database: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = load_settings(
        database_url=postgres_database, log_level="WARNING", database_pool_size=AT_ONCE + 5
    )
    app = create_app(settings)
    headers = bearer(await api_key(postgres_database))
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://galley.test",
            headers=headers,
            timeout=60,
        ) as http:
            await shop.location(http)
            yield http
        assert drift(await rows(app.state.engine)) == []
    finally:
        await app.state.engine.dispose()


class Convoys:
    """Every seat taken, and how each transaction that led or followed ended."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seats: list[convoys.Seat] = []
        self.ended: list[BaseException | None] = []
        board, release = convoys.board, convoys.release

        async def boarding(*args: Any) -> convoys.Seat:
            seat = await board(*args)
            self.seats.append(seat)
            return seat

        def releasing(session: Any, failed: BaseException | None) -> None:
            if session.info.get("galley.convoy") is not None:
                self.ended.append(failed)
            release(session, failed)

        monkeypatch.setattr(convoys, "board", boarding)
        monkeypatch.setattr(convoys, "release", releasing)

    @property
    def most_followers(self) -> int:
        return max((len(seat.followers) for seat in self.seats), default=0)

    def sent_back(self, why: str) -> bool:
        return any(isinstance(e, Rerun) and why in str(e) for e in self.ended)


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> Convoys:
    return Convoys(monkeypatch)


async def _at_once(
    client: httpx.AsyncClient, quantity: int, keys: list[str] | None = None
) -> list[httpx.Response]:
    body = {"location": "KITCHEN", "lines": [{"sku": "HOT", "quantity": quantity}]}
    keys = keys or [str(uuid.uuid4()) for _ in range(AT_ONCE)]
    return await asyncio.gather(
        *(client.post("/v1/orders", json=body, headers={"Idempotency-Key": k}) for k in keys)
    )


async def test_orders_for_one_hot_product_take_their_stock_together(
    client: httpx.AsyncClient, seen: Convoys
) -> None:
    await shop.product(client, "HOT")
    await shop.stock(client, "HOT", 1000)
    keys = [str(uuid.uuid4()) for _ in range(AT_ONCE)]
    placed = await _at_once(client, 2, keys)

    assert [r.status_code for r in placed] == [201] * AT_ONCE, placed[0].text
    assert {r.json()["lines"][0]["allocated"] for r in placed} == {2}
    assert len({r.json()["id"] for r in placed}) == AT_ONCE
    assert seen.most_followers > 0, "no two orders took their stock together"
    level = await shop.level(client, "HOT")
    assert (level["reserved"], level["available"]) == (2 * AT_ONCE, 1000 - 2 * AT_ONCE)
    # Each follower's writes were committed with its leader's: its order, its history, its
    # idempotency answer.
    again = await _at_once(client, 2, keys)
    assert [r.json()["id"] for r in again] == [r.json()["id"] for r in placed]
    for response in placed[:5]:
        history = await client.get(f"/v1/orders/{response.json()['id']}/events")
        assert history.status_code == 200, history.text
        assert [event["type"] for event in history.json()["data"]] == ["placed", "allocated"]


async def test_a_convoy_the_stock_cannot_cover_runs_each_order_again_alone(
    client: httpx.AsyncClient, seen: Convoys
) -> None:
    await shop.product(client, "HOT")
    await shop.stock(client, "HOT", 25)
    placed = await _at_once(client, 1)

    assert [r.status_code for r in placed] == [201] * AT_ONCE, placed[0].text
    lines = [r.json()["lines"][0] for r in placed]
    assert sum(line["allocated"] for line in lines) == 25
    assert sum(line["backordered"] for line in lines) == AT_ONCE - 25
    level = await shop.level(client, "HOT")
    assert (level["reserved"], level["backordered"]) == (25, AT_ONCE - 25)


async def test_a_follower_that_must_send_a_statement_sends_the_convoy_back(
    client: httpx.AsyncClient, seen: Convoys
) -> None:
    """Below its reorder point, each order adds to the supplier's draft: a statement a
    follower may not send, so every order of that convoy runs again alone."""
    supplier = await shop.supplier(client)
    await shop.product(
        client,
        "HOT",
        supplier=supplier,
        replenishment={"reorder_point": 5000, "reorder_quantity": 1, "margin_pct": 0},
    )
    await shop.stock(client, "HOT", 1000)
    placed = await _at_once(client, 1)

    assert [r.status_code for r in placed] == [201] * AT_ONCE, placed[0].text
    assert {r.json()["lines"][0]["allocated"] for r in placed} == {1}
    assert seen.sent_back("sent a statement of its own")
    assert (await shop.level(client, "HOT"))["reserved"] == AT_ONCE


async def test_a_leader_waits_for_its_followers_only_so_long(
    client: httpx.AsyncClient, seen: Convoys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The leader holds the stock row while it waits: a follower late to hand in its
    writes sends the convoy back, and every order runs again alone."""
    monkeypatch.setattr(convoys, "HAND_IN_SECONDS", 0.05)
    late(monkeypatch, "hand_in", 0.3)
    await shop.product(client, "HOT")
    await shop.stock(client, "HOT", 1000)
    placed = await _at_once(client, 1)

    assert [r.status_code for r in placed] == [201] * AT_ONCE, placed[0].text
    assert seen.sent_back("did not hand in its writes in time")
    assert (await shop.level(client, "HOT"))["reserved"] == AT_ONCE


def late(monkeypatch: pytest.MonkeyPatch, name: str, seconds: float) -> None:
    original: Callable[..., Awaitable[Any]] = getattr(convoys, name)

    async def slow(*args: Any) -> Any:
        await asyncio.sleep(seconds)
        return await original(*args)

    monkeypatch.setattr(convoys, name, slow)
