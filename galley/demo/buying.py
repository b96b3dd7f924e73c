"""The buyer's morning round: goods that are due arrive, then the drafts go out."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from galley.config import Settings
from galley.db import Database
from galley.demo.shop import ACTOR
from galley.purchasing import purchase_orders, views
from galley.purchasing.rules import OPEN_PO_STATUSES
from galley.purchasing.schemas import PurchaseOrderOut, ReceiptCreate, ReceiptLine
from galley.purchasing.service import receive
from galley.reactions import settle, settled

# One first delivery in this many comes short; the rest follows with the supplier's next.
SHORT_EVERY = 3


@dataclass
class Buyer:
    """Keeps the demo's calendar: the day each sent purchase order's goods arrive."""

    lead_times: dict[str, int]  # supplier id -> days from sending to delivery
    due: dict[str, int] = field(default_factory=dict)  # purchase order id -> day it arrives
    first_deliveries: int = 0

    async def morning(self, database: Database, day: int) -> None:
        async with database.transaction(read_only=True) as session:
            open_orders = [
                po for po in await every_purchase_order(session) if po.status in OPEN_PO_STATUSES
            ]
        for po in open_orders:
            if po.status != "draft" and po.id not in self.due:
                # Sent automatically during yesterday's trade, as its supplier wants.
                self.due[po.id] = day - 1 + self.lead_times[po.supplier]
        for po in open_orders:
            if po.status == "draft" or self.due[po.id] > day:
                continue
            short = False
            if po.status == "sent":
                self.first_deliveries += 1
                short = self.first_deliveries % SHORT_EVERY == 0
            async with database.transaction() as session:
                complete = await _deliver(session, database.settings, po, short=short)
            if complete:
                del self.due[po.id]
            else:
                self.due[po.id] = day + self.lead_times[po.supplier]
        for po in open_orders:
            if po.status == "draft":
                async with database.transaction() as session:
                    _, sent = await purchase_orders.send(session, po.id, actor=ACTOR)
                    await settle(session, sent, database.settings)
                self.due[po.id] = day + self.lead_times[po.supplier]


async def every_purchase_order(session: AsyncSession) -> list[PurchaseOrderOut]:
    found: list[PurchaseOrderOut] = []
    cursor: str | None = None
    while True:
        page, cursor = await views.list_purchase_orders(
            session, status=None, supplier=None, location=None, cursor=cursor, limit=100
        )
        found += page
        if cursor is None:
            return found


async def _deliver(
    session: AsyncSession, settings: Settings, po: PurchaseOrderOut, *, short: bool
) -> bool:
    """Receive what is outstanding (a short delivery brings half of one line) and hand it
    to the waiting orders, as the receiving endpoint does. True when nothing is left."""
    outstanding = {
        line.sku: line.quantity_ordered - line.quantity_received
        for line in po.lines
        if line.quantity_ordered > line.quantity_received
    }
    arriving = dict(outstanding)
    if short:
        biggest = max(outstanding, key=lambda sku: (outstanding[sku], sku))
        arriving[biggest] //= 2
        if not any(arriving.values()):  # one unit on one line cannot come short
            arriving = dict(outstanding)
    lines = [ReceiptLine(sku=sku, quantity=n) for sku, n in arriving.items() if n > 0]
    received = receive(session, po.id, ReceiptCreate(lines=lines), actor=ACTOR)
    await settled(session, received, settings)
    return arriving == outstanding
