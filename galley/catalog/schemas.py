from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from galley.money import Money, Price

SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$"
# Free text: anything but NUL, which PostgreSQL cannot store (SQLite would, so refuse it on both).
TEXT_PATTERN = r"^[^\x00]*$"
Sku = Field(pattern=SKU_PATTERN, description="Stock keeping unit, unique.", examples=["ESP-250"])


class ProductCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    sku: str = Sku
    name: str = Field(
        min_length=1, max_length=200, pattern=TEXT_PATTERN, examples=["Espresso beans 250 g"]
    )
    description: str | None = Field(default=None, max_length=4000, pattern=TEXT_PATTERN)
    price: Price
    active: bool = True


class ProductPatch(BaseModel):
    """Only the fields sent change; `description: null` clears it."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(  # type: ignore[assignment]
        default=None, min_length=1, max_length=200, pattern=TEXT_PATTERN
    )
    description: str | None = Field(default=None, max_length=4000, pattern=TEXT_PATTERN)
    price: Price = None  # type: ignore[assignment]
    active: bool = None  # type: ignore[assignment]


class ProductOut(BaseModel):
    sku: str
    name: str
    description: str | None
    price: Money
    active: bool
    created_at: dt.datetime
    updated_at: dt.datetime
