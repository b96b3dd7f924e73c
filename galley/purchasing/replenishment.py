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

from sqlalchemy import (
    BigInteger,
    BindParameter,
    ColumnElement,
    String,
    Table,
    and_,
    bindparam,
    exists,
    literal,
    literal_column,
    select,
    text,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.types import TypeEngine

from galley.appends import write_last
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
from galley.config import Settings
from galley.db import UTCDateTime, insert_for, rows_from, utcnow
from galley.inventory import service as inventory
from galley.purchasing import history, rules, views
from galley.purchasing.models import PurchaseOrder, PurchaseOrderLine, Supplier
from galley.purchasing.schemas import PlanItem

_POS = cast(Table, PurchaseOrder.__table__)
_PO_LINES = cast(Table, PurchaseOrderLine.__table__)
_DRAFT = text("status = 'draft'")


def _due(
    supplier_id: ColumnElement[int],
    location_id: ColumnElement[int],
    cutoff: dt.datetime | BindParameter[Any],
) -> ColumnElement[bool]:
    """Whether a draft of this supplier at this location goes out now: the supplier takes
    orders automatically and was not sent one for the location since `cutoff`."""
    sent = aliased(PurchaseOrder)
    return and_(
        select(Supplier.auto_send).where(Supplier.id == supplier_id).scalar_subquery(),
        ~exists().where(
            sent.supplier_id == supplier_id,
            sent.location_id == location_id,
            sent.sent_at > cutoff,
        ),
    )


_DRAFT_ROWS = _POS.alias("due_draft")
# Drafts (with lines) of auto-sending suppliers not sent an order there since `cutoff`.
_DUE = (
    select(_DRAFT_ROWS.c.id)
    .where(
        _DRAFT_ROWS.c.status == "draft",
        exists().where(PurchaseOrderLine.purchase_order_id == _DRAFT_ROWS.c.id),
        _due(_DRAFT_ROWS.c.supplier_id, _DRAFT_ROWS.c.location_id, bindparam("cutoff")),
    )
    .order_by(_DRAFT_ROWS.c.id)
)
# The supplier and location of the row a statement on `purchase_orders` writes.
_WRITTEN_SUPPLIER = literal_column("purchase_orders.supplier_id", BigInteger())
_WRITTEN_LOCATION = literal_column("purchase_orders.location_id", BigInteger())
_BOUGHT: dict[str, TypeEngine[Any]] = {
    "po": BigInteger(),
    "product_id": BigInteger(),
    "sku": String(),
    "quantity": BigInteger(),
}


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
    session: AsyncSession, change: StockTaken | StockFreed | CoverChanged, settings: Settings
) -> list[Change]:
    """Add what the rule buys to each supplier's draft at the change's location.

    The change's locked figures, and what it read of the products, are used when it has
    them: an order's are.
    """
    return await _replenish(
        session,
        change.location_id,
        change.product_ids,
        settings.purchasing_batch_window,
        actor=change.actor,
        figures=getattr(change, "figures", None),
        known=getattr(change, "products", None),
    )


async def replenish_everywhere(
    session: AsyncSession, change: SourcingChanged, settings: Settings
) -> list[Change]:
    """Run the rule for one product at every location that stocks it."""
    changes = []
    for location_id in await inventory.locations_of(session, change.product_id):
        changes += await _replenish(
            session,
            location_id,
            [change.product_id],
            settings.purchasing_batch_window,
            actor=change.actor,
            figures=None,
        )
    return changes


async def _replenish(
    session: AsyncSession,
    location_id: int,
    product_ids: Iterable[int],
    window: dt.timedelta,
    *,
    actor: str,
    figures: Mapping[int, inventory.Level] | None,
    known: Mapping[int, Sellable] | None = None,
) -> list[Change]:
    ids = sorted(set(product_ids))
    found = dict(known or {})
    if unknown := [p for p in ids if p not in found]:
        found |= await sellables_by_id(session, unknown)
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
    location = next(iter(figures.values())).location
    _, changes = await add_to_drafts(
        session, location_id, location, buys, window, actor=actor, cause="replenishment"
    )
    return changes


async def add_to_drafts(
    session: AsyncSession,
    location_id: int,
    location: str,
    buys: list[Purchase],
    window: dt.timedelta,
    *,
    actor: str,
    cause: str,
) -> tuple[dict[int, int], list[Change]]:
    """Put purchases on each supplier's open draft for the location, creating it if need be,
    and count them as incoming. Returns the purchase order each supplier's lines went on;
    a draft is due once its supplier was last sent one longer than `window` ago
    (`GALLEY_PURCHASING_BATCH_SECONDS`).

    The lines go with the statement that counts them incoming, their history as the
    transaction commits (`galley.appends`)."""
    drafts = await _drafts(
        session, location_id, location, sorted({b.supplier_id for b in buys}), window
    )
    by_supplier = {draft.supplier_id: draft.id for draft in drafts}
    lines = rows_from(
        session,
        "bought",
        [
            {
                "po": by_supplier[b.supplier_id],
                "product_id": b.product_id,
                "sku": b.sku,
                "quantity": b.quantity,
            }
            for b in sorted(buys, key=lambda b: (by_supplier[b.supplier_id], b.product_id))
        ],
        **_BOUGHT,
    )
    upsert = insert_for(session, _PO_LINES).from_select(
        ["purchase_order_id", "product_id", "sku", "quantity_ordered", "quantity_received"],
        # WHERE: SQLite reads an upsert's ON CONFLICT as a join's ON without one.
        select(lines.c.po, lines.c.product_id, lines.c.sku, lines.c.quantity, literal(0)).where(
            true()
        ),
    )
    write_last(
        session,
        upsert.on_conflict_do_update(
            index_elements=["purchase_order_id", "product_id"],
            set_={
                "quantity_ordered": _PO_LINES.c.quantity_ordered + upsert.excluded.quantity_ordered
            },
        ),
    )
    await inventory.change_levels(
        session,
        location_id,
        [inventory.LevelChange(b.product_id, incoming=b.quantity) for b in buys],
    )
    per_po: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for b in buys:
        per_po[by_supplier[b.supplier_id]].append({"sku": b.sku, "quantity": b.quantity})
    for po_id in per_po:
        bought = {b.product_id: b.quantity for b in buys if by_supplier[b.supplier_id] == po_id}
        views.lines_written(session, po_id, "quantity_ordered", bought, added=True)
    history.record(
        session,
        sorted(per_po),
        "lines_added",
        None,
        None,
        cause,
        actor,
        [{"lines": lines} for _, lines in sorted(per_po.items())],
    )
    grown: list[Change] = [DraftsGrew(tuple(d.id for d in drafts if d.due), actor)]
    if made := tuple(d.id for d in drafts if d.created):
        grown.insert(0, PurchaseOrdersAnnounced("purchase_order.created", made))
    return by_supplier, grown


async def send_grown_drafts(
    session: AsyncSession, grown: DraftsGrew, settings: Settings
) -> list[Change]:
    """Send the drafts that grew and are due (`_drafts` says which)."""
    due = list(grown.due)
    return (
        await send_drafts(session, due, actor=grown.actor, cause="sent automatically")
        if due
        else []
    )


async def announce(
    session: AsyncSession, change: PurchaseOrdersAnnounced, settings: Settings
) -> list[Change]:
    return [await views.announced(session, change.type, change.purchase_order_ids)]


async def send_due_drafts(
    session: AsyncSession, window: dt.timedelta, *, actor: str
) -> list[Change]:
    """Send the drafts of suppliers who take orders automatically, unless that supplier
    was sent an order for the same location within `window` (then a later call sends it:
    see `galley.purchasing.batching`)."""
    due = list((await session.execute(_DUE, {"cutoff": utcnow() - window})).scalars())
    return await send_drafts(session, due, actor=actor, cause="sent automatically") if due else []


@dataclass(frozen=True)
class _Draft:
    id: int
    supplier_id: int
    created: bool
    due: bool


async def _drafts(
    session: AsyncSession,
    location_id: int,
    location: str,
    supplier_ids: list[int],
    window: dt.timedelta,
) -> list[_Draft]:
    """The open draft of each supplier at the location, locked and touched, created where
    missing: whether this created it, and whether it is due to go out once it has its
    lines (`_DUE`). Those the transaction holds are touched, those it does not are
    upserted in one statement and held from then on (`views.hold_draft`)."""
    now = utcnow()
    held = {d.supplier_id: d for d in views.held_drafts(session) if d.location_id == location_id}
    drafts = [
        _Draft(held[s].id, s, False, due)
        for s, due in await _touch(
            session, [held[s] for s in supplier_ids if s in held], now, window
        )
    ]
    if not (others := [s for s in supplier_ids if s not in held]):
        return drafts
    suppliers = rows_from(
        session, "buying_from", [{"supplier_id": s} for s in others], supplier_id=BigInteger()
    )
    upsert = insert_for(session, _POS).from_select(
        ["supplier_id", "location_id", "status", "created_at", "updated_at"],
        select(
            suppliers.c.supplier_id,
            literal(location_id, BigInteger()),
            literal("draft"),
            literal(now, UTCDateTime()),
            literal(now, UTCDateTime()),
        ).where(true()),
    )
    found = await session.execute(
        upsert.on_conflict_do_update(
            index_elements=["supplier_id", "location_id"],
            index_where=_DRAFT,
            set_={"updated_at": upsert.excluded.updated_at},
        ).returning(
            *_POS.c,
            select(Supplier.currency)
            .where(Supplier.id == _WRITTEN_SUPPLIER)
            .scalar_subquery()
            .label("currency"),
            _inserted(session).label("created"),
            # Named in full: SQLite leaves the columns of RETURNING unqualified, and inside
            # the subqueries they would name the subqueries' own tables.
            _due(_WRITTEN_SUPPLIER, _WRITTEN_LOCATION, now - window).label("due"),
        )
    )
    for row in found:
        views.hold_draft(session, row._mapping, location)
        drafts.append(_Draft(row.id, row.supplier_id, row.created, row.due))
    return sorted(drafts, key=lambda d: d.id)


async def _touch(
    session: AsyncSession, drafts: list[PurchaseOrder], now: dt.datetime, window: dt.timedelta
) -> list[tuple[int, bool]]:
    """Touch drafts the transaction holds, as `_drafts` does the others: each one's
    supplier, and whether it is due (not its row again)."""
    if not drafts:
        return []
    touched = await session.execute(
        update(_POS)
        .where(_POS.c.id.in_([d.id for d in drafts]))
        .values(updated_at=now)
        .returning(_WRITTEN_SUPPLIER, _due(_WRITTEN_SUPPLIER, _WRITTEN_LOCATION, now - window))
    )
    for draft in drafts:
        views.written(session, draft.id, {"updated_at": now})
    return [(supplier_id, due) for supplier_id, due in touched]


def _inserted(session: AsyncSession) -> ColumnElement[bool]:
    """Whether the upsert inserted the row: on PostgreSQL a row it updated carries its
    lock (`xmax`); on SQLite an existing draft was created before it was touched now."""
    if session.get_bind().dialect.name == "postgresql":
        return literal_column("xmax") == 0
    return _POS.c.created_at == _POS.c.updated_at


async def send_drafts(
    session: AsyncSession, po_ids: list[int], *, actor: str, cause: str
) -> list[Change]:
    """Freeze these drafts as sent; the `sent` event is what reaches the supplier. Those
    the transaction holds are drafts as it knows them, and are not read back."""
    now = utcnow()
    sent_now = {"status": "sent", "sent_at": now, "updated_at": now}
    held = {d.id for d in views.held_drafts(session)}
    known = [i for i in po_ids if i in held]
    sending = update(_POS).where(_POS.c.status == "draft").values(sent_now)
    if known:
        await session.execute(sending.where(_POS.c.id.in_(known)))
        for po_id in known:
            views.written(session, po_id, sent_now)
    sent = known
    if others := [i for i in po_ids if i not in held]:
        sent += (
            await session.execute(sending.where(_POS.c.id.in_(others)).returning(_POS.c.id))
        ).scalars()
    if sent:
        history.record(session, sorted(sent), "sent", "draft", "sent", cause, actor, at=now)
        return [PurchaseOrdersAnnounced("purchase_order.sent", tuple(sorted(sent)))]
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
