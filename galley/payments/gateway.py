"""What Galley asks of a payment gateway, and what a gateway answers. Each gateway is one
module implementing `Gateway` (`galley.payments.sandbox` first), so that another is
added as one more module.

No gateway is called inside a database transaction: the payment is recorded and
committed first, the gateway asked, and its answer recorded in a new transaction. Every
call that moves money carries an idempotency key derived from Galley's own ids, so that
asking again after a crash gets the same answer, never a second charge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from galley.payments.rules import PaymentStatus, RefundStatus

Capture = Literal["automatic", "manual"]


@dataclass(frozen=True)
class Charge:
    """A payment to create at the gateway, for one order."""

    payment_id: str
    order_id: str
    amount: int
    currency: str
    capture: Capture
    # How the customer pays, where the gateway is told so up front (the sandbox's test
    # tokens); a gateway with a front end of its own (Stripe's Payment Element) ignores it.
    method: str | None = None

    @property
    def key(self) -> str:
        """The idempotency key of creating it: the same payment is created once."""
        return f"galley-payment-{self.payment_id}"


@dataclass(frozen=True)
class GatewayPayment:
    """A payment as the gateway holds it."""

    ref: str
    status: PaymentStatus
    amount: int
    currency: str
    client_secret: str | None = None
    method: str | None = None
    failure: str | None = None


@dataclass(frozen=True)
class GatewayRefund:
    ref: str
    status: RefundStatus
    amount: int


@dataclass(frozen=True)
class Notice:
    """A gateway's webhook event, its signature verified: about the payment `payment_ref`,
    which became `status` (None: it says nothing of its status). `payment_id` is Galley's
    own id of it, where the event carries it: the event may arrive before the answer
    that gave Galley the gateway's ref was recorded."""

    event_id: str
    type: str
    payment_ref: str | None
    status: PaymentStatus | None = None
    payment_id: str | None = None
    amount: int | None = None
    currency: str | None = None
    refunded: int | None = None  # all that was refunded of the payment, for a refund
    disputed: bool = False


class GatewayRefused(Exception):
    """The gateway would not take the request as asked (an unknown payment method, a
    payment it does not know): the caller's mistake, not an outage."""


class InvalidNotice(Exception):
    """A webhook whose signature does not verify, or that is too old: refused."""


class Gateway(Protocol):
    name: str

    async def create(self, charge: Charge) -> GatewayPayment: ...

    async def capture(self, ref: str, amount: int, *, key: str) -> GatewayPayment: ...

    async def cancel(self, ref: str, *, key: str) -> GatewayPayment: ...

    async def refund(self, ref: str, amount: int, *, key: str) -> GatewayRefund: ...

    async def retrieve(self, ref: str) -> GatewayPayment: ...

    def notice(self, body: bytes, headers: Mapping[str, str]) -> Notice: ...
