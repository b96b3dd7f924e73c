"""Stock rows: the only module that locks and writes `stock_levels`.

Locks are always taken in product order, and before any order or purchase-order row,
so that two transactions never wait on each other in a circle. (A product's first row
at a location is made on first use and locked after the rows that exist: two
transactions making the same row wait on each other's insert, not in a circle.)
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert

from galley.catalog.models import Product
from galley.changes import Announced, Change
from galley.db import insert_for, utcnow
from galley.inventory import rules
from galley.inventory.models import Location, StockLedgerEntry, StockLevel
from galley.inventory.rules import Level, LevelChange
from galley.inventory.schemas import StockLevelOut

_LEVELS = cast(Table, StockLevel.__table__)
_LEDGER = cast(Table, StockLedgerEntry.__table__)
_PRODUCTS = cast(Table, Product.__table__)
_LOCATIONS = cast(Table, Location.__table__)


# Built once: these run on every order, and building a statement costs as much as running it.
_LOCK = (
    select(
        _LEVELS.c.product_id,
        _LEVELS.c.on_hand,
        _LEVELS.c.reserved,
        _LEVELS.c.backordered,
        _LEVELS.c.incoming,
        _PRODUCTS.c.sku,
        _LOCATIONS.c.code,
        _PRODUCTS.c.reorder_point,
    )
    .join(_PRODUCTS, _PRODUCTS.c.id == _LEVELS.c.product_id)
    .join(_LOCATIONS, _LOCATIONS.c.id == _LEVELS.c.location_id)
    .where(
        _LEVELS.c.location_id == bindparam("location_id"),
        _LEVELS.c.product_id.in_(bindparam("product_ids", expanding=True)),
    )
    .order_by(_LEVELS.c.product_id)
    .with_for_update(of=_LEVELS)
)
_CHANGE = (
    update(_LEVELS)
    .where(
        _LEVELS.c.location_id == bindparam("at"),
        _LEVELS.c.product_id == bindparam("product"),
    )
    .values(
        on_hand=_LEVELS.c.on_hand + bindparam("d_on_hand"),
        reserved=_LEVELS.c.reserved + bindparam("d_reserved"),
        backordered=_LEVELS.c.backordered + bindparam("d_backordered"),
        incoming=_LEVELS.c.incoming + bindparam("d_incoming"),
        updated_at=bindparam("now"),
    )
)


async def lock_levels(
    session: AsyncSession, location_id: int, product_ids: Iterable[int]
) -> dict[int, Level]:
    """The figures of these products at the location, locked until the transaction ends."""
    ids = sorted(set(product_ids))
    if not ids:
        return {}
    locked = await _lock(session, location_id, ids)
    if missing := [p for p in ids if p not in locked]:
        # A product's first stock at a location: its row is made, then locked like the rest.
        await _ensure(session, location_id, missing)
        locked |= await _lock(session, location_id, missing)
    return dict(sorted(locked.items()))


async def _lock(session: AsyncSession, location_id: int, ids: list[int]) -> dict[int, Level]:
    rows = await session.execute(_LOCK, {"location_id": location_id, "product_ids": ids})
    return {row.product_id: Level(*row) for row in rows}


async def locations_of(session: AsyncSession, product_id: int) -> list[int]:
    """The locations that have a stock row for the product."""
    found = await session.execute(
        select(_LEVELS.c.location_id)
        .where(_LEVELS.c.product_id == product_id)
        .order_by(_LEVELS.c.location_id)
    )
    return list(found.scalars())


async def change_levels(
    session: AsyncSession,
    location_id: int,
    changes: Iterable[LevelChange],
    *,
    before: Mapping[int, Level] | None = None,
) -> list[Change]:
    """Apply signed changes in one statement; the rows must be locked (`lock_levels`).

    A change that can lower what is available (a reservation, stock taken away) passes
    the locked figures as `before`: a product whose available stock falls below its
    reorder point, or to zero, is announced (`stock.low`) in what this returns.
    """
    changes = list(changes)
    now = utcnow()
    params = [
        {
            "at": location_id,
            "product": c.product_id,
            "d_on_hand": c.on_hand,
            "d_reserved": c.reserved,
            "d_backordered": c.backordered,
            "d_incoming": c.incoming,
            "now": now,
        }
        for c in sorted(changes, key=lambda c: c.product_id)
        if c.on_hand or c.reserved or c.backordered or c.incoming
    ]
    if params:
        await session.execute(_CHANGE, params)
    return [] if before is None else _fallen_low(before, changes)


def level_view(level: Level) -> StockLevelOut:
    return StockLevelOut.of(
        level.sku,
        level.location,
        level.on_hand,
        level.reserved,
        level.backordered,
        level.incoming,
    )


def _fallen_low(before: Mapping[int, Level], changes: list[LevelChange]) -> list[Change]:
    fallen = []
    for change in changes:
        was = before[change.product_id]
        now = was.after(change)
        if rules.fell_low(was.available, now.available, was.reorder_point):
            fallen.append(level_view(now))
    return [Announced("stock.low", fallen)] if fallen else []


async def reserve(
    session: AsyncSession, location_id: int, requested: Mapping[int, int]
) -> tuple[dict[int, rules.Allocation], dict[int, Level], list[Change]]:
    """Allocate what each product has available at the location; backorder the rest.

    Returns the allocations, the figures after them and what fell low. Three statements whatever the
    number of products, so concurrent orders never allocate the same unit twice and a
    large order costs no more round trips than a small one.
    """
    levels = await lock_levels(session, location_id, requested)
    allocations = {
        product_id: rules.allocate(levels[product_id].available, quantity)
        for product_id, quantity in requested.items()
    }
    changes = [
        LevelChange(product_id, reserved=a.allocated, backordered=a.backordered)
        for product_id, a in allocations.items()
    ]
    fallen = await change_levels(session, location_id, changes, before=levels)
    return allocations, {c.product_id: levels[c.product_id].after(c) for c in changes}, fallen


async def write_ledger(
    session: AsyncSession,
    location_id: int,
    deltas: Sequence[tuple[int, int]],
    *,
    reason: str,
    reference: str | None,
    actor: str,
) -> list[int]:
    """Ledger entries for `(product_id, delta)` pairs; returns their ids."""
    now = utcnow()
    rows = [
        {
            "product_id": product_id,
            "location_id": location_id,
            "delta": delta,
            "reason": reason,
            "reference": reference,
            "actor": actor,
            "created_at": now,
        }
        for product_id, delta in deltas
        if delta
    ]
    if not rows:
        return []
    result = await session.execute(insert(_LEDGER).returning(_LEDGER.c.id), rows)
    return list(result.scalars())


async def _ensure(session: AsyncSession, location_id: int, product_ids: Sequence[int]) -> None:
    """Create missing stock rows, in product order (so two orders never wait on each other)."""
    now = utcnow()
    await session.execute(
        _ensure_statement(session.get_bind().dialect.name),
        [{"product_id": p, "location_id": location_id, "now": now} for p in product_ids],
    )


@functools.cache
def _ensure_statement(dialect: str) -> Insert:
    return (
        insert_for(dialect, _LEVELS)
        .values(
            product_id=bindparam("product_id"),
            location_id=bindparam("location_id"),
            on_hand=0,
            reserved=0,
            backordered=0,
            incoming=0,
            updated_at=bindparam("now"),
        )
        .on_conflict_do_nothing(index_elements=["product_id", "location_id"])
    )
