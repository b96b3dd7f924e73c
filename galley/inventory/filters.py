"""The `?sku=&location=` filters every stock listing takes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query

from galley.catalog.schemas import SKU_PATTERN
from galley.inventory.schemas import CODE_PATTERN


@dataclass(frozen=True)
class StockFilter:
    sku: str | None
    location: str | None


async def _stock_filter(
    sku: Annotated[str | None, Query(pattern=SKU_PATTERN, description="Only this SKU.")] = None,
    location: Annotated[
        str | None, Query(pattern=CODE_PATTERN, description="Only this location code.")
    ] = None,
) -> StockFilter:
    return StockFilter(sku, location)


StockFilters = Annotated[StockFilter, Depends(_stock_filter)]
