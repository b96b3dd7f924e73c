"""After the sell-out: every stock figure checked against what it summarizes, and the
sold-out SKU sold exactly once per unit."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import create_async_engine

from bench.shop import SELLOUT_SKU, SELLOUT_UNITS
from tests.stock_figures import drift, rows


async def check_sell_out(database_url: str, statuses: dict[str, int], orders: int) -> list[str]:
    """What is wrong, in words; an empty list when everything holds."""
    problems = []
    expected = {"201": SELLOUT_UNITS, "409": orders - SELLOUT_UNITS}
    if statuses != expected:
        problems.append(f"answers {statuses}, expected {expected}")
    engine = create_async_engine(database_url)
    try:
        levels = await rows(engine)
    finally:
        await engine.dispose()
    problems += [f"stock row drifts: {row}" for row in drift(levels)]
    sold = [row for row in levels if row["sku"] == SELLOUT_SKU]
    if [(row["on_hand"], row["reserved"], row["held"]) for row in sold] != [(SELLOUT_UNITS,) * 3]:
        problems.append(f"{SELLOUT_SKU} is not sold out exactly: {sold}")
    return problems
