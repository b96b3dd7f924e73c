"""Events reach a real receiver on this machine, signed; failures are retried in order,
recorded, and in the end disable the endpoint. Schedules are compressed to milliseconds."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from standardwebhooks import Webhook, WebhookVerificationError

from galley.config import Settings, load_settings
from galley.config_values import key_ring
from galley.db import Database
from galley.events.relay import consume_pending, publish_pending
from galley.resealing import reseal, rows_to_reseal
from galley.webhooks import delivery as sending
from galley.webhooks.delivery import deliver_due, pinned
from galley.worker import consumers, run_until_stopped
from tests import shop
from tests.auth import NEXT_DATA_KEY, TEST_DATA_KEYS
from tests.certificates import self_signed
from tests.webhooks.receiver import Receiver, serving

FAST = {
    "webhooks_allow_private": True,
    "webhooks_allow_insecure": True,
    "webhooks_retry_schedule": "0,0.02,0.02,0.02,0.02,0.02",
    "webhooks_timeout_seconds": 5,
}


@pytest.fixture
def settings(database_url: str) -> Settings:
    """A receiver on this machine, over plain http, on a schedule of milliseconds."""
    return load_settings(database_url=database_url, log_level="WARNING", **FAST)


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    db = Database(settings)
    yield db
    await db.dispose()


async def _register(
    client: httpx.AsyncClient, url: str, types: tuple[str, ...] = ("product.created",)
) -> dict[str, Any]:
    response = await client.post(
        "/v1/webhook-endpoints", json={"url": url, "event_types": list(types)}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _deliveries(client: httpx.AsyncClient, endpoint: dict[str, Any]) -> list[dict[str, Any]]:
    response = await client.get(
        f"/v1/webhook-endpoints/{endpoint['id']}/deliveries", params={"limit": 200}
    )
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def _queue(database: Database) -> None:
    """Publish what is pending and let the "webhooks" consumer turn it into deliveries."""
    (webhooks,) = [c for c in consumers(database.settings) if c.name == "webhooks"]
    await publish_pending(database)
    await consume_pending(database, webhooks)


async def _pump(
    database: Database, until: Callable[[], Awaitable[bool] | bool], seconds: float = 20
) -> None:
    """Publish, queue and deliver, as a worker does, once and then until `until` holds."""
    deadline = time.monotonic() + seconds
    while True:
        await _queue(database)
        await deliver_due(database)
        done = until()
        if done if isinstance(done, bool) else await done:
            return
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


async def _products(client: httpx.AsyncClient, count: int) -> list[str]:
    skus = [f"P{n}" for n in range(count)]
    for sku in skus:
        await shop.product(client, sku)
    return skus


async def test_a_receiver_gets_each_event_it_subscribed_to_signed(
    client: httpx.AsyncClient, database: Database, receiver: Receiver
) -> None:
    endpoint = await _register(client, receiver.url)
    await shop.location(client)
    skus = await _products(client, 3)
    await shop.stock(client, "P0", 5)  # stock.adjusted: not subscribed to
    await _pump(database, lambda: len(receiver.received) >= 3)
    await _pump(database, lambda: True)  # anything more would have arrived by now

    assert [r.event["data"]["sku"] for r in receiver.received] == skus
    stream = (await client.get("/v1/events", params={"type": "product.created"})).json()["data"]
    for request, event in zip(receiver.received, stream, strict=True):
        assert request.verified_by(endpoint["secret"]) == event
        assert request.headers["webhook-id"] == event["id"]
        assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60
        assert request.headers["content-type"] == "application/json"
        assert request.path == "/hooks"
        forged = request.body.replace(b"P", b"Q")
        with pytest.raises(WebhookVerificationError):
            Webhook(endpoint["secret"]).verify(forged, request.headers)

    log = await _deliveries(client, endpoint)
    assert [(d["event_id"], d["status"]) for d in log] == [(e["id"], "succeeded") for e in stream]
    for delivery in log:
        (attempt,) = delivery["attempts"]
        assert (attempt["status_code"], attempt["response_body"], attempt["error"]) == (
            200,
            "thanks",
            None,
        )
        assert attempt["duration_ms"] >= 0
        assert delivery["next_attempt_at"] is None


async def test_a_receiver_failing_at_first_gets_every_event_in_order_of_first_attempt(
    client: httpx.AsyncClient, database: Database, receiver: Receiver
) -> None:
    receiver.first = [500, 500, 503]
    endpoint = await _register(client, receiver.url)
    skus = await _products(client, 4)
    await _pump(database, lambda: len(receiver.events(succeeded=True)) >= 4)

    assert [e["data"]["sku"] for e in receiver.events(succeeded=True)] == skus
    # Nothing later is tried before the first event gets through.
    assert [r.event["data"]["sku"] for r in receiver.received] == ["P0"] * 4 + skus[1:]
    for request in receiver.received:
        request.verified_by(endpoint["secret"])
    log = await _deliveries(client, endpoint)
    assert [[a["status_code"] for a in d["attempts"]] for d in log] == [
        [500, 500, 503, 200],
        [200],
        [200],
        [200],
    ]
    first = log[0]["attempts"]
    assert [a["attempted_at"] for a in first] == sorted(a["attempted_at"] for a in first)
    shown = (await client.get(f"/v1/webhook-endpoints/{endpoint['id']}")).json()
    assert shown["failing_since"] is None


async def test_a_receiver_that_always_fails_ends_in_the_log_and_is_disabled(
    client: httpx.AsyncClient, settings: Settings, receiver: Receiver
) -> None:
    receiver.status = 500
    endpoint = await _register(client, receiver.url)
    path = f"/v1/webhook-endpoints/{endpoint['id']}"
    # Enough events to keep failing past `webhooks_disable_after`, which is long enough
    # for the first one's whole schedule (0.1 s) however busy the machine.
    await _products(client, 20)
    failing = Database(
        load_settings(
            database_url=settings.database_url,
            **FAST | {"webhooks_retry_schedule": "0,0.05,0.05"},
            webhooks_disable_after=dt.timedelta(seconds=1),
        )
    )

    async def disabled() -> bool:
        return not (await client.get(path)).json()["enabled"]

    try:
        await _pump(failing, disabled)
        sent = len(receiver.received)
        await _pump(failing, lambda: True)
        await asyncio.sleep(0.2)
        await _pump(failing, lambda: True)
    finally:
        await failing.dispose()

    assert len(receiver.received) == sent  # nothing more once disabled
    assert receiver.events(succeeded=True) == []
    shown = (await client.get(path)).json()
    assert (shown["enabled"], shown["disabled_reason"]) == (False, "failing")
    assert shown["failing_since"] is not None
    log = await _deliveries(client, endpoint)
    assert log[0]["status"] == "failed"  # the whole schedule, then given up
    assert [a["status_code"] for a in log[0]["attempts"]] == [500, 500, 500]
    assert all(a["response_body"] == "thanks" for d in log for a in d["attempts"])
    assert sum(len(d["attempts"]) for d in log) == sent
    assert any(d["status"] == "pending" for d in log)  # they wait for the endpoint

    disabling = await client.get("/v1/events", params={"type": "webhook_endpoint.disabled"})
    (said,) = disabling.json()["data"]
    assert said["data"]["id"] == endpoint["id"]
    assert (said["data"]["enabled"], said["data"]["disabled_reason"]) == (False, "failing")
    assert "secret" not in said["data"]


async def test_enabling_a_disabled_endpoint_resumes_its_deliveries(
    client: httpx.AsyncClient, database: Database, receiver: Receiver
) -> None:
    endpoint = await _register(client, receiver.url)
    path = f"/v1/webhook-endpoints/{endpoint['id']}"
    await _products(client, 1)
    await _queue(database)
    assert (await client.patch(path, json={"enabled": False})).status_code == 200
    await _pump(database, lambda: True)
    assert receiver.received == []

    assert (await client.patch(path, json={"enabled": True})).status_code == 200
    await _pump(database, lambda: len(receiver.received) == 1)
    assert receiver.received[0].event["data"]["sku"] == "P0"


async def test_after_a_rotation_both_secrets_verify_until_the_old_one_expires(
    client: httpx.AsyncClient, database: Database, database_url: str, receiver: Receiver
) -> None:
    endpoint = await _register(client, receiver.url)
    rotated = await client.post(f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret")
    old, new = endpoint["secret"], rotated.json()["secret"]
    await _products(client, 1)
    await _pump(database, lambda: len(receiver.received) == 1)

    (during,) = receiver.received
    assert during.headers["webhook-signature"].count("v1,") == 2
    assert during.verified_by(old) == during.verified_by(new)

    engine = create_async_engine(database_url)
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE webhook_endpoints SET previous_secret_expires_at = :past"),
            {"past": dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)},
        )
    await engine.dispose()
    await shop.product(client, "LATER")
    await _pump(database, lambda: len(receiver.received) == 2)

    after = receiver.received[1]
    assert after.headers["webhook-signature"].count("v1,") == 1
    assert after.verified_by(new)["data"]["sku"] == "LATER"
    with pytest.raises(WebhookVerificationError):
        after.verified_by(old)


async def test_a_secret_resealed_under_a_new_data_key_still_signs(
    client: httpx.AsyncClient, settings: Settings, receiver: Receiver
) -> None:
    endpoint = await _register(client, receiver.url)
    await client.post(f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret")
    rotating = Database(
        settings.model_copy(update={"data_keys": key_ring(f"{NEXT_DATA_KEY},{TEST_DATA_KEYS}")})
    )
    try:
        assert await rows_to_reseal(rotating) == 1
        assert [n async for n in reseal(rotating)] == [1]
    finally:
        await rotating.dispose()
    await _products(client, 1)
    only_new = Database(settings.model_copy(update={"data_keys": key_ring(NEXT_DATA_KEY)}))
    try:
        await _pump(only_new, lambda: len(receiver.received) == 1)
    finally:
        await only_new.dispose()
    assert receiver.received[0].verified_by(endpoint["secret"])["data"]["sku"] == "P0"


async def test_a_redirect_is_not_followed(
    client: httpx.AsyncClient, database: Database, receiver: Receiver
) -> None:
    with serving(Receiver(status=307, location=receiver.url)) as redirecting:
        endpoint = await _register(client, redirecting.url)
        await _products(client, 1)
        await _pump(database, lambda: len(redirecting.answered) >= 2)

    assert receiver.received == []
    (delivery,) = await _deliveries(client, endpoint)
    assert delivery["status"] == "pending"
    assert {a["status_code"] for a in delivery["attempts"]} == {307}


async def test_a_delivery_is_redelivered_on_request(
    client: httpx.AsyncClient, database: Database, receiver: Receiver
) -> None:
    endpoint = await _register(client, receiver.url)
    await _products(client, 1)
    await _pump(database, lambda: len(receiver.received) == 1)
    (delivered,) = await _deliveries(client, endpoint)

    path = f"/v1/webhook-endpoints/{endpoint['id']}/deliveries/{delivered['id']}/redeliver"
    again = await client.post(path)
    assert again.status_code == 201, again.text
    assert again.headers["location"].endswith(f"/deliveries/{again.json()['id']}")
    assert (again.json()["event_id"], again.json()["status"]) == (delivered["event_id"], "pending")
    await _pump(database, lambda: len(receiver.received) == 2)

    first, second = receiver.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivered["event_id"]
    assert second.verified_by(endpoint["secret"]) == first.verified_by(endpoint["secret"])
    shown = (await client.get(again.headers["location"])).json()
    assert shown["status"] == "succeeded"
    assert [d["id"] for d in await _deliveries(client, endpoint)] == [
        delivered["id"],
        again.json()["id"],
    ]

    await client.patch(f"/v1/webhook-endpoints/{endpoint['id']}", json={"enabled": False})
    refused = await client.post(path)
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/webhook-endpoint-disabled")


async def test_an_address_refused_at_delivery_is_never_called(
    client: httpx.AsyncClient, settings: Settings, receiver: Receiver
) -> None:
    endpoint = await _register(client, receiver.url)  # private addresses allowed here…
    await _products(client, 1)
    strict = Database(
        load_settings(
            database_url=settings.database_url, **FAST | {"webhooks_allow_private": False}
        )
    )
    try:  # … and no longer when it is sent
        await _pump(strict, lambda: True)
        await _pump(strict, lambda: True)
    finally:
        await strict.dispose()

    assert receiver.received == []
    (delivery,) = await _deliveries(client, endpoint)
    attempt = delivery["attempts"][0]
    assert attempt["status_code"] is None
    assert attempt["error"] == "refused: url leads to 127.0.0.1, a loopback address"


async def test_only_the_first_kib_of_an_answer_is_kept(
    client: httpx.AsyncClient, database: Database, receiver: Receiver
) -> None:
    receiver.answer = "é".encode() * 4000
    endpoint = await _register(client, receiver.url)
    await _products(client, 1)
    await _pump(database, lambda: len(receiver.answered) == 1)

    (delivery,) = await _deliveries(client, endpoint)
    kept = delivery["attempts"][0]["response_body"]
    assert kept == "é" * 512


async def test_an_answer_later_than_the_timeout_is_a_failure(
    client: httpx.AsyncClient, settings: Settings, receiver: Receiver
) -> None:
    receiver.delay = 1
    endpoint = await _register(client, receiver.url)
    await _products(client, 1)
    impatient = Database(
        load_settings(
            database_url=settings.database_url, **FAST | {"webhooks_timeout_seconds": 0.3}
        )
    )
    try:
        await _pump(impatient, lambda: len(receiver.received) == 1)
        await _pump(impatient, lambda: True)
    finally:
        await impatient.dispose()

    (delivery,) = await _deliveries(client, endpoint)
    attempt = delivery["attempts"][0]
    assert (attempt["status_code"], attempt["error"]) == (None, "no answer within 0.3 s")
    assert 250 <= attempt["duration_ms"] < 1500


async def test_workers_racing_each_other_send_each_delivery_once_and_in_order(
    client: httpx.AsyncClient, database: Database, settings: Settings, receiver: Receiver
) -> None:
    receiver.first = [500] * 3
    endpoints = [await _register(client, f"{receiver.url}/{n}") for n in range(3)]
    skus = await _products(client, 8)
    await _queue(database)
    workers = [Database(settings) for _ in range(4)]

    async def work(db: Database) -> None:
        deadline = time.monotonic() + 20
        while len(receiver.events(succeeded=True)) < 3 * len(skus):
            assert time.monotonic() < deadline
            await deliver_due(db)
            await asyncio.sleep(0.001)

    try:
        await asyncio.gather(*(work(db) for db in workers))
    finally:
        for db in workers:
            await db.dispose()

    for n, endpoint in enumerate(endpoints):
        got = [r for r in receiver.received if r.path == f"/hooks/{n}"]
        assert sorted({r.event["data"]["sku"] for r in got}) == skus
        attempts = sum(len(d["attempts"]) for d in await _deliveries(client, endpoint))
        assert attempts == len(got)  # every request sent is recorded, none twice
    successes = [
        (r.path, r.event["data"]["sku"])
        for r, status in zip(receiver.received, receiver.answered, strict=False)
        if status == 200
    ]
    assert len(successes) == len(set(successes)) == 3 * len(skus)
    for n in range(3):
        assert [sku for path, sku in successes if path == f"/hooks/{n}"] == skus


async def test_the_worker_sends_webhooks(
    client: httpx.AsyncClient, settings: Settings, receiver: Receiver
) -> None:
    await _register(client, receiver.url)
    stop = asyncio.Event()
    worker = asyncio.create_task(
        run_until_stopped(settings.model_copy(update={"events_poll_seconds": 0.02}), stop)
    )
    try:
        await shop.product(client, "TEA")
        deadline = time.monotonic() + 20
        while not receiver.received:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await worker
    assert receiver.received[0].event["data"]["sku"] == "TEA"


async def test_a_host_name_is_kept_while_the_connection_goes_to_its_checked_address(
    client: httpx.AsyncClient, database: Database, receiver: Receiver
) -> None:
    url = receiver.url.replace("127.0.0.1", "localhost")
    await _register(client, url)
    await _products(client, 1)
    await _pump(database, lambda: len(receiver.received) == 1)
    assert receiver.received[0].headers["host"] == url.split("/")[2]


async def test_over_tls_the_certificate_must_match_the_url_s_host_name(
    client: httpx.AsyncClient,
    database: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cert, key = self_signed(tmp_path, "localhost")
    monkeypatch.setattr(sending, "_tls", lambda: ssl.create_default_context(cafile=cert))
    with serving(Receiver(), tls=(cert, key)) as receiver:
        by_name = await _register(client, receiver.url.replace("127.0.0.1", "localhost"))
        by_address = await _register(client, receiver.url)
        await _products(client, 1)
        await _pump(database, lambda: len(receiver.received) == 1)
        await _pump(database, lambda: True)

    # Connected to 127.0.0.1 either way; only the name the certificate is for passes.
    assert receiver.received[0].verified_by(by_name["secret"])["data"]["sku"] == "P0"
    (refused,) = await _deliveries(client, by_address)
    attempt = refused["attempts"][0]
    assert attempt["status_code"] is None
    assert "could not connect" in attempt["error"]
    assert "certificate verify failed" in attempt["error"].lower()


def test_a_request_is_aimed_at_the_address_with_the_url_s_own_host_and_tls_name() -> None:
    address = ipaddress.ip_address("93.184.216.34")
    target, host, extensions = pinned("https://hooks.example.com:8443/in?shop=1", address)
    assert str(target) == "https://93.184.216.34:8443/in?shop=1"
    assert host == {"host": "hooks.example.com:8443"}
    assert extensions == {"sni_hostname": "hooks.example.com"}

    v6 = ipaddress.ip_address("2606:2800:220:1:248:1893:25c8:1946")
    target, host, extensions = pinned("http://hooks.example.com/in", v6)
    assert str(target) == "http://[2606:2800:220:1:248:1893:25c8:1946]/in"
    assert host == {"host": "hooks.example.com"}
    assert extensions == {}
