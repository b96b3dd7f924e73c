"""Paying for an order through the API, with the sandbox gateway."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from galley.payments.gateway import Charge, GatewayPayment
from tests import shop
from tests.test_owasp_api_top10 import _customer

ORDER = {"location": "KITCHEN", "lines": [{"sku": "TEA", "quantity": 2}]}


async def _order(
    client: httpx.AsyncClient, buyer: httpx.AsyncClient | None = None, *, stocked: bool = True
) -> str:
    if stocked:
        await shop.location(client)
        await shop.product(client, "TEA", 250)
        await shop.stock(client, "TEA", 100)
    placed = await (buyer or client).post("/v1/orders", json=ORDER)
    assert placed.status_code == 201, placed.text
    return str(placed.json()["id"])


async def _pay(
    client: httpx.AsyncClient, order_id: str, key: str | None = None, **body: Any
) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return await client.post(f"/v1/orders/{order_id}/payments", json=body, headers=headers)


async def test_a_customer_pays_their_order_and_the_answer_carries_the_client_secret(
    client: httpx.AsyncClient,
) -> None:
    alice = await _customer(client, "alice@example.com")
    order_id = await _order(client, alice)

    paid = await _pay(alice, order_id, "pay-1")

    assert paid.status_code == 201, paid.text
    payment = paid.json()
    assert payment["status"] == "captured"
    assert payment["amount"] == {"amount": 500, "currency": "EUR"}
    assert payment["gateway"] == "sandbox"
    assert payment["order_id"] == order_id
    assert payment["client_secret"].startswith("sbx_")
    listed = (await alice.get(f"/v1/orders/{order_id}/payments")).json()["data"]
    assert listed == [payment]
    nothing_left = await _pay(alice, order_id, "pay-2")
    assert nothing_left.status_code == 409
    assert nothing_left.json()["type"].endswith("/order-paid-for")


async def test_the_same_key_answers_the_same_payment_and_another_body_is_refused(
    client: httpx.AsyncClient,
) -> None:
    order_id = await _order(client)
    first = await _pay(client, order_id, "k", method="sandbox_confirms_later")
    assert (first.status_code, first.json()["status"]) == (201, "pending")

    again = await _pay(client, order_id, "k", method="sandbox_confirms_later")
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    other_body = await _pay(client, order_id, "k", method="sandbox_succeeds")
    assert other_body.status_code == 422
    # Another key while that one is pending: the same payment, not a second one.
    other_key = await _pay(client, order_id, "k2")
    assert other_key.json()["id"] == first.json()["id"]
    assert "Idempotent-Replayed" not in other_key.headers
    assert len((await client.get(f"/v1/orders/{order_id}/payments")).json()["data"]) == 1


async def test_a_declined_payment_fails_and_another_may_be_asked_for(
    client: httpx.AsyncClient,
) -> None:
    order_id = await _order(client)
    declined = (await _pay(client, order_id, "d", method="sandbox_declines")).json()
    assert (declined["status"], declined["failure"]) == ("failed", "card_declined")
    retried = await _pay(client, order_id, "e")
    assert retried.status_code == 201
    assert retried.json()["status"] == "captured"


async def test_an_unknown_sandbox_token_is_422_naming_the_tokens(client: httpx.AsyncClient) -> None:
    order_id = await _order(client)
    refused = await _pay(client, order_id, method="tok_visa")
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "method"
    assert (await client.get(f"/v1/orders/{order_id}/payments")).json()["data"] == []


async def test_another_customers_order_cannot_be_paid_or_its_payments_read(
    client: httpx.AsyncClient,
) -> None:
    alice = await _customer(client, "alice@example.com")
    mallory = await _customer(client, "mallory@example.com")
    order_id = await _order(client, alice)
    assert (await _pay(mallory, order_id)).status_code == 404
    assert (await mallory.get(f"/v1/orders/{order_id}/payments")).status_code == 404


async def test_a_gateway_that_does_not_answer_leaves_a_payment_the_same_key_completes(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    order_id = await _order(client)
    app = client._transport.app  # type: ignore[attr-defined]
    gateway = app.state.gateway
    real = gateway.create
    calls: list[Charge] = []

    async def down(charge: Charge) -> GatewayPayment:
        calls.append(charge)
        raise ConnectionError("no route to host")

    monkeypatch.setattr(gateway, "create", down)
    failed = await _pay(client, order_id, "k")
    assert failed.status_code == 503
    assert "same Idempotency-Key" in failed.json()["detail"]

    monkeypatch.setattr(gateway, "create", real)
    completed = await _pay(client, order_id, "k")
    assert completed.status_code == 200
    assert completed.json()["status"] == "captured"
    assert completed.json()["id"] == calls[0].payment_id


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_two_payments_asked_at_once_are_one_payment_at_the_gateway(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    order_id = await _order(client)
    gateway = client._transport.app.state.gateway  # type: ignore[attr-defined]
    real = gateway.create
    created: list[str] = []

    async def counted(charge: Charge) -> GatewayPayment:
        created.append(charge.payment_id)
        return await real(charge)

    monkeypatch.setattr(gateway, "create", counted)
    # Left pending, so that every request meets it; eight keys, one payment.
    later = {"method": "sandbox_confirms_later"}
    answers = await asyncio.gather(*(_pay(client, order_id, f"k{n}", **later) for n in range(8)))
    assert sorted(answer.status_code for answer in answers) == [200] * 7 + [201]
    assert len({answer.json()["id"] for answer in answers}) == 1
    # Those that met it before the gateway's answer was recorded asked again, with the
    # same payment's idempotency key: one payment at the gateway, whoever asks.
    assert len(set(created)) == 1
    # Paid at once instead: the others are told there is nothing left to pay.
    other = await _order(client, stocked=False)
    answers = await asyncio.gather(*(_pay(client, other, f"o{n}") for n in range(8)))
    codes = sorted(answer.status_code for answer in answers)
    assert codes.count(201) == 1
    assert set(codes) <= {200, 201, 409}  # the same payment, or nothing left to pay
    assert len({answer.json()["id"] for answer in answers if answer.status_code < 300}) == 1
    assert len(set(created)) == 2


async def test_a_cancelled_order_cannot_be_paid(client: httpx.AsyncClient) -> None:
    order_id = await _order(client)
    assert (await client.post(f"/v1/orders/{order_id}/cancel", json={})).status_code == 200
    refused = await _pay(client, order_id, "k")
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/order-not-payable")
    assert refused.json()["current_status"] == "cancelled"
