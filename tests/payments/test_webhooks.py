"""A gateway's webhook events through the API: verified, acted on once, and those about a
payment Galley does not hold answered so that the gateway stops sending them."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from galley.app import create_app
from galley.config import Settings
from galley.payments.gateway import Charge, GatewayPayment
from galley.payments.sandbox import SandboxGateway
from tests.auth import api_key
from tests.payments import stripe_standin
from tests.payments.stripe_standin import WEBHOOK_SECRET, StripeStandIn, event, signed
from tests.payments.test_api import _order, _pay

JSON = {"content-type": "application/json"}


async def _send(
    client: httpx.AsyncClient, gateway: str, body: bytes, headers: dict[str, str]
) -> httpx.Response:
    anonymous = httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url))
    return await anonymous.post(
        f"/v1/payments/webhooks/{gateway}", content=body, headers=headers | JSON
    )


async def test_a_sandbox_payment_left_pending_is_confirmed_once_by_its_notice(
    client: httpx.AsyncClient,
) -> None:
    order_id = await _order(client)
    payment = (await _pay(client, order_id, "k", method="sandbox_confirms_later")).json()
    sandbox: SandboxGateway = client._transport.app.state.gateway  # type: ignore[attr-defined]
    body, headers = sandbox.confirmation(f"sbx_{payment['id']}", "payment.succeeded")

    answered = await _send(client, "sandbox", body, headers)
    assert (answered.status_code, answered.json()) == (200, {"outcome": "applied"})
    (listed,) = (await client.get(f"/v1/orders/{order_id}/payments")).json()["data"]
    assert listed["status"] == "captured"

    again = await _send(client, "sandbox", body, headers)
    assert again.json() == {"outcome": "repeat"}
    stranger = sandbox.confirmation("sbx_nobody", "payment.succeeded")
    assert (await _send(client, "sandbox", *stranger)).json() == {"outcome": "unknown"}
    tampered = await _send(client, "sandbox", body.replace(b"succeeded", b"failed"), headers)
    assert tampered.status_code == 400
    assert (await _send(client, "stripe", body, headers)).status_code == 404


@pytest.fixture
async def stripe_client(
    settings: Settings,
) -> AsyncIterator[tuple[httpx.AsyncClient, StripeStandIn]]:
    """The API with Stripe as its gateway, Stripe being the local stand-in."""
    with stripe_standin.running() as standin:
        with_stripe = settings.model_copy(
            update={
                "payments_gateway": "stripe",
                "stripe_api_key": SecretStr("sk_test_standin"),
                "stripe_webhook_secret": SecretStr(WEBHOOK_SECRET),
                "stripe_api_base": standin.url,
            }
        )
        app = create_app(with_stripe)
        headers = {"Authorization": f"Bearer {await api_key(settings.database_url)}"}
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://galley.test", headers=headers
        ) as http:
            yield http, standin
        await app.state.engine.dispose()


async def test_a_stripe_payment_paid_with_google_pay_is_captured_by_its_signed_event(
    stripe_client: tuple[httpx.AsyncClient, StripeStandIn],
) -> None:
    client, standin = stripe_client
    order_id = await _order(client)
    payment = await _pay(client, order_id, "k")
    assert payment.status_code == 201, payment.text
    assert (payment.json()["status"], payment.json()["gateway"]) == ("pending", "stripe")
    (intent,) = standin.intents.values()
    assert payment.json()["client_secret"] == intent["client_secret"]
    named = {"galley_payment_id": payment.json()["id"], "galley_order_id": order_id}
    assert intent["metadata"] == named

    body = event("payment_intent.succeeded", standin.confirm(intent["id"], wallet="google_pay"))
    answered = await _send(client, "stripe", body, signed(body))
    assert answered.json() == {"outcome": "applied"}
    (listed,) = (await client.get(f"/v1/orders/{order_id}/payments")).json()["data"]
    assert listed["status"] == "captured"
    assert (await _send(client, "stripe", body, signed(body))).json() == {"outcome": "repeat"}

    stale = await _send(client, "stripe", body, signed(body, at=int(time.time()) - 301))
    assert stale.status_code == 400
    forged = await _send(client, "stripe", body, signed(body, secret="whsec_someone_else"))
    assert forged.status_code == 400


async def test_an_event_that_arrives_before_the_gateway_s_answer_is_recorded_is_not_lost(
    stripe_client: tuple[httpx.AsyncClient, StripeStandIn], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stripe may send `payment_intent.succeeded` while the request that created the
    PaymentIntent has not yet recorded its id: the event finds the payment by Galley's id
    in the metadata, and the request then answers the payment as the event left it."""
    client, standin = stripe_client
    order_id = await _order(client)
    gateway = client._transport.app.state.gateway  # type: ignore[attr-defined]
    real = gateway.create

    async def paid_at_once(charge: Charge) -> GatewayPayment:
        made = await real(charge)
        body = event("payment_intent.succeeded", standin.confirm(made.ref))
        early = await _send(client, "stripe", body, signed(body))
        assert early.json() == {"outcome": "applied"}
        return made  # as Stripe answered the create: still waiting for the customer

    monkeypatch.setattr(gateway, "create", paid_at_once)
    payment = await _pay(client, order_id, "k")
    assert payment.status_code == 201, payment.text
    assert payment.json()["status"] == "captured"
    (listed,) = (await client.get(f"/v1/orders/{order_id}/payments")).json()["data"]
    assert listed["status"] == "captured"
