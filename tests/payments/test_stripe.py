"""The Stripe gateway through the real `stripe` SDK, pointed at a local stand-in
(`tests/payments/stripe_standin.py`): no test here reaches the internet."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from galley.payments.gateway import Capture, Charge, GatewayRefused, InvalidNotice
from galley.payments.stripe_gateway import StripeGateway
from tests.payments import stripe_standin
from tests.payments.stripe_standin import WEBHOOK_SECRET, StripeStandIn, event, signed


@pytest.fixture
def standin() -> Iterator[StripeStandIn]:
    with stripe_standin.running() as running:
        yield running


@pytest.fixture
def stripe(standin: StripeStandIn) -> StripeGateway:
    return StripeGateway("sk_test_standin", WEBHOOK_SECRET, api_base=standin.url)


def _charge(capture: Capture = "automatic") -> Charge:
    return Charge("pay-1", "order-1", 1250, "EUR", capture)


async def test_a_payment_is_a_payment_intent_with_automatic_methods_keyed_by_galley_s_id(
    stripe: StripeGateway, standin: StripeStandIn
) -> None:
    made = await stripe.create(_charge())
    assert (made.status, made.amount, made.currency) == ("pending", 1250, "EUR")
    assert made.client_secret == f"{made.ref}_secret_standin"
    method, path, params = standin.requests[-1]
    assert (method, path) == ("POST", "/v1/payment_intents")
    assert params["automatic_payment_methods"] == {"enabled": "true"}
    assert params["capture_method"] == "automatic"
    assert params["currency"] == "eur"
    assert params["metadata"] == {"galley_payment_id": "pay-1", "galley_order_id": "order-1"}

    # Asked again after a crash: the same key, the same PaymentIntent, no second one.
    assert await stripe.create(_charge()) == made
    assert len(standin.intents) == 1


async def test_a_payment_confirmed_with_google_pay_says_so(
    stripe: StripeGateway, standin: StripeStandIn
) -> None:
    made = await stripe.create(_charge())
    standin.confirm(made.ref, wallet="google_pay")
    held = await stripe.retrieve(made.ref)
    assert (held.status, held.amount, held.method) == ("captured", 1250, "google_pay")


async def test_a_payment_captured_when_ready_is_authorized_then_captured_once(
    stripe: StripeGateway, standin: StripeStandIn
) -> None:
    made = await stripe.create(_charge("manual"))
    assert standin.requests[-1][2]["capture_method"] == "manual"
    standin.confirm(made.ref)
    assert (await stripe.retrieve(made.ref)).status == "authorized"
    captured = await stripe.capture(made.ref, 1000, key="pay-1-capture")
    assert (captured.status, captured.amount) == ("captured", 1000)
    assert await stripe.capture(made.ref, 1000, key="pay-1-capture") == captured
    with pytest.raises(GatewayRefused, match="could not be captured"):
        await stripe.capture(made.ref, 1000, key="another")


async def test_refunds_and_cancels_go_through_and_what_stripe_refuses_is_refused(
    stripe: StripeGateway, standin: StripeStandIn
) -> None:
    made = await stripe.create(_charge())
    standin.confirm(made.ref)
    refund = await stripe.refund(made.ref, 250, key="refund-1")
    assert (refund.status, refund.amount) == ("succeeded", 250)
    assert await stripe.refund(made.ref, 250, key="refund-1") == refund
    with pytest.raises(GatewayRefused, match="exceeds"):
        await stripe.refund(made.ref, 1001, key="refund-2")
    with pytest.raises(GatewayRefused, match="cannot cancel"):
        await stripe.cancel(made.ref, key="cancel-1")

    other = await stripe.create(Charge("pay-2", "order-2", 500, "EUR", "automatic"))
    assert (await stripe.cancel(other.ref, key="cancel-2")).status == "cancelled"
    with pytest.raises(GatewayRefused, match="No such payment_intent"):
        await stripe.retrieve("pi_nobody")


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("payment_intent.succeeded", "captured"),
        ("payment_intent.amount_capturable_updated", "authorized"),
        ("payment_intent.payment_failed", "failed"),
        ("payment_intent.canceled", "cancelled"),
    ],
)
async def test_a_signed_event_about_a_payment_intent_says_what_it_became(
    stripe: StripeGateway, standin: StripeStandIn, kind: str, status: str
) -> None:
    made = await stripe.create(_charge())
    payload = event(kind, standin.confirm(made.ref), event_id="evt_1")
    notice = stripe.notice(payload, signed(payload))
    assert (notice.event_id, notice.type, notice.payment_ref, notice.status) == (
        "evt_1",
        kind,
        made.ref,
        status,
    )
    assert (notice.amount, notice.currency) == (1250, "EUR")


async def test_refund_and_dispute_events_name_their_payment_intent(
    stripe: StripeGateway, standin: StripeStandIn
) -> None:
    made = await stripe.create(_charge())
    standin.confirm(made.ref)
    await stripe.refund(made.ref, 300, key="refund-1")
    charge = next(iter(standin.charges.values()))
    refunded = event("charge.refunded", charge)
    notice = stripe.notice(refunded, signed(refunded))
    assert (notice.payment_ref, notice.refunded, notice.status) == (made.ref, 300, None)
    dispute = {"id": "dp_1", "object": "dispute", "payment_intent": made.ref, "amount": 1250}
    disputed = event("charge.dispute.created", dispute)
    assert stripe.notice(disputed, signed(disputed)).disputed
    other = event("customer.created", {"id": "cus_1", "object": "customer"})
    assert stripe.notice(other, signed(other)).payment_ref is None


async def test_tampered_expired_and_wrongly_signed_events_are_refused(
    stripe: StripeGateway, standin: StripeStandIn
) -> None:
    made = await stripe.create(_charge())
    payload = event("payment_intent.succeeded", standin.confirm(made.ref))
    headers = signed(payload)
    with pytest.raises(InvalidNotice):
        stripe.notice(payload.replace(b"1250", b"9999"), headers)
    with pytest.raises(InvalidNotice):
        stripe.notice(payload, signed(payload, at=int(time.time()) - 301))
    with pytest.raises(InvalidNotice):
        stripe.notice(payload, signed(payload, secret="whsec_someone_else"))
    with pytest.raises(InvalidNotice):
        stripe.notice(payload, {})
    # A replay within the tolerance verifies: the event id is what keeps it from acting
    # twice (the gateway notices table).
    assert stripe.notice(payload, headers).status == "captured"
