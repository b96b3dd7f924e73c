"""Sent purchase orders reach their suppliers: as a webhook signed with the supplier's own
secret, and as an e-mail through a real SMTP server on this machine; each dispatch's state
shows on the purchase order. Schedules are compressed to milliseconds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from standardwebhooks import Webhook

from galley.app import create_app
from galley.config import Settings, load_settings
from galley.db import Database
from galley.events.relay import consume_pending, publish_pending
from galley.purchasing.sending import send_due
from galley.worker import consumers, run_until_stopped
from tests import shop
from tests.auth import api_key
from tests.mailbox import Mailbox
from tests.mailbox import serving as mail_serving
from tests.problems import problem
from tests.services import rabbitmq_vhost
from tests.webhooks.receiver import Receiver
from tests.webhooks.receiver import serving as hook_serving

FAST = {
    "webhooks_allow_private": True,
    "webhooks_allow_insecure": True,
    "webhooks_retry_schedule": "0,0.02,0.02,0.02",
    "webhooks_timeout_seconds": 5,
    "smtp_from": "Galley purchasing <purchasing@shop.example>",
}


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with mail_serving(Mailbox()) as running:
        yield running


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with hook_serving(Receiver()) as running:
        yield running


@pytest.fixture
def settings(database_url: str, mailbox: Mailbox) -> Settings:
    return load_settings(
        database_url=database_url, log_level="WARNING", smtp_url=mailbox.url, **FAST
    )


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    db = Database(settings)
    yield db
    await db.dispose()


async def _supplier(client: httpx.AsyncClient, **extra: Any) -> dict[str, Any]:
    body = {"name": "Mill & Sons", "lead_time_days": 2, "currency": "EUR"} | extra
    response = await client.post("/v1/suppliers", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _sent_order(client: httpx.AsyncClient, supplier: dict[str, Any]) -> dict[str, Any]:
    await shop.location(client)
    for sku in ("FLOUR", "RYE"):
        await shop.product(client, sku)
    response = await client.post(
        "/v1/purchase-orders",
        json={
            "supplier": supplier["id"],
            "location": "KITCHEN",
            "lines": [
                {"sku": "FLOUR", "quantity": 40, "unit_cost": {"amount": 125, "currency": "EUR"}},
                {"sku": "RYE", "quantity": 7},
            ],
        },
    )
    assert response.status_code == 201, response.text
    sent = await client.post(f"/v1/purchase-orders/{response.json()['id']}/send")
    assert sent.status_code == 200, sent.text
    return dict(sent.json())


async def _pump(
    database: Database, until: Callable[[], Awaitable[bool] | bool], seconds: float = 20
) -> None:
    """Publish, queue and send, as a worker does, once and then until `until` holds."""
    (suppliers,) = [c for c in consumers(database.settings) if c.name == "suppliers"]
    deadline = time.monotonic() + seconds
    while True:
        await publish_pending(database)
        await consume_pending(database, suppliers)
        await send_due(database)
        done = until()
        if done if isinstance(done, bool) else await done:
            return
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


async def _dispatch(client: httpx.AsyncClient, po_id: str) -> dict[str, dict[str, Any]]:
    response = await client.get(f"/v1/purchase-orders/{po_id}")
    assert response.status_code == 200, response.text
    return {d["channel"]: d for d in response.json()["dispatch"]}


def _settled(client: httpx.AsyncClient, po_id: str) -> Callable[[], Awaitable[bool]]:
    async def settled() -> bool:
        found = await _dispatch(client, po_id)
        return bool(found) and all(d["status"] != "pending" for d in found.values())

    return settled


async def test_a_sent_purchase_order_reaches_the_supplier_signed_and_by_email(
    client: httpx.AsyncClient, database: Database, receiver: Receiver, mailbox: Mailbox
) -> None:
    supplier = await _supplier(client, webhook_url=receiver.url, email="orders@mill.example")
    secret = supplier["webhook_secret"]
    assert secret.startswith("whsec_")
    assert "webhook_secret" not in (await client.get(f"/v1/suppliers/{supplier['id']}")).json()
    order = await _sent_order(client, supplier)
    assert order["dispatch"] == []  # on its way once the worker has seen the event

    await _pump(database, _settled(client, order["id"]))

    (hook,) = receiver.received
    event = hook.verified_by(secret)
    assert event["type"] == "purchase_order.sent"
    assert event["data"]["id"] == order["id"]
    assert (event["data"]["status"], event["data"]["sent_at"]) == ("sent", order["sent_at"])
    assert "dispatch" not in event["data"]
    assert [(line["sku"], line["quantity_ordered"]) for line in event["data"]["lines"]] == [
        ("FLOUR", 40),
        ("RYE", 7),
    ]
    assert hook.headers["webhook-id"] == event["id"]

    (mail,) = mailbox.received
    assert mailbox.envelopes == [("purchasing@shop.example", ["orders@mill.example"])]
    assert mail["To"] == "orders@mill.example"
    assert mail["Subject"] == f"Purchase order {order['id']}"
    assert (
        mail["Message-ID"].strip() == f"<{event['id']}.purchase-order-{order['id']}@shop.example>"
    )
    plain = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert plain is not None
    assert html is not None
    text_body, html_body = plain.get_content(), html.get_content()
    for expected in ("FLOUR", "40", "1.25 EUR", "RYE", "7", "Mill & Sons", "KITCHEN"):
        assert expected in text_body
    assert "<td>FLOUR</td><td>40</td><td>1.25 EUR</td>" in html_body
    assert "<td>RYE</td><td>7</td><td></td>" in html_body
    assert "Mill &amp; Sons" in html_body

    dispatch = await _dispatch(client, order["id"])
    assert {c: (d["status"], d["attempts"], d["error"]) for c, d in dispatch.items()} == {
        "webhook": ("sent", 1, None),
        "email": ("sent", 1, None),
    }
    assert dispatch["webhook"]["recipient"] == receiver.url
    assert dispatch["email"]["recipient"] == "orders@mill.example"
    assert all(d["sent_at"] is not None for d in dispatch.values())

    # The worker comes round again: nothing goes out twice.
    await _pump(database, lambda: True)
    assert (len(receiver.received), len(mailbox.received)) == (1, 1)


async def test_a_supplier_failing_at_first_gets_the_order_on_a_later_attempt(
    client: httpx.AsyncClient, database: Database, receiver: Receiver, mailbox: Mailbox
) -> None:
    receiver.first = [500, 503]
    mailbox.refuse = 1
    supplier = await _supplier(client, webhook_url=receiver.url, email="orders@mill.example")
    order = await _sent_order(client, supplier)

    await _pump(database, _settled(client, order["id"]))

    dispatch = await _dispatch(client, order["id"])
    assert {c: (d["status"], d["attempts"]) for c, d in dispatch.items()} == {
        "webhook": ("sent", 3),
        "email": ("sent", 2),
    }
    assert receiver.answered == [500, 503, 200]
    assert len(mailbox.received) == 1


async def test_a_dispatch_that_never_goes_through_ends_failed_saying_why(
    client: httpx.AsyncClient, database: Database, receiver: Receiver, mailbox: Mailbox
) -> None:
    receiver.status = 500
    receiver.answer = b"down for maintenance"
    mailbox.refuse = 100
    supplier = await _supplier(client, webhook_url=receiver.url, email="orders@mill.example")
    order = await _sent_order(client, supplier)

    await _pump(database, _settled(client, order["id"]))

    dispatch = await _dispatch(client, order["id"])
    schedule = len(FAST["webhooks_retry_schedule"].split(","))
    assert {c: (d["status"], d["attempts"]) for c, d in dispatch.items()} == {
        "webhook": ("failed", schedule),
        "email": ("failed", schedule),
    }
    assert dispatch["webhook"]["error"] == "answered 500: down for maintenance"
    assert "451" in dispatch["email"]["error"]
    assert dispatch["email"]["next_attempt_at"] is None
    assert not mailbox.received


async def test_without_a_mail_server_the_email_shows_as_skipped(
    database_url: str, receiver: Receiver
) -> None:
    settings = load_settings(database_url=database_url, log_level="WARNING", **FAST)
    app = create_app(settings)
    headers = {"Authorization": f"Bearer {await api_key(database_url)}"}
    database = Database(settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://galley.test", headers=headers
    ) as client:
        supplier = await _supplier(client, webhook_url=receiver.url, email="orders@mill.example")
        order = await _sent_order(client, supplier)
        await _pump(database, _settled(client, order["id"]))
        dispatch = await _dispatch(client, order["id"])
    await database.dispose()
    await app.state.engine.dispose()
    email = dispatch["email"]
    assert (email["status"], email["attempts"], email["next_attempt_at"]) == ("skipped", 0, None)
    assert email["error"] == "no mail server: GALLEY_SMTP_URL is not set"
    assert (dispatch["webhook"]["status"], dispatch["webhook"]["error"]) == ("sent", None)


async def test_a_supplier_with_no_way_to_reach_it_gets_no_dispatch(
    client: httpx.AsyncClient, database: Database
) -> None:
    order = await _sent_order(client, await _supplier(client))
    await _pump(database, lambda: True)
    assert await _dispatch(client, order["id"]) == {}


@pytest.mark.parametrize("through", ["database", "rabbitmq"])
async def test_the_worker_sends_purchase_orders(
    client: httpx.AsyncClient, settings: Settings, mailbox: Mailbox, through: str
) -> None:
    order = await _sent_order(client, await _supplier(client, email="orders@mill.example"))
    with ExitStack() as stack:
        broker_url = stack.enter_context(rabbitmq_vhost()) if through == "rabbitmq" else ""
        changed = {"events_poll_seconds": 0.02, "broker_url": broker_url}
        await _work_until_mailed(load_settings(**(dict(settings) | changed)), mailbox)
    assert mailbox.received[0]["Subject"] == f"Purchase order {order['id']}"


async def _work_until_mailed(settings: Settings, mailbox: Mailbox) -> None:
    stop = asyncio.Event()
    worker = asyncio.create_task(run_until_stopped(settings, stop))
    try:
        deadline = time.monotonic() + 20
        while not mailbox.received:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await worker


async def test_after_a_rotation_both_supplier_secrets_verify(
    client: httpx.AsyncClient, database: Database, receiver: Receiver
) -> None:
    supplier = await _supplier(client, webhook_url=receiver.url)
    rotated = await client.post(f"/v1/suppliers/{supplier['id']}/rotate-webhook-secret")
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["webhook_secret"]
    assert new.startswith("whsec_")
    assert new != supplier["webhook_secret"]
    assert rotated.json()["previous_webhook_secret_expires_at"] is not None
    assert (
        rotated.headers["etag"]
        == (await client.get(f"/v1/suppliers/{supplier['id']}")).headers["etag"]
    )

    order = await _sent_order(client, supplier)
    await _pump(database, _settled(client, order["id"]))

    (hook,) = receiver.received
    assert len(hook.headers["webhook-signature"].split(" ")) == 2
    for secret in (supplier["webhook_secret"], new):
        assert hook.verified_by(secret)["data"]["id"] == order["id"]
    audited = await client.get(
        "/v1/audit-events", params={"kind": "supplier.webhook_secret_rotated"}
    )
    (entry,) = audited.json()["data"]
    assert entry["subject"] == f"supplier:{supplier['id']}"


async def test_a_supplier_without_a_webhook_has_no_secret_to_rotate(
    client: httpx.AsyncClient,
) -> None:
    supplier = await _supplier(client, email="orders@mill.example")
    assert supplier["webhook_secret"] is None
    response = await client.post(f"/v1/suppliers/{supplier['id']}/rotate-webhook-secret")
    assert problem(response, 409)["type"].endswith("/supplier-has-no-webhook")


async def test_a_webhook_url_set_later_comes_with_a_secret_and_removing_it_drops_it(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    supplier = await _supplier(client)
    path = f"/v1/suppliers/{supplier['id']}"
    given = await client.patch(path, json={"webhook_url": receiver.url})
    assert given.status_code == 200, given.text
    assert given.json()["webhook_secret"].startswith("whsec_")
    again = await client.patch(path, json={"webhook_url": receiver.url + "/v2"})
    assert again.json()["webhook_secret"] is None  # the secret it has goes on signing
    removed = await client.patch(path, json={"webhook_url": None})
    assert removed.json()["webhook_url"] is None
    assert (await client.post(path + "/rotate-webhook-secret")).status_code == 409


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://orders.mill.example/po", "must be an https URL"),
        ("https://127.0.0.1/po", "loopback"),
        ("https://10.1.2.3/po", "private"),
        ("https://169.254.169.254/latest", "metadata"),
    ],
)
async def test_a_supplier_webhook_url_is_held_to_the_webhook_rules(
    database_url: str, url: str, reason: str
) -> None:
    settings = load_settings(database_url=database_url, log_level="WARNING")
    app = create_app(settings)
    headers = {"Authorization": f"Bearer {await api_key(database_url)}"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://galley.test", headers=headers
    ) as client:
        created = await client.post(
            "/v1/suppliers",
            json={"name": "Mill", "lead_time_days": 2, "currency": "EUR", "webhook_url": url},
        )
        supplier = await _supplier(client)
        changed = await client.patch(f"/v1/suppliers/{supplier['id']}", json={"webhook_url": url})
        listed = (await client.get("/v1/suppliers")).json()["data"]
    await app.state.engine.dispose()
    for response in (created, changed):
        assert reason in problem(response, 422)["detail"]
    assert [s["webhook_url"] for s in listed] == [None]


async def test_supplier_secrets_are_sealed_at_rest(
    client: httpx.AsyncClient, database_url: str, receiver: Receiver
) -> None:
    supplier = await _supplier(client, webhook_url=receiver.url)
    engine = create_async_engine(database_url)
    async with engine.connect() as connection:
        stored = (await connection.execute(text("SELECT webhook_secret FROM suppliers"))).scalar()
    await engine.dispose()
    assert str(stored).startswith("data1:")
    assert supplier["webhook_secret"] not in stored
    assert Webhook(supplier["webhook_secret"])  # a secret Standard Webhooks libraries read
