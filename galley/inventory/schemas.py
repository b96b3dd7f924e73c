from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from galley.catalog.schemas import SKU_PATTERN, TEXT_PATTERN
from galley.inventory.rules import AdjustmentReason, Cover

CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,31}$"
# Far above any real adjustment; keeps on_hand well inside a 32-bit column.
MAX_DELTA = 1_000_000


class LocationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    code: str = Field(pattern=CODE_PATTERN, examples=["KITCHEN-1"])
    name: str = Field(min_length=1, max_length=200, pattern=TEXT_PATTERN, examples=["Main kitchen"])


class LocationOut(BaseModel):
    code: str
    name: str
    created_at: dt.datetime


class StockLevelOut(BaseModel):
    sku: str
    location: str
    on_hand: int
    reserved: int
    available: int = Field(description="on_hand - reserved")
    backordered: int = Field(description="Ordered by open orders and not yet allocated.")
    incoming: int = Field(description="On open purchase orders and not yet received.")
    promised: int = Field(description="min(backordered, incoming): incoming that orders wait for.")
    spare: int = Field(description="incoming - promised: incoming that no order waits for yet.")

    @classmethod
    def of(
        cls, sku: str, location: str, on_hand: int, reserved: int, backordered: int, incoming: int
    ) -> StockLevelOut:
        cover = Cover(backordered=backordered, incoming=incoming)
        return cls(
            sku=sku,
            location=location,
            on_hand=on_hand,
            reserved=reserved,
            available=on_hand - reserved,
            backordered=backordered,
            incoming=incoming,
            promised=cover.promised,
            spare=cover.spare,
        )


class AdjustmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    sku: str = Field(pattern=SKU_PATTERN)
    location: str = Field(pattern=CODE_PATTERN)
    delta: int = Field(
        ge=-MAX_DELTA,
        le=MAX_DELTA,
        description="Signed change of on_hand, not 0.",
        json_schema_extra={"not": {"const": 0}},
    )
    reason: AdjustmentReason


class LedgerEntryOut(BaseModel):
    id: str
    sku: str
    location: str
    delta: int
    reason: str
    reference: str | None
    actor: str
    created_at: dt.datetime


class AdjustmentOut(BaseModel):
    entry: LedgerEntryOut
    stock: StockLevelOut


@dataclass(frozen=True)
class Adjusted:
    """An adjustment made: its product and location by their keys, and its ledger entry
    as the API shows it."""

    product_id: int
    location_id: int
    entry: LedgerEntryOut
