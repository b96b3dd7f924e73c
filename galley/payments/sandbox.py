"""The sandbox gateway, Galley's default: payments for demos and tests, with no network and
no account anywhere. The payment method is one of the test tokens below, and decides the
outcome, so every path can be taken on purpose:

- `sandbox_succeeds` (or none): captured at once, or authorized when the capture waits
  for the order to be ready;
- `sandbox_declines`: failed, `card_declined`;
- `sandbox_confirms_later`: pending, until a notice (`confirmation`) says how it ended.

The sandbox keeps what it was asked in the process's memory, as a gateway keeps it on its
side: asking again with the same idempotency key gets the same answer. Its notices are
signed as Standard Webhooks are, with the secret it was made with.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Literal

from standardwebhooks import Webhook, WebhookVerificationError

from galley.payments.gateway import (
    Charge,
    GatewayPayment,
    GatewayRefund,
    GatewayRefused,
    InvalidNotice,
    Notice,
)
from galley.payments.rules import PaymentStatus

SUCCEEDS, DECLINES, CONFIRMS_LATER = (
    "sandbox_succeeds",
    "sandbox_declines",
    "sandbox_confirms_later",
)
TOKENS = (SUCCEEDS, DECLINES, CONFIRMS_LATER)
_REF_PREFIX = "sbx_"  # then Galley's id of the payment

# What the sandbox's notices say, and what each makes of the payment.
_NOTICES: dict[str, PaymentStatus] = {
    "payment.succeeded": "captured",
    "payment.authorized": "authorized",
    "payment.failed": "failed",
    "payment.cancelled": "cancelled",
}


class SandboxGateway:
    name = "sandbox"

    def __init__(self, secret: str) -> None:
        self._webhook = Webhook(secret)
        self._payments: dict[str, GatewayPayment] = {}
        self._refunds: dict[str, GatewayRefund] = {}
        self._refunded: dict[str, int] = {}

    async def create(self, charge: Charge) -> GatewayPayment:
        ref = f"{_REF_PREFIX}{charge.payment_id}"
        if (known := self._payments.get(ref)) is not None:
            return known
        token = charge.method or SUCCEEDS
        status: PaymentStatus
        if token == SUCCEEDS:
            status = "captured" if charge.capture == "automatic" else "authorized"
        elif token == DECLINES:
            status = "failed"
        elif token == CONFIRMS_LATER:
            status = "pending"
        else:
            raise GatewayRefused(f"{token!r} is no sandbox test token: use one of {TOKENS}")
        made = GatewayPayment(
            ref,
            status,
            charge.amount,
            charge.currency,
            client_secret=f"{ref}_secret_{uuid.uuid4().hex}",
            method="card",
            failure="card_declined" if status == "failed" else None,
        )
        self._payments[ref] = made
        return made

    async def capture(self, ref: str, amount: int, *, key: str) -> GatewayPayment:
        payment = await self.retrieve(ref)
        if payment.status == "captured":
            return payment
        if payment.status != "authorized" or amount > payment.amount:
            raise GatewayRefused(f"{ref} is {payment.status}: {amount} cannot be captured")
        return self._keep(replace(payment, status="captured", amount=amount))

    async def cancel(self, ref: str, *, key: str) -> GatewayPayment:
        payment = await self.retrieve(ref)
        if payment.status in ("cancelled", "failed"):
            return payment
        if payment.status == "captured":
            raise GatewayRefused(f"{ref} is captured: refund it instead")
        return self._keep(replace(payment, status="cancelled"))

    async def refund(self, ref: str, amount: int, *, key: str) -> GatewayRefund:
        if (known := self._refunds.get(key)) is not None:
            return known
        payment = await self.retrieve(ref)
        refunded = self._refunded.get(ref, 0)
        if payment.status != "captured" or refunded + amount > payment.amount:
            raise GatewayRefused(f"{amount} of {ref} cannot be refunded")
        self._refunded[ref] = refunded + amount
        made = self._refunds[key] = GatewayRefund(f"sbx_re_{key}", "succeeded", amount)
        return made

    async def retrieve(self, ref: str) -> GatewayPayment:
        try:
            return self._payments[ref]
        except KeyError:
            raise GatewayRefused(f"the sandbox holds no payment {ref}") from None

    def notice(self, body: bytes, headers: Mapping[str, str]) -> Notice:
        try:
            event = self._webhook.verify(body, dict(headers))
        except WebhookVerificationError as exc:
            raise InvalidNotice(str(exc)) from None
        status = _NOTICES.get(event["type"])
        ref = event.get("payment")
        if status is not None and ref in self._payments:
            self._keep(replace(self._payments[ref], status=status))
        return Notice(
            headers["webhook-id"],
            event["type"],
            ref,
            status,
            payment_id=ref.removeprefix(_REF_PREFIX) if ref else None,
            amount=event.get("amount"),
            currency=event.get("currency"),
        )

    def confirmation(
        self,
        ref: str,
        outcome: Literal["payment.succeeded", "payment.authorized", "payment.failed"],
        *,
        at: dt.datetime | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """The notice the sandbox sends when a payment left pending is confirmed: its
        body and headers, signed."""
        payment = self._payments.get(ref)
        body = json.dumps(
            {
                "type": outcome,
                "payment": ref,
                "amount": payment.amount if payment else None,
                "currency": payment.currency if payment else None,
            }
        )
        event_id = f"evt_sbx_{uuid.uuid4().hex}"
        at = at or dt.datetime.now(dt.UTC)
        headers = {
            "webhook-id": event_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": self._webhook.sign(event_id, at, body),
        }
        return body.encode(), headers

    def _keep(self, payment: GatewayPayment) -> GatewayPayment:
        self._payments[payment.ref] = payment
        return payment
