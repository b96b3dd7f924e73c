"""Every business change writes its event in its own transaction; the relay publishes them
in order; consumers act on each once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

import httpx
import pytest
from sqlalchemy import event as orm_event
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from galley.cli import app as cli
from galley.config import Settings
from galley.db import Database
from galley.events import failures
from galley.events.models import Event
from galley.events.relay import (
    Consumer,
    consume_pending,
    handle_once,
    publish_pending,
    retry_set_aside,
)
from galley.events.worker import run
from tests import shop
from tests.auth import api_key, bearer


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    db = Database(settings)
    yield db
    await db.dispose()


async def _stream(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/v1/events", params={"limit": 200, **params})
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def _pending(database: Database) -> int:
    async with database.transaction(read_only=True) as session:
        stmt = select(func.count()).select_from(Event).where(Event.position.is_(None))
        return int((await session.execute(stmt)).scalar_one())


async def test_an_order_placed_is_an_event_once_published(
    client: httpx.AsyncClient, database: Database
) -> None:
    await shop.location(client)
    await shop.product(client, "TEA")
    await shop.stock(client, "TEA", 5)
    order = await shop.order(client, ("TEA", 2))

    assert await _pending(database) == 3  # product.created, stock.adjusted, order.placed
    assert await _stream(client) == []
    assert await publish_pending(database) == 3

    events = await _stream(client)
    assert [e["type"] for e in events] == ["product.created", "stock.adjusted", "order.placed"]
    placed = events[-1]
    # The order as the API shows it, but for personal data, which stays sealed in Galley.
    assert placed["data"] == {field: v for field, v in order.items() if field != "delivery"}
    assert placed["version"] == 1
    assert placed["id"].startswith("evt_")
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)


async def test_events_carry_no_personal_data(client: httpx.AsyncClient, database: Database) -> None:
    await shop.location(client)
    await shop.product(client, "TEA")
    delivery = {"name": "Ada Lovelace", "phone": "+44 20 7946 0958", "address": "12 Mill Lane"}
    order = await shop.order(client, ("TEA", 1), delivery=delivery)
    assert order["delivery"] == delivery
    await client.post(f"/v1/orders/{order['id']}/cancel", json={})
    await publish_pending(database)

    for event in await _stream(client, type=["order.placed", "order.cancelled"]):
        assert "delivery" not in event["data"]
        assert "Lovelace" not in str(event)


async def test_a_refused_request_leaves_no_event(
    client: httpx.AsyncClient, database: Database
) -> None:
    await shop.location(client)
    await shop.product(client, "TEA", replenishment={"allow_backorder": False})
    await publish_pending(database)
    refused = await client.post(
        "/v1/orders", json={"location": "KITCHEN", "lines": [{"sku": "TEA", "quantity": 1}]}
    )
    assert refused.status_code == 409
    assert await _pending(database) == 0


async def test_each_step_of_an_order_and_its_purchase_is_an_event(
    client: httpx.AsyncClient, database: Database
) -> None:
    await shop.location(client)
    supplier = await shop.supplier(client, auto_send=True)
    await shop.product(client, "TEA", supplier=supplier)
    waiting = await shop.order(client, ("TEA", 2))
    (po,) = (await client.get("/v1/purchase-orders")).json()["data"]
    received = await client.post(
        f"/v1/purchase-orders/{po['id']}/receipts",
        json={"lines": [{"sku": "TEA", "quantity": po["lines"][0]["quantity_ordered"]}]},
    )
    assert received.status_code == 201, received.text
    for action in ("start", "ready", "complete"):
        assert (await client.post(f"/v1/orders/{waiting['id']}/{action}")).status_code == 200
    cancelled = await shop.order(client, ("TEA", 1))
    assert (await client.post(f"/v1/orders/{cancelled['id']}/cancel", json={})).status_code == 200
    await client.patch("/v1/products/TEA", json={"name": "Green tea"})
    await publish_pending(database)

    types = [(e["type"], e["data"].get("status")) for e in await _stream(client)]
    assert types == [
        ("product.created", None),
        # What an order makes happen is told after the order itself.
        ("order.placed", "awaiting_stock"),
        ("purchase_order.created", "draft"),
        ("purchase_order.sent", "sent"),
        ("purchase_order.received", "received"),
        ("order.status_changed", "confirmed"),
        ("order.status_changed", "preparing"),
        ("order.status_changed", "ready"),
        ("order.completed", "completed"),
        ("order.placed", "confirmed"),
        ("stock.low", None),  # that order took the last unit
        ("order.cancelled", "cancelled"),
        ("product.updated", None),
    ]


async def test_the_stream_pages_by_event_id_and_filters_by_type(
    client: httpx.AsyncClient, database: Database
) -> None:
    await shop.location(client)
    for sku in ("A", "B", "C"):
        await shop.product(client, sku)
    await shop.stock(client, "A", 1)
    await publish_pending(database)
    every = await _stream(client)

    first = (await client.get("/v1/events", params={"limit": 2})).json()
    assert [e["id"] for e in first["data"]] == [e["id"] for e in every[:2]]
    rest = await _stream(client, after=first["next_cursor"])
    assert [e["id"] for e in first["data"] + rest] == [e["id"] for e in every]
    assert [e["data"]["sku"] for e in await _stream(client, type="product.created")] == [
        "A",
        "B",
        "C",
    ]
    unknown = await client.get("/v1/events", params={"after": "evt_" + "0" * 32})
    assert unknown.status_code == 422


@pytest.mark.parametrize("role", ["staff", "manager"])
async def test_only_administrators_read_the_stream(
    client: httpx.AsyncClient, database_url: str, role: Any
) -> None:
    response = await client.get("/v1/events", headers=bearer(await api_key(database_url, role)))
    assert response.status_code == 403


async def test_relays_racing_each_other_publish_each_event_once_in_one_order(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await shop.location(client)
    for n in range(40):
        await shop.product(client, f"P{n}")
    relays = [Database(settings) for _ in range(4)]
    try:
        while sum(await asyncio.gather(*(publish_pending(r, batch=3) for r in relays))):
            pass
    finally:
        for relay in relays:
            await relay.dispose()

    events = await _stream(client)
    assert [e["data"]["sku"] for e in events] == [f"P{n}" for n in range(40)]


def once_committed(session: AsyncSession, effect: Callable[[], None]) -> None:
    """`effect` when the session's transaction commits, as a row a consumer writes is kept
    only then (a transaction that fails or is run again keeps nothing)."""
    orm_event.listen(session.sync_session, "after_commit", lambda _: effect(), once=True)


class Recorder:
    """A consumer that remembers what it saw, and can be told to fail."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.failing = False

    async def handle(self, session: AsyncSession, event: Event) -> None:
        if self.failing:
            raise RuntimeError("consumer down")
        once_committed(session, partial(self.seen.append, event.type))


async def test_a_consumer_acts_on_each_event_once_and_resumes_where_it_stopped(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    recorder = Recorder()
    consumer = Consumer("recorder", frozenset({"product.created"}), recorder.handle)
    await shop.location(client)
    await shop.product(client, "A")
    await shop.stock(client, "A", 1)
    await publish_pending(database)

    assert await consume_pending(database, consumer) == 2
    assert recorder.seen == ["product.created"]
    assert await consume_pending(database, consumer) == 0

    await shop.product(client, "B")
    await publish_pending(database)
    recorder.failing = True
    quick = settings.model_copy(update={"events_retry_seconds": 0.01})
    failing, elsewhere = Database(quick), Database(quick)
    try:
        assert await consume_pending(failing, consumer) == 0  # to be tried again
        recorder.failing = False
        await asyncio.sleep(0.05)
        # Another process of the same consumer picks up where the last one stopped.
        assert await consume_pending(elsewhere, consumer) == 1
    finally:
        await failing.dispose()
        await elsewhere.dispose()
    assert recorder.seen == ["product.created", "product.created"]


async def test_a_consumer_goes_through_a_batch_of_events_in_one_transaction(
    client: httpx.AsyncClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder()
    consumer = Consumer("recorder", frozenset({"product.created"}), recorder.handle)
    await shop.location(client)
    await shop.product(client, "A")
    for _ in range(5):
        await shop.stock(client, "A", 1)
    await shop.product(client, "B")
    await shop.stock(client, "B", 1)
    await publish_pending(database)
    transactions = 0
    real = database.run

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal transactions
        transactions += 1
        return await real(*args, **kwargs)

    monkeypatch.setattr(database, "run", counted)

    # A, five adjustments, B, one adjustment: the two it wants and the six it does not.
    assert await consume_pending(database, consumer) == 8
    assert transactions == 1
    assert recorder.seen == ["product.created", "product.created"]
    assert await consume_pending(database, consumer) == 0


async def test_an_event_a_consumer_failed_on_waits_before_it_is_tried_again(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    recorder = Recorder()
    consumer = Consumer("recorder", frozenset({"product.created"}), recorder.handle)
    database = Database(settings.model_copy(update={"events_retry_seconds": 0.3}))
    try:
        await shop.product(client, "A")
        await shop.product(client, "B")
        await publish_pending(database)
        recorder.failing = True
        assert await consume_pending(database, consumer) == 0
        recorder.failing = False
        # Not yet: neither the event that failed nor the one after it.
        assert await consume_pending(database, consumer) == 0
        assert recorder.seen == []
        await asyncio.sleep(0.35)
        assert await consume_pending(database, consumer) == 2
        assert recorder.seen == ["product.created", "product.created"]
        assert await failures.dead_letters(database, ["recorder"], limit=10) == []
        async with database.transaction(read_only=True) as session:
            assert await failures.waiting(session, "recorder") == {}
    finally:
        await database.dispose()


async def test_the_events_of_a_batch_before_the_one_that_failed_are_kept(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    database = Database(settings.model_copy(update={"events_retry_seconds": 60}))
    poisoned = Poisoned("B")
    consumer = Consumer("poisoned", frozenset({"product.created"}), poisoned.handle)
    try:
        for sku in ("A", "B", "C"):
            await shop.product(client, sku)
        await publish_pending(database)
        assert await consume_pending(database, consumer) == 1
        assert poisoned.seen == ["A"]
        async with database.transaction(read_only=True) as session:
            (b,) = (await session.execute(select(Event).where(Event.position == 2))).scalars()
            assert list(await failures.waiting(session, "poisoned")) == [b.id]
        assert await consume_pending(database, consumer) == 0
        assert poisoned.seen == ["A"]
    finally:
        await database.dispose()


async def test_an_event_that_always_fails_is_set_aside_and_the_others_go_on(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """As through RabbitMQ: a poison event ends with the dead letters after
    GALLEY_EVENTS_MAX_ATTEMPTS attempts, is listed with its error, and can be retried."""
    quick = {"events_max_attempts": 3, "events_retry_seconds": 0.01}
    database = Database(settings.model_copy(update=quick))
    poisoned = Poisoned("POISON")
    consumer = Consumer("poisoned", frozenset({"product.created"}), poisoned.handle)
    try:
        for sku in ("A", "POISON", "B"):
            await shop.product(client, sku)
        await publish_pending(database)
        for _ in range(200):
            await consume_pending(database, consumer)
            if len(poisoned.seen) == 2:
                break
            await asyncio.sleep(0.01)
        assert poisoned.seen == ["A", "B"]
        assert poisoned.tries == 3

        url = settings.database_url.render_as_string(hide_password=False)
        env = {"GALLEY_DATABASE_URL": url, "GALLEY_BROKER_URL": ""}
        command = ["events", "dead-letters", "--consumer", "poisoned"]
        listed = await asyncio.to_thread(CliRunner().invoke, cli, command, env=env)
        assert listed.exit_code == 0, listed.output
        (row,) = listed.output.strip().splitlines()[1:]
        assert row.split()[1:4] == ["product.created", "poisoned", "3"]
        assert row.endswith("RuntimeError: cannot take POISON")

        # Still failing: it stays set aside. Fixed: acted on, and gone from the list.
        assert await retry_set_aside(database, [consumer]) == (0, 1)
        poisoned.refuse = None
        assert await retry_set_aside(database, [consumer]) == (1, 0)
        assert poisoned.seen == ["A", "B", "POISON"]
        assert await failures.dead_letters(database, ["poisoned"], limit=10) == []
        assert await consume_pending(database, consumer) == 0
        command = ["events", "retry", "--consumer", "nobody"]
        unknown = await asyncio.to_thread(CliRunner().invoke, cli, command, env=env)
        assert unknown.exit_code == 1
        assert "there is no consumer 'nobody'" in unknown.output
    finally:
        await database.dispose()


class Poisoned:
    """A consumer that fails on the product `refuse`, and remembers the SKUs it took."""

    def __init__(self, refuse: str) -> None:
        self.refuse: str | None = refuse
        self.seen: list[str] = []
        self.tries = 0

    async def handle(self, session: AsyncSession, event: Event) -> None:
        if event.data["sku"] == "POISON":
            self.tries += 1
        if event.data["sku"] == self.refuse:
            raise RuntimeError(f"cannot take {self.refuse}")
        once_committed(session, partial(self.seen.append, str(event.data["sku"])))


async def test_a_redelivered_event_changes_nothing(
    client: httpx.AsyncClient, database: Database
) -> None:
    recorder = Recorder()
    consumer = Consumer("recorder", frozenset(), recorder.handle)
    await shop.location(client)
    await shop.product(client, "A")
    await publish_pending(database)
    async with database.transaction(read_only=True) as session:
        (event,) = (await session.execute(select(Event))).scalars()
    for expected in (True, False):
        async with database.transaction() as session:
            assert await handle_once(session, consumer, event) is expected
    assert recorder.seen == ["product.created"]


async def test_the_worker_publishes_and_consumes_until_stopped(
    client: httpx.AsyncClient, database: Database
) -> None:
    recorder = Recorder()
    stop = asyncio.Event()
    worker = asyncio.create_task(
        run(
            database,
            [Consumer("recorder", frozenset(), recorder.handle)],
            stop,
            poll_seconds=0.05,
            gather_seconds=0.05,
        )
    )
    await shop.location(client)
    await shop.product(client, "A")
    for _ in range(100):
        if recorder.seen:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await worker
    assert recorder.seen == ["product.created"]
