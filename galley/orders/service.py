"""What other areas, the reactions and the routes call on orders."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from galley.changes import Announced, Change, OrderPlaced
from galley.orders.backorders import fill_backorders as fill_backorders
from galley.orders.lifecycle import transition as transition
from galley.orders.placing import place_order as place_order
from galley.orders.views import PERSONAL


async def announce_placed(session: AsyncSession, placed: OrderPlaced) -> list[Change]:
    """Others hear of the order, without its personal data."""
    return [Announced("order.placed", [placed.order], PERSONAL)]
