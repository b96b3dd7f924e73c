"""What other areas, the reactions and the routes call on orders."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from galley.changes import Change, OrderPlaced
from galley.config import Settings
from galley.events import service as events
from galley.orders.backorders import fill_backorders as fill_backorders
from galley.orders.lifecycle import transition as transition
from galley.orders.placing import place_order as place_order
from galley.orders.views import PERSONAL
from galley.orders.views import Payable as Payable
from galley.orders.views import payable as payable


async def announce_placed(
    session: AsyncSession, placed: OrderPlaced, settings: Settings
) -> list[Change]:
    """Others hear of the order, without its personal data. Recorded here rather than
    through `Announced`, so that it is written before the order's stock is taken."""
    events.record(session, "order.placed", placed.order, hide=PERSONAL)
    return []
