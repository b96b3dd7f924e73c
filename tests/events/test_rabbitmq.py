"""Events through RabbitMQ: published with confirms, each consumer's queue in stream order,
retries with backoff, dead letters, and a broker that restarts mid-stream."""

from __future__ import annotations

import asyncio
import inspect
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aio_pika
import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from galley.app import create_app
from galley.cli import app as cli
from galley.config import Settings, SettingsError, load_settings
from galley.db import Database
from galley.events.broker import Broker
from galley.events.dead_letters import DeadLettersUnavailable, dead_letters
from galley.events.messages import EXCHANGE
from galley.events.models import ConsumedEvent, Event
from galley.events.relay import Consumer
from galley.events.worker import run_with_broker
from tests import shop
from tests.auth import api_key, bearer
from tests.live import TLS, running_server, running_worker
from tests.services import rabbitmq_stopped, rabbitmq_vhost


@pytest.fixture(scope="session")
def broker_url() -> Iterator[str]:
    """A virtual host of this run's own; each test names consumers of its own in it."""
    with rabbitmq_vhost() as url:
        yield url


@pytest.fixture
def broker_settings(database_url: str, broker_url: str) -> Settings:
    # Three attempts, 50 ms then 100 ms apart: a poison event is set aside in a moment.
    return load_settings(
        database_url=database_url,
        log_level="WARNING",
        broker_url=broker_url,
        events_poll_seconds=0.05,
        events_max_attempts=3,
        events_retry_seconds=0.05,
    )


class Recorder:
    """A consumer that remembers the ids of the events it acted on, in order, and fails on
    the products whose SKU it is told to refuse."""

    def __init__(self, types: Sequence[str] = (), refuse: Sequence[str] = ()) -> None:
        self.name = f"recorder-{uuid.uuid4().hex[:8]}"
        self.consumer = Consumer(self.name, frozenset(types), self.handle)
        self.refuse = set(refuse)
        self.seen: list[str] = []
        self.tries: dict[str, int] = {}

    async def handle(self, session: AsyncSession, event: Event) -> None:
        self.tries[event.id] = self.tries.get(event.id, 0) + 1
        if event.data.get("sku") in self.refuse:
            raise RuntimeError(f"cannot take {event.data['sku']}")
        self.seen.append(event.id)


@asynccontextmanager
async def working(
    settings: Settings, consumers: Sequence[Consumer], *, workers: int = 1
) -> AsyncIterator[list[asyncio.Task[None]]]:
    """Workers publishing through RabbitMQ and running `consumers`, each on a database
    connection of its own, as separate processes would."""
    stop = asyncio.Event()
    databases = [Database(settings) for _ in range(workers)]
    tasks = [
        asyncio.create_task(run_with_broker(db, consumers, stop, settings)) for db in databases
    ]
    try:
        yield tasks
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
        for database in databases:
            await database.dispose()


async def eventually(condition: Callable[[], Any], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while True:
        held = condition()
        if inspect.isawaitable(held):
            held = await held
        if held:
            return
        if time.monotonic() > deadline:
            raise AssertionError("not reached in time")
        await asyncio.sleep(0.05)


async def _stream(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/v1/events", params={"limit": 200, **params})
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def _consumed(settings: Settings, consumer: str) -> int:
    database = Database(settings)
    try:
        async with database.transaction(read_only=True) as session:
            stmt = select(func.count()).where(ConsumedEvent.consumer == consumer)
            return int((await session.execute(stmt)).scalar_one())
    finally:
        await database.dispose()


def _galley(*args: str, broker_url: str) -> str:
    result = CliRunner().invoke(cli, list(args), env={"GALLEY_BROKER_URL": broker_url})
    assert result.exit_code == 0, result.output
    return result.output


async def test_events_placed_through_the_api_reach_each_consumer_once_in_stream_order(
    client: httpx.AsyncClient, broker_settings: Settings
) -> None:
    everything, products = Recorder(), Recorder(types=["product.created"])
    consumers = [everything.consumer, products.consumer]
    async with working(broker_settings, consumers, workers=2):
        await shop.location(client)
        for n in range(15):
            await shop.product(client, f"P{n}")
            await shop.stock(client, f"P{n}", 3)
        await shop.order(client, ("P0", 1))
        await eventually(lambda: len(everything.seen) == 31 and len(products.seen) == 15)

        # The broker delivers every event a second time: the inboxes make that change nothing.
        database = Database(broker_settings)
        try:
            async with database.transaction(read_only=True) as session:
                published = list(
                    (await session.execute(select(Event).order_by(Event.position))).scalars()
                )
        finally:
            await database.dispose()
        again = await Broker.connect(broker_settings, [])
        try:
            await again.publish(published)
        finally:
            await again.close()
        await shop.product(client, "LAST")  # queued behind the second copies
        await eventually(lambda: len(products.seen) == 16)
        await eventually(lambda: len(everything.seen) == 32)

    stream = await _stream(client)
    assert everything.seen == [e["id"] for e in stream]
    assert products.seen == [e["id"] for e in stream if e["type"] == "product.created"]
    assert await _consumed(broker_settings, everything.name) == 32


async def test_a_poison_event_is_dead_lettered_after_its_attempts_without_holding_up_the_rest(
    client: httpx.AsyncClient, broker_settings: Settings, broker_url: str
) -> None:
    recorder = Recorder(types=["product.created"], refuse=["POISON"])
    async with working(broker_settings, [recorder.consumer]):
        await shop.location(client)
        for sku in ("A", "POISON", "B", "C"):
            await shop.product(client, sku)
        await eventually(lambda: len(recorder.seen) == 3)
        ids = {e["data"]["sku"]: e["id"] for e in await _stream(client, type="product.created")}
        assert recorder.seen == [ids["A"], ids["B"], ids["C"]]

        await eventually(lambda: _dead_letters(broker_url, recorder.name, expected=1), seconds=10)
        (letter,) = await dead_letters(broker_url, [recorder.name], limit=10)
        assert (letter.event_id, letter.type, letter.attempts) == (
            ids["POISON"],
            "product.created",
            3,
        )
        assert letter.error == "RuntimeError: cannot take POISON"
        assert recorder.tries[ids["POISON"]] == 3
        listed = await asyncio.to_thread(
            _galley, "events", "dead-letters", "--consumer", recorder.name, broker_url=broker_url
        )
        assert ids["POISON"] in listed
        assert "RuntimeError: cannot take POISON" in listed

        # Fixed, the consumer takes it once it is put back, with its attempts anew.
        recorder.refuse.clear()
        requeued = await asyncio.to_thread(
            _galley,
            "events",
            "retry",
            "--consumer",
            recorder.name,
            "--id",
            ids["POISON"],
            broker_url=broker_url,
        )
        assert "1 dead letter put back" in requeued
        await eventually(lambda: len(recorder.seen) == 4)

    assert recorder.seen == [ids["A"], ids["B"], ids["C"], ids["POISON"]]
    assert recorder.tries[ids["POISON"]] == 4
    assert await dead_letters(broker_url, [recorder.name], limit=10) == []
    assert await _consumed(broker_settings, recorder.name) == 4


async def _dead_letters(url: str, consumer: str, expected: int) -> bool:
    try:
        return len(await dead_letters(url, [consumer], limit=10)) == expected
    except DeadLettersUnavailable:  # the worker has not declared the consumer's queues yet
        return False


async def test_retry_puts_back_only_the_event_named(
    client: httpx.AsyncClient, broker_settings: Settings, broker_url: str
) -> None:
    recorder = Recorder(types=["product.created"], refuse=["POISON", "POISON-2"])
    async with working(broker_settings, [recorder.consumer]):
        await shop.location(client)
        await shop.product(client, "POISON")
        await shop.product(client, "POISON-2")
        await eventually(lambda: _dead_letters(broker_url, recorder.name, expected=2))
        first, second = (e["id"] for e in await _stream(client, type="product.created"))
        recorder.refuse.clear()
        output = await asyncio.to_thread(
            _galley, "events", "retry", "--id", second, "--consumer", recorder.name,
            broker_url=broker_url,
        )  # fmt: skip
        assert "1 dead letter put back" in output
        await eventually(lambda: recorder.seen == [second])
        (left,) = await dead_letters(broker_url, [recorder.name], limit=10)
        assert left.event_id == first


async def test_a_rabbitmq_restart_mid_stream_loses_nothing_and_publishing_resumes_by_itself(
    client: httpx.AsyncClient, broker_settings: Settings
) -> None:
    recorder = Recorder(types=["product.created"])
    made: list[str] = []
    making = asyncio.Event()

    async def keep_making_products() -> None:
        while not making.is_set():
            await shop.product(client, f"P{len(made)}")
            made.append(f"P{len(made)}")
            await asyncio.sleep(0.05)

    async with working(broker_settings, [recorder.consumer]) as (worker,):
        await shop.location(client)
        maker = asyncio.create_task(keep_making_products())
        try:
            await eventually(lambda: len(recorder.seen) >= 5)
            async with rabbitmq_stopped():
                during = len(made)
                await eventually(lambda: len(made) >= during + 10)  # while it is down
            after = len(made)
            await eventually(lambda: len(made) >= after + 10)
        finally:
            making.set()
            await maker
        await eventually(lambda: len(recorder.seen) == len(made), seconds=30)
        assert not worker.done()

    stream = await _stream(client, type="product.created")
    assert [e["data"]["sku"] for e in stream] == made
    assert recorder.seen == [e["id"] for e in stream]


async def test_galley_worker_sends_each_event_to_rabbitmq_as_the_api_shows_it(
    database_url: str, broker_url: str
) -> None:
    headers = bearer(await api_key(database_url))
    connection = await aio_pika.connect(broker_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        listening = await channel.declare_queue(exclusive=True)
        await listening.bind(exchange, "product.*")
        with running_server(database_url) as base:
            worker_env = {"GALLEY_BROKER_URL": broker_url}
            with running_worker(database_url, env=worker_env) as worker:
                created = httpx.post(
                    f"{base}/v1/products",
                    verify=TLS,
                    json={"sku": "TEA", "name": "Tea", "price": {"amount": 250, "currency": "EUR"}},
                    headers=headers,
                )
                assert created.status_code == 201
                received: list[aio_pika.abc.AbstractIncomingMessage] = []

                async def arrived() -> bool:
                    message = await listening.get(fail=False, no_ack=True)
                    if message is not None:
                        received.append(message)
                    return bool(received)

                await eventually(arrived)
            assert worker.returncode == 0
            (item,) = httpx.get(f"{base}/v1/events", headers=headers, verify=TLS).json()["data"]

    (message,) = received
    assert json.loads(message.body) == item
    assert message.message_id == item["id"]
    assert message.routing_key == "product.created"
    assert message.content_type == "application/json"
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT


async def test_readyz_names_rabbitmq_when_it_does_not_answer(database_url: str) -> None:
    settings = load_settings(
        database_url=database_url, broker_url="amqp://guest:guest@127.0.0.1:1/"
    )
    app = create_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        ready = await c.get("/readyz")
    await app.state.engine.dispose()
    assert ready.status_code == 503
    assert ready.headers["content-type"] == "application/problem+json"
    assert ready.json()["down"] == ["broker"]
    assert ready.json()["detail"] == "RabbitMQ does not answer."


async def test_readyz_answers_when_rabbitmq_does(database_url: str, broker_url: str) -> None:
    app = create_app(load_settings(database_url=database_url, broker_url=broker_url))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        ready = [(await c.get("/readyz")).status_code for _ in range(2)]
    await app.state.broker.close()
    await app.state.engine.dispose()
    assert ready == [200, 200]


def test_a_malformed_broker_url_is_refused_without_repeating_its_password() -> None:
    with pytest.raises(SettingsError, match="GALLEY_BROKER_URL") as refused:
        load_settings(broker_url="amqp://guest:s3cret@rabbitmq.internal:port/")
    assert "s3cret" not in str(refused.value)
