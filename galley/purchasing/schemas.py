from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from galley.catalog.schemas import MAX_UNITS, SKU_PATTERN, TEXT_PATTERN
from galley.identity.schemas import EMAIL_PATTERN, SPACES
from galley.inventory.schemas import CODE_PATTERN
from galley.money import Money, Price
from galley.purchasing.rules import POStatus

URL_PATTERN = rf"^https?://[^{SPACES}\x00]{{1,2000}}$"
CURRENCY_PATTERN = r"^[A-Z]{3}$"


class SupplierCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1, max_length=200, pattern=TEXT_PATTERN, examples=["Roastery"])
    email: str | None = Field(default=None, max_length=320, pattern=EMAIL_PATTERN)
    webhook_url: str | None = Field(default=None, max_length=2000, pattern=URL_PATTERN)
    lead_time_days: int = Field(ge=0, le=365, examples=[3])
    currency: str = Field(pattern=CURRENCY_PATTERN, examples=["EUR"])
    auto_send: bool = Field(
        default=False, description="Send each draft purchase order as soon as it changes."
    )


class SupplierPatch(BaseModel):
    """Only the fields sent change; `email: null` and `webhook_url: null` clear them."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(default=None, min_length=1, max_length=200, pattern=TEXT_PATTERN)  # type: ignore[assignment]
    email: str | None = Field(default=None, max_length=320, pattern=EMAIL_PATTERN)
    webhook_url: str | None = Field(default=None, max_length=2000, pattern=URL_PATTERN)
    lead_time_days: int = Field(default=None, ge=0, le=365)  # type: ignore[assignment]
    currency: str = Field(default=None, pattern=CURRENCY_PATTERN)  # type: ignore[assignment]
    auto_send: bool = None  # type: ignore[assignment]


class SupplierOut(BaseModel):
    id: str
    name: str
    email: str | None
    webhook_url: str | None
    lead_time_days: int
    currency: str
    auto_send: bool
    previous_webhook_secret_expires_at: dt.datetime | None = Field(
        description="Until then the signing secret replaced by the last rotation signs too."
    )
    created_at: dt.datetime
    updated_at: dt.datetime


class SupplierWithSecret(SupplierOut):
    webhook_secret: str | None = Field(
        default=None,
        description="The secret that signs what is sent to `webhook_url`, shown once: when "
        "the URL is first set and when the secret is rotated. Verify with any Standard "
        "Webhooks library (docs/events.md).",
    )


class PurchaseLineRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    sku: str = Field(pattern=SKU_PATTERN)
    quantity: int = Field(ge=0, le=MAX_UNITS, description="0 takes the line off a draft.")
    # Capped like a price, so a cost always fits its 64-bit column.
    unit_cost: Price | None = None


class PurchaseOrderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    supplier: str = Field(pattern=r"^[1-9][0-9]{0,17}$")
    location: str = Field(pattern=CODE_PATTERN)
    lines: list[PurchaseLineRequest] = Field(min_length=1, max_length=500)


class PurchaseOrderPatch(BaseModel):
    """Set the quantity (and cost) of each SKU named; other lines stay as they are."""

    model_config = ConfigDict(extra="forbid", strict=True)

    lines: list[PurchaseLineRequest] = Field(min_length=1, max_length=500)


class PurchaseLineOut(BaseModel):
    sku: str
    quantity_ordered: int
    quantity_received: int
    unit_cost: Money | None


class DispatchOut(BaseModel):
    """How a sent purchase order is on its way to its supplier, by one channel."""

    channel: Literal["webhook", "email"]
    recipient: str = Field(description="The URL or e-mail address it goes to.")
    status: Literal["pending", "sent", "failed", "skipped"] = Field(
        description="`pending` until it is through or the retry schedule is spent "
        "(`failed`); `skipped` when it could not be tried at all (see `error`)."
    )
    attempts: int
    last_attempt_at: dt.datetime | None
    next_attempt_at: dt.datetime | None
    error: str | None = Field(description="Why the last attempt failed, or why it was skipped.")
    sent_at: dt.datetime | None


class PurchaseOrderOut(BaseModel):
    id: str
    supplier: str
    location: str
    status: POStatus
    lines: list[PurchaseLineOut]
    created_at: dt.datetime
    updated_at: dt.datetime
    sent_at: dt.datetime | None
    dispatch: list[DispatchOut] = Field(
        description="Once sent: its way to the supplier, one item per channel the supplier "
        "has (its webhook_url, its e-mail)."
    )


class ReceiptLine(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    sku: str = Field(pattern=SKU_PATTERN)
    quantity: int = Field(ge=1, le=MAX_UNITS)


class ReceiptCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    lines: list[ReceiptLine] = Field(min_length=1, max_length=500)
    allow_over_receipt: bool = False


class PlanItem(BaseModel):
    sku: str
    location: str
    supplier: str | None
    backordered: int
    incoming: int
    spare: int
    uncovered: int
    to_buy: int = Field(description="What the rule would add to a draft now.")
