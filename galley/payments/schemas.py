from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from galley.money import Money
from galley.payments.rules import PaymentStatus


class PaymentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    method: str | None = Field(
        default=None,
        max_length=40,
        pattern=r"^[a-z_]{1,40}$",
        description=(
            "With the sandbox gateway, the test token that decides the outcome "
            "(`sandbox_succeeds`, `sandbox_declines`, `sandbox_confirms_later`); "
            "Stripe's customers choose their method in Stripe's Payment Element instead."
        ),
        examples=["sandbox_succeeds"],
    )


class PaymentOut(BaseModel):
    id: str
    order_id: str
    status: PaymentStatus
    amount: Money
    gateway: str
    method: str | None = None
    # What a front end completes the payment with (Stripe.js `confirmPayment`); only the
    # order's customer and staff ever see it.
    client_secret: str | None = None
    failure: str | None = None
    created_at: dt.datetime
