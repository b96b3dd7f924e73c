from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from galley.catalog.schemas import SKU_PATTERN, TEXT_PATTERN
from galley.identity.schemas import NAME_PATTERN, PHONE_PATTERN
from galley.inventory.schemas import CODE_PATTERN
from galley.money import Money
from galley.orders.rules import MAX_LINES, MAX_QUANTITY, Status

# Order ids are opaque to clients; this only keeps junk out of queries.
ORDER_ID_PATTERN = r"^[A-Za-z0-9_\-]{1,64}$"


class LineRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    sku: str = Field(pattern=SKU_PATTERN, examples=["ESP-250"])
    quantity: int = Field(ge=1, le=MAX_QUANTITY, examples=[2])


class Delivery(BaseModel):
    """Whom to deliver to. Personal data: sealed at rest, shown only with the order."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1, max_length=200, pattern=NAME_PATTERN, examples=["Ada Lovelace"])
    phone: str | None = Field(default=None, pattern=PHONE_PATTERN, examples=["+44 20 7946 0958"])
    address: str = Field(
        min_length=1,
        max_length=1000,
        pattern=TEXT_PATTERN,
        examples=["12 Mill Lane, Leeds LS1 4AB"],
    )


class OrderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    location: str = Field(pattern=CODE_PATTERN, examples=["KITCHEN-1"])
    lines: list[LineRequest] = Field(min_length=1, max_length=MAX_LINES)
    customer_ref: str | None = Field(
        default=None, min_length=1, max_length=100, pattern=TEXT_PATTERN
    )
    note: str | None = Field(default=None, max_length=2000, pattern=TEXT_PATTERN)
    delivery: Delivery | None = None


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    reason: str | None = Field(default=None, max_length=500, pattern=TEXT_PATTERN)


class LineOut(BaseModel):
    sku: str
    quantity: int
    allocated: int
    backordered: int
    unit_price: Money
    line_total: Money


class OrderOut(BaseModel):
    id: str
    number: int
    status: Status
    location: str
    lines: list[LineOut]
    total: Money
    customer_ref: str | None
    note: str | None
    delivery: Delivery | None
    created_at: dt.datetime
    updated_at: dt.datetime


class OrderEventOut(BaseModel):
    id: str
    type: str = Field(examples=["status_changed"])
    from_status: Status | None
    to_status: Status | None
    cause: str
    actor: str
    data: dict[str, Any] | None
    created_at: dt.datetime
