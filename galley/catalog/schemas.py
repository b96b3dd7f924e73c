from __future__ import annotations

import datetime as dt
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from galley.money import Money, Price

SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$"
# Free text: anything but NUL, which PostgreSQL cannot store (SQLite would, so refuse it on both).
TEXT_PATTERN = r"^[^\x00]*$"
Sku = Field(pattern=SKU_PATTERN, description="Stock keeping unit, unique.", examples=["ESP-250"])


SUPPLIER_ID_PATTERN = r"^[1-9][0-9]{0,17}$"
# Far above any real stock figure; keeps purchase quantities well inside 32 bits.
MAX_UNITS = 1_000_000


class Replenishment(BaseModel):
    """How a product is bought in: see docs/domain.md, "Replenishment"."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        # `_reorder_pair`, for the spec: both reorder fields, or neither.
        json_schema_extra={
            "anyOf": [
                {
                    "properties": {
                        "reorder_point": {"type": "null"},
                        "reorder_quantity": {"type": "null"},
                    }
                },
                {
                    "properties": {
                        "reorder_point": {"type": "integer"},
                        "reorder_quantity": {"type": "integer"},
                    },
                    "required": ["reorder_point", "reorder_quantity"],
                },
            ]
        },
    )

    allow_backorder: bool = Field(
        default=True, description="Accept orders for more than is in stock."
    )
    margin_pct: int = Field(
        default=20, ge=0, le=500, description="Bought on top of what waiting orders need."
    )
    reorder_point: int | None = Field(
        default=None, ge=0, le=MAX_UNITS, description="Buy more when available + spare falls below."
    )
    reorder_quantity: int | None = Field(default=None, ge=1, le=MAX_UNITS)
    pack_size: int = Field(default=1, ge=1, le=10_000, description="Bought in whole packs.")

    @model_validator(mode="after")
    def _reorder_pair(self) -> Self:
        if (self.reorder_point is None) != (self.reorder_quantity is None):
            raise ValueError("reorder_point and reorder_quantity go together")
        return self


class ReplenishmentPatch(BaseModel):
    """Only the fields sent change."""

    model_config = ConfigDict(extra="forbid", strict=True)

    allow_backorder: bool = None  # type: ignore[assignment]
    margin_pct: int = Field(default=None, ge=0, le=500)  # type: ignore[assignment]
    reorder_point: int | None = Field(default=None, ge=0, le=MAX_UNITS)
    reorder_quantity: int | None = Field(default=None, ge=1, le=MAX_UNITS)
    pack_size: int = Field(default=None, ge=1, le=10_000)  # type: ignore[assignment]


class ProductCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    sku: str = Sku
    name: str = Field(
        min_length=1, max_length=200, pattern=TEXT_PATTERN, examples=["Espresso beans 250 g"]
    )
    description: str | None = Field(default=None, max_length=4000, pattern=TEXT_PATTERN)
    price: Price
    active: bool = True
    supplier: str | None = Field(default=None, pattern=SUPPLIER_ID_PATTERN, examples=["1"])
    replenishment: Replenishment = Field(default_factory=Replenishment)


class ProductPatch(BaseModel):
    """Only the fields sent change; `description: null` clears it."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(  # type: ignore[assignment]
        default=None, min_length=1, max_length=200, pattern=TEXT_PATTERN
    )
    description: str | None = Field(default=None, max_length=4000, pattern=TEXT_PATTERN)
    price: Price = None  # type: ignore[assignment]
    active: bool = None  # type: ignore[assignment]
    supplier: str | None = Field(default=None, pattern=SUPPLIER_ID_PATTERN)
    replenishment: ReplenishmentPatch = None  # type: ignore[assignment]


class ProductOut(BaseModel):
    sku: str
    name: str
    description: str | None
    price: Money
    active: bool
    supplier: str | None
    replenishment: Replenishment
    created_at: dt.datetime
    updated_at: dt.datetime
