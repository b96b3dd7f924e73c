from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from galley.money import Money

SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$"
Sku = Field(pattern=SKU_PATTERN, description="Stock keeping unit, unique.", examples=["ESP-250"])


class ProductCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: str = Sku
    name: str = Field(min_length=1, max_length=200, examples=["Espresso beans 250 g"])
    description: str | None = Field(default=None, max_length=4000)
    price: Money
    active: bool = True


class ProductPatch(BaseModel):
    """Only the fields sent change; `description: null` clears it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default=None, min_length=1, max_length=200)  # type: ignore[assignment]
    description: str | None = Field(default=None, max_length=4000)
    price: Money = None  # type: ignore[assignment]
    active: bool = None  # type: ignore[assignment]


class ProductOut(BaseModel):
    sku: str
    name: str
    description: str | None
    price: Money
    active: bool
    created_at: dt.datetime
    updated_at: dt.datetime
