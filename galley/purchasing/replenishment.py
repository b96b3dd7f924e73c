"""The rule: buy what waiting orders need and nothing on its way covers, plus a margin.

Runs in the transaction of whatever changed the figures (an order, a receipt, a
cancelled purchase order, an adjustment, a product's settings), for the products it
touched. Statement count does not grow with the number of products.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, exists, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from galley.catalog.service import Sellable, sellables, sellables_by_id
from galley.changes import (
    Change,
    CoverChanged,
    DraftsGrew,
    PurchaseOrdersAnnounced,
    SourcingChanged,
    StockFreed,
    StockTaken,
)
from galley.db import insert_for, settings_of, utcnow
from galley.inventory import service as inventory
from galley.purchasing import rules, views
from galley.purchasing.models import PurchaseOrder, PurchaseOrderEvent, PurchaseOrderLine, Supplier
from galley.purchasing.schemas import PlanItem

_POS = cast(Table, PurchaseOrder.__table__)
_PO_LINES = cast(Table, PurchaseOrderLine.__table__)
_PO_EVENTS = cast(Table, PurchaseOrderEvent.__table__)
_DRAFT = text("status = 'draft'")

_DRAFTS = (
    select(PurchaseOrder.id, PurchaseOrder.supplier_id, PurchaseOrder.created_at)
    .where(
        PurchaseOrder.location_id == bindparam("location_id"),
        PurchaseOrder.supplier_id.in_(bindparam("supplier_ids", expanding=True)),
        PurchaseOrder.status == "draft",
    )
    .order_by(PurchaseOrder.id)
    .with_for_update()
)
_DUE_DRAFT = aliased(PurchaseOrder)
_SENT = aliased(PurchaseOrder)
# Drafts (with lines) of auto-sending suppliers not sent an order there since `cutoff`.
_DUE = (
    select(_DUE_DRAFT.id)
    .join(Supplier, Supplier.id == _DUE_DRAFT.supplier_id)
    .where(
        _DUE_DRAFT.status == "draft",
        Supplier.auto_send.is_(True),
        exists().where(PurchaseOrderLine.purchase_order_id == _DUE_DRAFT.id),
        ~exists().where(
            _SENT.supplier_id == _DUE_DRAFT.supplier_id,
            _SENT.location_id == _DUE_DRAFT.location_id,
            _SENT.sent_at > bindparam("cutoff"),
        ),
    )
    .order_by(_DUE_DRAFT.id)
)


def batch_window(session: AsyncSession) -> dt.timedelta:
    """`GALLEY_PURCHASING_BATCH_SECONDS` of the application this session serves."""
    return dt.timedelta(seconds=settings_of(session).purchasing_batch_seconds)


@dataclass(frozen=True)
class Purchase:
    product_id: int
    sku: str
    supplier_id: int
    quantity: int


def purchases(product: Sellable, level: inventory.Level) -> int:
    """What the rule buys now for one product at one location (0 without a supplier)."""
    if product.supplier_id is None:
        return 0
    cover = level.cover
    buy = rules.purchase_quantity(cover.uncovered, product.margin_pct, product.pack_size)
    # Buying covers every uncovered unit; what it buys beyond them is spare too.
    spare_after = cover.spare + buy - cover.uncovered
    return buy + rules.reorder_top_up(
        level.available,
        spare_after,
        product.reorder_point,
        product.reorder_quantity,
        product.pack_size,
    )


async def replenish(
    session: AsyncSession, change: StockTaken | StockFreed | CoverChanged
) -> list[Change]:
    """Add what the rule buys to each supplier's draft at the change's location.

    The change's locked figures, and what it read of the products, are used when it has
    them: an order's are.
    """
    return await _replenish(
        session,
        change.location_id,
        change.product_ids,
        actor=change.actor,
        figures=getattr(change, "figures", None),
        known=getattr(change, "products", None),
    )


async def replenish_everywhere(session: AsyncSession, change: SourcingChanged) -> list[Change]:
    """Run the rule for one product at every location that stocks it."""
    changes = []
    for location_id in await inventory.locations_of(session, change.product_id):
        changes += await _replenish(
            session, location_id, [change.product_id], actor=change.actor, figures=None
        )
    return changes


async def _replenish(
    session: AsyncSession,
    location_id: int,
    product_ids: Iterable[int],
    *,
    actor: str,
    figures: Mapping[int, inventory.Level] | None,
    known: Mapping[int, Sellable] | None = None,
) -> list[Change]:
    ids = sorted(set(product_ids))
    found = known if known is not None else await sellables_by_id(session, ids)
    products = {p: found[p] for p in ids if p in found and found[p].supplier_id}
    if not products:
        return []
    if figures is None:
        figures = await inventory.lock_levels(session, location_id, products)
    buys = [
        Purchase(p, products[p].sku, cast(int, products[p].supplier_id), quantity)
        for p in sorted(products)
        if (quantity := purchases(products[p], figures[p])) > 0
    ]
    if not buys:
        return []
    _, changes = await add_to_drafts(session, location_id, buys, actor=actor, cause="replenishment")
    return changes


async def add_to_drafts(
    session: AsyncSession, location_id: int, buys: list[Purchase], *, actor: str, cause: str
) -> tuple[dict[int, int], list[Change]]:
    """Put purchases on each supplier's open draft for the location, creating it if need be,
    and count them as incoming. Returns the purchase order each supplier's lines went on."""
    drafts, created = await _drafts(session, location_id, sorted({b.supplier_id for b in buys}))
    now = utcnow()
    upsert = insert_for(session, _PO_LINES).values(
        purchase_order_id=bindparam("po"),
        product_id=bindparam("product_id"),
        sku=bindparam("sku"),
        quantity_ordered=bindparam("quantity"),
        quantity_received=0,
    )
    await session.execute(
        upsert.on_conflict_do_update(
            index_elements=["purchase_order_id", "product_id"],
            set_={
                "quantity_ordered": _PO_LINES.c.quantity_ordered + upsert.excluded.quantity_ordered
            },
        )
        # With RETURNING, the rows go as one statement despite ON CONFLICT (see `galley.db`).
        .returning(_PO_LINES.c.id),
        [
            {
                "po": drafts[b.supplier_id],
                "product_id": b.product_id,
                "sku": b.sku,
                "quantity": b.quantity,
            }
            for b in buys
        ],
    )
    await inventory.change_levels(
        session,
        location_id,
        [inventory.LevelChange(b.product_id, incoming=b.quantity) for b in buys],
    )
    per_po: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for b in buys:
        per_po[drafts[b.supplier_id]].append({"sku": b.sku, "quantity": b.quantity})
    await session.execute(update(_POS).where(_POS.c.id.in_(sorted(per_po))).values(updated_at=now))
    await session.execute(
        insert(_PO_EVENTS),
        [
            {
                "purchase_order_id": po,
                "type": "lines_added",
                "from_status": None,
                "to_status": None,
                "cause": cause,
                "actor": actor,
                "data": {"lines": lines},
                "created_at": now,
            }
            for po, lines in sorted(per_po.items())
        ],
    )
    grown: list[Change] = [DraftsGrew(tuple(sorted(per_po)), actor)]
    if created:
        grown.insert(0, PurchaseOrdersAnnounced("purchase_order.created", tuple(created)))
    return drafts, grown


async def send_grown_drafts(session: AsyncSession, grown: DraftsGrew) -> list[Change]:
    """Send those of the drafts that are due (`send_due_drafts`)."""
    return await send_due_drafts(
        session, batch_window(session), only=list(grown.purchase_order_ids), actor=grown.actor
    )


async def announce(session: AsyncSession, change: PurchaseOrdersAnnounced) -> list[Change]:
    return [await views.announced(session, change.type, change.purchase_order_ids)]


async def send_due_drafts(
    session: AsyncSession,
    window: dt.timedelta,
    *,
    only: list[int] | None = None,
    actor: str,
) -> list[Change]:
    """Send the drafts of suppliers who take orders automatically, unless that supplier
    was sent an order for the same location within `window` (then a later call sends it:
    see `galley.purchasing.batching`)."""
    stmt = _DUE.params(cutoff=utcnow() - window)
    if only is not None:
        stmt = stmt.where(_DUE_DRAFT.id.in_(only))
    due = list((await session.execute(stmt)).scalars())
    return await send_drafts(session, due, actor=actor, cause="sent automatically") if due else []


async def _drafts(
    session: AsyncSession, location_id: int, supplier_ids: list[int]
) -> tuple[dict[int, int], list[int]]:
    """The open draft of each supplier at the location, by supplier, locked; created when
    missing. Also the ids of the drafts created.

    A draft the insert finds may be sent or cancelled by another transaction before the
    select locks it; the next round then creates a new one.
    """
    found: dict[int, int] = {}
    created: list[int] = []
    while missing := [s for s in supplier_ids if s not in found]:
        now = utcnow()
        inserted = await session.execute(
            insert_for(session, _POS)
            .values(
                supplier_id=bindparam("supplier_id"),
                location_id=location_id,
                status="draft",
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(
                index_elements=["supplier_id", "location_id"], index_where=_DRAFT
            )
            .returning(_POS.c.id),
            [{"supplier_id": s} for s in missing],
        )
        created += inserted.scalars()
        rows = await session.execute(_DRAFTS, {"location_id": location_id, "supplier_ids": missing})
        found |= {row.supplier_id: row.id for row in rows}
    return found, created


async def send_drafts(
    session: AsyncSession, po_ids: list[int], *, actor: str, cause: str
) -> list[Change]:
    """Freeze these drafts as sent; the `sent` event is what reaches the supplier."""
    now = utcnow()
    sent = list(
        (
            await session.execute(
                update(_POS)
                .where(_POS.c.id.in_(po_ids), _POS.c.status == "draft")
                .values(status="sent", sent_at=now, updated_at=now)
                .returning(_POS.c.id)
            )
        ).scalars()
    )
    if sent:
        await session.execute(
            insert(_PO_EVENTS),
            [
                {
                    "purchase_order_id": po,
                    "type": "sent",
                    "from_status": "draft",
                    "to_status": "sent",
                    "cause": cause,
                    "actor": actor,
                    "data": None,
                    "created_at": now,
                }
                for po in sorted(sent)
            ],
        )
        return [PurchaseOrdersAnnounced("purchase_order.sent", tuple(sent))]
    return []


async def plan(
    session: AsyncSession, *, sku: str | None, location: str | None, cursor: str | None, limit: int
) -> tuple[list[PlanItem], str | None]:
    """Per SKU and location: what waits, what is on its way, and what the rule buys now."""
    stock, next_cursor = await inventory.list_stock(
        session, sku=sku, location=location, cursor=cursor, limit=limit
    )
    products = await sellables(session, {level.sku for level in stock})
    items = []
    for level in stock:
        product = products[level.sku]
        figures = inventory.Level(
            product.id,
            level.on_hand,
            level.reserved,
            level.backordered,
            level.incoming,
            level.sku,
            level.location,
            product.reorder_point,
        )
        items.append(
            PlanItem(
                sku=level.sku,
                location=level.location,
                supplier=None if product.supplier_id is None else str(product.supplier_id),
                backordered=level.backordered,
                incoming=level.incoming,
                spare=level.spare,
                uncovered=figures.cover.uncovered,
                to_buy=purchases(product, figures),
            )
        )
    return items, next_cursor
