"""Stripe, through its official SDK: a payment is a PaymentIntent with automatic payment
methods, so that cards, Apple Pay and Google Pay appear in Stripe's Payment Element
against the client secret Galley hands the front end; card data never reaches Galley.

Every call that moves money carries an idempotency key from Galley's own ids, and every
PaymentIntent carries metadata naming the payment and the order. Webhooks are verified
with the SDK against `GALLEY_STRIPE_WEBHOOK_SECRET`, five minutes' tolerance.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import stripe

from galley.payments.gateway import (
    Charge,
    GatewayPayment,
    GatewayRefund,
    GatewayRefused,
    InvalidNotice,
    Notice,
)
from galley.payments.rules import PaymentStatus, RefundStatus

WEBHOOK_TOLERANCE_SECONDS = 300

# A PaymentIntent's status, as a payment's. Stripe has no "failed": an intent whose
# attempt failed waits for another method, and `payment_intent.payment_failed` says so.
_STATUSES: dict[str, PaymentStatus] = {
    "requires_payment_method": "pending",
    "requires_confirmation": "pending",
    "requires_action": "pending",
    "processing": "pending",
    "requires_capture": "authorized",
    "succeeded": "captured",
    "canceled": "cancelled",
}
_REFUND_STATUSES: dict[str, RefundStatus] = {
    "pending": "pending",
    "requires_action": "pending",
    "succeeded": "succeeded",
    "failed": "failed",
    "canceled": "failed",
}
# What each event Galley acts on makes of its PaymentIntent.
_INTENT_EVENTS: dict[str, PaymentStatus] = {
    "payment_intent.amount_capturable_updated": "authorized",
    "payment_intent.succeeded": "captured",
    "payment_intent.payment_failed": "failed",
    "payment_intent.canceled": "cancelled",
}


class StripeGateway:
    name = "stripe"

    def __init__(self, api_key: str, webhook_secret: str, *, api_base: str | None = None) -> None:
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else None,
            http_client=stripe.HTTPXClient(),
            max_network_retries=2,
        )
        self._webhook_secret = webhook_secret

    async def create(self, charge: Charge) -> GatewayPayment:
        intent = await self._call(
            self._client.v1.payment_intents.create_async(
                params={
                    "amount": charge.amount,
                    "currency": charge.currency.lower(),
                    "automatic_payment_methods": {"enabled": True},
                    "capture_method": "automatic" if charge.capture == "automatic" else "manual",
                    "metadata": {
                        "galley_payment_id": charge.payment_id,
                        "galley_order_id": charge.order_id,
                    },
                },
                options={"idempotency_key": charge.key},
            )
        )
        return _payment(intent)

    async def capture(self, ref: str, amount: int, *, key: str) -> GatewayPayment:
        intent = await self._call(
            self._client.v1.payment_intents.capture_async(
                ref, params={"amount_to_capture": amount}, options={"idempotency_key": key}
            )
        )
        return _payment(intent)

    async def cancel(self, ref: str, *, key: str) -> GatewayPayment:
        intent = await self._call(
            self._client.v1.payment_intents.cancel_async(ref, options={"idempotency_key": key})
        )
        return _payment(intent)

    async def refund(self, ref: str, amount: int, *, key: str) -> GatewayRefund:
        refund = await self._call(
            self._client.v1.refunds.create_async(
                params={"payment_intent": ref, "amount": amount}, options={"idempotency_key": key}
            )
        )
        return GatewayRefund(refund.id, _REFUND_STATUSES[refund.status or "pending"], refund.amount)

    async def retrieve(self, ref: str) -> GatewayPayment:
        intent = await self._call(
            self._client.v1.payment_intents.retrieve_async(
                ref, params={"expand": ["latest_charge"]}
            )
        )
        return _payment(intent)

    def notice(self, body: bytes, headers: Mapping[str, str]) -> Notice:
        try:
            event = stripe.Webhook.construct_event(
                body,
                headers.get("stripe-signature"),
                self._webhook_secret,
                tolerance=WEBHOOK_TOLERANCE_SECONDS,
            )
        except (ValueError, stripe.SignatureVerificationError) as exc:
            raise InvalidNotice(str(exc)) from None
        thing: Any = event.data.object
        if event.type in _INTENT_EVENTS:
            return Notice(
                event.id,
                event.type,
                thing.id,
                _INTENT_EVENTS[event.type],
                payment_id=_metadata(thing).get("galley_payment_id"),
                amount=thing.amount,
                currency=thing.currency.upper(),
            )
        if event.type == "charge.refunded":
            return Notice(
                event.id,
                event.type,
                thing.payment_intent,
                amount=thing.amount,
                currency=thing.currency.upper(),
                refunded=thing.amount_refunded,
            )
        if event.type == "charge.dispute.created":
            return Notice(event.id, event.type, thing.payment_intent, disputed=True)
        return Notice(event.id, event.type, None)

    @staticmethod
    async def _call(call: Any) -> Any:
        """The SDK's answer; a request Stripe refuses (an invalid or unknown id, a state
        that does not allow it) is `GatewayRefused`. Outages propagate as they are."""
        try:
            return await call
        except stripe.InvalidRequestError as exc:
            raise GatewayRefused(exc.user_message or str(exc)) from None


def _payment(intent: Any) -> GatewayPayment:
    error = intent.last_payment_error
    return GatewayPayment(
        intent.id,
        _STATUSES[intent.status],
        intent.amount_received if intent.status == "succeeded" else intent.amount,
        intent.currency.upper(),
        client_secret=intent.client_secret,
        method=_method(intent.latest_charge),
        failure=(error.code or error.message) if error else None,
    )


def _metadata(thing: Any) -> dict[str, str]:
    metadata = getattr(thing, "metadata", None)
    return {} if metadata is None else dict(metadata.to_dict())


def _method(charge: Any) -> str | None:
    """`google_pay`, `apple_pay` or `card`, when the intent's charge came expanded."""
    details = getattr(charge, "payment_method_details", None)
    if details is None:
        return None
    card = getattr(details, "card", None)
    wallet = getattr(card, "wallet", None) if card is not None else None
    return str(wallet.type) if wallet is not None else str(details.type)
