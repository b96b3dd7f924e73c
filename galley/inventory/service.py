"""Inventory use cases. Stock rows are locked in product order from this module only."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert, Update

from galley.catalog.models import Product
from galley.db import insert_for, utcnow
from galley.errors import FieldError, InvalidRequest
from galley.http.paging import AnySelect, fetch_page
from galley.inventory import rules
from galley.inventory.errors import (
    DuplicateLocation,
    LedgerEntryNotFound,
    LocationNotFound,
    StockReserved,
)
from galley.inventory.models import Location, StockLedgerEntry, StockLevel
from galley.inventory.schemas import LedgerEntryOut, LocationCreate, StockLevelOut

_LEVELS = cast(Table, StockLevel.__table__)


@dataclass(frozen=True)
class LineStock:
    """One order line's hold on stock at a location."""

    product_id: int
    allocated: int
    backordered: int


# ---- locations ---------------------------------------------------------------------------


async def create_location(session: AsyncSession, new: LocationCreate) -> Location:
    table = Location.__table__
    location_id = (
        await session.execute(
            insert_for(session, table)
            .values(code=new.code, name=new.name, created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["code"])
            .returning(table.c.id)
        )
    ).scalar()
    if location_id is None:
        raise DuplicateLocation(new.code)
    return await session.get_one(Location, location_id)


async def get_location(session: AsyncSession, code: str) -> Location:
    location = (
        await session.execute(select(Location).where(Location.code == code))
    ).scalar_one_or_none()
    if location is None:
        raise LocationNotFound(code)
    return location


_LOCATION_ID = select(Location.id).where(Location.code == bindparam("code"))


async def location_id_for(session: AsyncSession, code: str, *, field: str) -> int:
    """The id of a location named in a request body; 422 when there is none."""
    location_id = (await session.execute(_LOCATION_ID, {"code": code})).scalar()
    if location_id is None:
        raise InvalidRequest(
            f"There is no location with code {code}.",
            [FieldError(field=field, message="unknown location")],
        )
    return location_id


async def list_locations(
    session: AsyncSession, cursor: str | None, limit: int
) -> tuple[list[Location], str | None]:
    rows, next_cursor = await fetch_page(session, select(Location), Location.id, cursor, limit)
    return [row[0] for row in rows], next_cursor


# ---- stock levels and the ledger ---------------------------------------------------------

_LEVEL_COLUMNS = (
    StockLevel.id,
    Product.sku,
    Location.code,
    StockLevel.on_hand,
    StockLevel.reserved,
    StockLevel.backordered,
)


def _level_view(row: Any) -> StockLevelOut:
    return StockLevelOut(
        sku=row.sku,
        location=row.code,
        on_hand=row.on_hand,
        reserved=row.reserved,
        available=row.on_hand - row.reserved,
        backordered=row.backordered,
    )


def _filtered(stmt: AnySelect, sku: str | None, location: str | None) -> AnySelect:
    if sku is not None:
        stmt = stmt.where(Product.sku == sku)
    if location is not None:
        stmt = stmt.where(Location.code == location)
    return stmt


async def list_stock(
    session: AsyncSession, *, sku: str | None, location: str | None, cursor: str | None, limit: int
) -> tuple[list[StockLevelOut], str | None]:
    stmt = _filtered(
        select(*_LEVEL_COLUMNS)
        .join(Product, Product.id == StockLevel.product_id)
        .join(Location, Location.id == StockLevel.location_id),
        sku,
        location,
    )
    rows, next_cursor = await fetch_page(session, stmt, StockLevel.id, cursor, limit)
    return [_level_view(row) for row in rows], next_cursor


async def list_ledger(
    session: AsyncSession, *, sku: str | None, location: str | None, cursor: str | None, limit: int
) -> tuple[list[LedgerEntryOut], str | None]:
    stmt = _filtered(
        select(StockLedgerEntry, Product.sku, Location.code)
        .join(Product, Product.id == StockLedgerEntry.product_id)
        .join(Location, Location.id == StockLedgerEntry.location_id),
        sku,
        location,
    )
    rows, next_cursor = await fetch_page(session, stmt, StockLedgerEntry.id, cursor, limit)
    return [_entry_view(entry, sku_, code) for entry, sku_, code in rows], next_cursor


async def get_ledger_entry(session: AsyncSession, entry_id: int) -> LedgerEntryOut:
    found = (
        await session.execute(
            select(StockLedgerEntry, Product.sku, Location.code)
            .join(Product, Product.id == StockLedgerEntry.product_id)
            .join(Location, Location.id == StockLedgerEntry.location_id)
            .where(StockLedgerEntry.id == entry_id)
        )
    ).one_or_none()
    if found is None:
        raise LedgerEntryNotFound(entry_id)
    return _entry_view(*found)


def _entry_view(entry: StockLedgerEntry, sku: str, location: str) -> LedgerEntryOut:
    return LedgerEntryOut(
        id=str(entry.id),
        sku=sku,
        location=location,
        delta=entry.delta,
        reason=entry.reason,
        reference=entry.reference,
        actor=entry.actor,
        created_at=entry.created_at,
    )


async def adjust_stock(
    session: AsyncSession,
    *,
    sku: str,
    location: str,
    delta: int,
    reason: str,
    actor: str,
) -> tuple[LedgerEntryOut, StockLevelOut]:
    """Change on_hand by `delta` with a ledger entry; never below what is reserved."""
    if delta == 0:
        raise InvalidRequest(
            "An adjustment must change the stock.",
            [FieldError(field="delta", message="must not be 0")],
        )
    product_id = await _product_id(session, sku)
    location_id = await location_id_for(session, location, field="location")
    await _ensure_levels(session, location_id, [product_id])
    level = (
        await session.execute(
            update(StockLevel)
            .where(
                StockLevel.product_id == product_id,
                StockLevel.location_id == location_id,
                StockLevel.on_hand + delta >= StockLevel.reserved,
            )
            .values(on_hand=StockLevel.on_hand + delta, updated_at=utcnow())
            .returning(StockLevel.on_hand, StockLevel.reserved, StockLevel.backordered)
        )
    ).one_or_none()
    if level is None:
        current = (
            await session.execute(
                select(StockLevel.on_hand, StockLevel.reserved).where(
                    StockLevel.product_id == product_id, StockLevel.location_id == location_id
                )
            )
        ).one()
        raise StockReserved(sku, location, current.on_hand, current.reserved, delta)
    entry = StockLedgerEntry(
        product_id=product_id,
        location_id=location_id,
        delta=delta,
        reason=reason,
        actor=actor,
        created_at=utcnow(),
    )
    session.add(entry)
    await session.flush()
    stock = StockLevelOut(
        sku=sku,
        location=location,
        on_hand=level.on_hand,
        reserved=level.reserved,
        available=level.on_hand - level.reserved,
        backordered=level.backordered,
    )
    return _entry_view(entry, sku, location), stock


async def _product_id(session: AsyncSession, sku: str) -> int:
    product_id = (await session.execute(select(Product.id).where(Product.sku == sku))).scalar()
    if product_id is None:
        raise InvalidRequest(
            f"There is no product with SKU {sku}.",
            [FieldError(field="sku", message="unknown SKU")],
        )
    return product_id


def _level_statements() -> tuple[Select[Any], Update]:
    lock = (
        select(
            _LEVELS.c.id,
            _LEVELS.c.product_id,
            _LEVELS.c.on_hand,
            _LEVELS.c.reserved,
            _LEVELS.c.backordered,
        )
        .where(
            _LEVELS.c.location_id == bindparam("location_id"),
            _LEVELS.c.product_id.in_(bindparam("product_ids", expanding=True)),
        )
        .order_by(_LEVELS.c.product_id)
        .with_for_update()
    )
    write = (
        update(_LEVELS)
        .where(_LEVELS.c.id == bindparam("level_id"))
        .values(
            reserved=bindparam("new_reserved"),
            backordered=bindparam("new_backordered"),
            updated_at=bindparam("now"),
        )
    )
    return lock, write


# Built once: placing an order is the hot path, and building statements costs as much as
# running them.
_LOCK_LEVELS, _WRITE_LEVELS = _level_statements()


async def _ensure_levels(
    session: AsyncSession, location_id: int, product_ids: Sequence[int]
) -> None:
    """Create missing stock rows, in product order (so two orders never wait on each other)."""
    await session.execute(
        _ensure_statement(session.get_bind().dialect.name),
        [
            {"product_id": p, "location_id": location_id, "now": utcnow()}
            for p in sorted(product_ids)
        ],
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
            updated_at=bindparam("now"),
        )
        .on_conflict_do_nothing(index_elements=["product_id", "location_id"])
    )


# ---- reservations for orders --------------------------------------------------------------


async def reserve(
    session: AsyncSession, location_id: int, requested: Mapping[int, int]
) -> dict[int, rules.Allocation]:
    """Allocate what each product has available at the location; backorder the rest.

    The stock rows are locked in product order (no deadlocks between orders), read,
    and written back in one statement, so concurrent orders never allocate the same
    unit twice. Three statements whatever the number of products.
    """
    await _ensure_levels(session, location_id, list(requested))
    rows = (
        await session.execute(
            _LOCK_LEVELS, {"location_id": location_id, "product_ids": sorted(requested)}
        )
    ).all()
    allocations: dict[int, rules.Allocation] = {}
    changes = []
    now = utcnow()
    for row in rows:
        allocation = rules.allocate(row.on_hand - row.reserved, requested[row.product_id])
        allocations[row.product_id] = allocation
        changes.append(
            {
                "level_id": row.id,
                "new_reserved": row.reserved + allocation.allocated,
                "new_backordered": row.backordered + allocation.backordered,
                "now": now,
            }
        )
    await session.execute(_WRITE_LEVELS, changes)
    return allocations


async def release(session: AsyncSession, location_id: int, lines: Sequence[LineStock]) -> None:
    """An order let go: what it held becomes free and what it waited for is no longer wanted."""
    await _shift(session, location_id, lines, on_hand_sign=0)


async def consume(
    session: AsyncSession,
    location_id: int,
    lines: Sequence[LineStock],
    *,
    reference: str,
    actor: str,
) -> None:
    """A completed order takes its reserved stock away, with ledger entries."""
    await _shift(session, location_id, lines, on_hand_sign=-1)
    now = utcnow()
    entries = [
        {
            "product_id": line.product_id,
            "location_id": location_id,
            "delta": -line.allocated,
            "reason": "consumed",
            "reference": reference,
            "actor": actor,
            "created_at": now,
        }
        for line in sorted(lines, key=lambda line: line.product_id)
        if line.allocated
    ]
    if entries:
        await session.execute(insert(StockLedgerEntry), entries)


async def _shift(
    session: AsyncSession, location_id: int, lines: Sequence[LineStock], *, on_hand_sign: int
) -> None:
    """Drop reserved (and on_hand, when consuming) by each line's allocation, in product order."""
    params = [
        {
            "pid": line.product_id,
            "lid": location_id,
            "held": line.allocated,
            "waited": line.backordered,
            "gone": line.allocated * -on_hand_sign,
            "now": utcnow(),
        }
        for line in sorted(lines, key=lambda line: line.product_id)
    ]
    if not params:
        return
    table = _LEVELS
    await session.execute(
        update(table)
        .where(table.c.product_id == bindparam("pid"), table.c.location_id == bindparam("lid"))
        .values(
            on_hand=table.c.on_hand - bindparam("gone"),
            reserved=table.c.reserved - bindparam("held"),
            backordered=table.c.backordered - bindparam("waited"),
            updated_at=bindparam("now"),
        )
        .execution_options(synchronize_session=False),
        params,
    )
