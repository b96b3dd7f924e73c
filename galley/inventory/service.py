"""Inventory use cases, and what other areas call to move stock (`levels` locks the rows)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from galley.catalog.service import PRODUCTS, Sellable, sellables
from galley.changes import (
    Announced,
    Change,
    CoverChanged,
    OrderPlaced,
    StockAdjusted,
    StockFreed,
    StockTaken,
)
from galley.config import Settings
from galley.db import insert_for, utcnow
from galley.errors import FieldError, InvalidRequest
from galley.http.paging import AnySelect, fetch_page
from galley.inventory import levels, rules
from galley.inventory.errors import (
    DuplicateLocation,
    LedgerEntryNotFound,
    LocationNotFound,
    StockReserved,
)
from galley.inventory.filters import StockFilters as StockFilters
from galley.inventory.levels import Stocked as Stocked
from galley.inventory.levels import by_sku_at as by_sku_at

# Other areas move stock through these; `levels` is the only module that locks its rows.
from galley.inventory.levels import change_levels as change_levels
from galley.inventory.levels import ledger_entries as ledger_entries
from galley.inventory.levels import level_view as level_view
from galley.inventory.levels import locations_of as locations_of
from galley.inventory.levels import lock_levels as lock_levels
from galley.inventory.levels import record_ledger as record_ledger
from galley.inventory.levels import stocked as stocked
from galley.inventory.levels import take as take
from galley.inventory.levels import write_ledger as write_ledger
from galley.inventory.models import Location, StockLedgerEntry, StockLevel
from galley.inventory.rules import Level as Level
from galley.inventory.rules import LevelChange as LevelChange
from galley.inventory.rules import Plan as Plan
from galley.inventory.schemas import (
    Adjusted,
    AdjustmentOut,
    LedgerEntryOut,
    LocationCreate,
    StockLevelOut,
)

_LEVELS = cast(Table, StockLevel.__table__)
# The locations table, for other areas to join in what they read (never to write).
LOCATIONS = cast(Table, Location.__table__)


# ---- locations ---------------------------------------------------------------------------


async def create_location(session: AsyncSession, new: LocationCreate) -> Location:
    location = (
        await session.execute(
            insert_for(session, Location)
            .values(code=new.code, name=new.name, created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["code"])
            .returning(Location)
        )
    ).scalar()
    if location is None:
        raise DuplicateLocation(new.code)
    return location


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
        raise _no_location(code, field=field)
    return location_id


def _no_location(code: str, *, field: str) -> InvalidRequest:
    return InvalidRequest(
        f"There is no location with code {code}.",
        [FieldError(field=field, message="unknown location")],
    )


async def list_locations(
    session: AsyncSession, cursor: str | None, limit: int
) -> tuple[list[Location], str | None]:
    rows, next_cursor = await fetch_page(session, select(Location), Location.id, cursor, limit)
    return [row[0] for row in rows], next_cursor


# ---- stock levels and the ledger ---------------------------------------------------------

_LEVEL_COLUMNS = (
    StockLevel.id,
    PRODUCTS.c.sku,
    Location.code,
    StockLevel.on_hand,
    StockLevel.reserved,
    StockLevel.backordered,
    StockLevel.incoming,
)


def _level_view(row: Any) -> StockLevelOut:
    return StockLevelOut.of(
        row.sku, row.code, row.on_hand, row.reserved, row.backordered, row.incoming
    )


def _filtered(stmt: AnySelect, sku: str | None, location: str | None) -> AnySelect:
    if sku is not None:
        stmt = stmt.where(PRODUCTS.c.sku == sku)
    if location is not None:
        stmt = stmt.where(Location.code == location)
    return stmt


async def list_stock(
    session: AsyncSession,
    *,
    sku: str | None,
    location: str | None,
    cursor: str | None,
    limit: int,
    unsourced: bool = False,
) -> tuple[list[StockLevelOut], str | None]:
    """Stock levels; `unsourced` keeps only shortfalls of products without a supplier."""
    stmt = _filtered(
        select(*_LEVEL_COLUMNS)
        .join(PRODUCTS, PRODUCTS.c.id == StockLevel.product_id)
        .join(Location, Location.id == StockLevel.location_id),
        sku,
        location,
    )
    if unsourced:
        stmt = stmt.where(
            PRODUCTS.c.supplier_id.is_(None), StockLevel.backordered > StockLevel.incoming
        )
    rows, next_cursor = await fetch_page(session, stmt, StockLevel.id, cursor, limit)
    return [_level_view(row) for row in rows], next_cursor


async def list_ledger(
    session: AsyncSession, *, sku: str | None, location: str | None, cursor: str | None, limit: int
) -> tuple[list[LedgerEntryOut], str | None]:
    stmt = _filtered(
        select(StockLedgerEntry, PRODUCTS.c.sku, Location.code)
        .join(PRODUCTS, PRODUCTS.c.id == StockLedgerEntry.product_id)
        .join(Location, Location.id == StockLedgerEntry.location_id),
        sku,
        location,
    )
    rows, next_cursor = await fetch_page(session, stmt, StockLedgerEntry.id, cursor, limit)
    return [_entry_view(entry, sku_, code) for entry, sku_, code in rows], next_cursor


async def get_ledger_entry(session: AsyncSession, entry_id: int) -> LedgerEntryOut:
    found = (
        await session.execute(
            select(StockLedgerEntry, PRODUCTS.c.sku, Location.code)
            .join(PRODUCTS, PRODUCTS.c.id == StockLedgerEntry.product_id)
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
) -> tuple[Adjusted, list[Change]]:
    """Change on_hand by `delta` with a ledger entry; never below what is reserved.

    Stock that becomes free goes to waiting orders first; stock that drops below a
    reorder point is bought.
    """
    if delta == 0:
        raise InvalidRequest(
            "An adjustment must change the stock.",
            [FieldError(field="delta", message="must not be 0")],
        )
    product = await _product(session, sku)
    product_id, read = product.id, {product.id: product}
    location_id = await location_id_for(session, location, field="location")
    level = (await levels.lock_levels(session, location_id, [product_id]))[product_id]
    if not rules.can_adjust(level.on_hand, level.reserved, delta):
        raise StockReserved(sku, location, level.on_hand, level.reserved, delta)
    fallen = await levels.change_levels(
        session,
        location_id,
        [LevelChange(product_id, on_hand=delta)],
        before={product_id: level},
    )
    entries = levels.ledger_entries(
        location_id, [(product_id, delta)], reason=reason, reference=None, actor=actor
    )
    (entry_id,) = await levels.write_ledger(session, entries)
    (written,) = entries
    entry = _entry_view(StockLedgerEntry(id=entry_id, **written), level.sku, level.location)
    adjusted = Adjusted(product_id, location_id, entry)
    follows: Change = (
        StockFreed(location_id, (product_id,), actor, f"stock adjusted ({reason})", read)
        if delta > 0
        else CoverChanged(location_id, (product_id,), actor, products=read)
    )
    return adjusted, [*fallen, follows, StockAdjusted(adjusted)]


async def adjustment(session: AsyncSession, adjusted: Adjusted) -> AdjustmentOut:
    """The adjustment's ledger entry and its product's figures as they stand now: as the
    transaction's own changes left the row it holds locked, so without reading it again."""
    held = await levels.lock_levels(session, adjusted.location_id, [adjusted.product_id])
    return AdjustmentOut(entry=adjusted.entry, stock=level_view(held[adjusted.product_id]))


async def announce_adjustment(
    session: AsyncSession, change: StockAdjusted, settings: Settings
) -> list[Change]:
    return [Announced("stock.adjusted", [await adjustment(session, change.adjusted)])]


async def _product(session: AsyncSession, sku: str) -> Sellable:
    """The product an adjustment names, read once for the adjustment and the rule that
    may buy it; 422 when there is none."""
    found = await sellables(session, [sku])
    if sku not in found:
        raise InvalidRequest(
            f"There is no product with SKU {sku}.",
            [FieldError(field="sku", message="unknown SKU")],
        )
    return found[sku]


async def plan_reservation(
    session: AsyncSession, stocked: levels.Stocked, location: str, requested: Mapping[int, int]
) -> Plan:
    """What an order of `requested` takes at the location it names, as `stocked` read it
    (a 422 when there is none): planned to be taken last where it can be
    (`levels.plan_taken_last`)."""
    if stocked.location_id is None:
        raise _no_location(location, field="location")
    return levels.plan_taken_last(stocked, requested) or await levels.plan_locked(
        session, stocked.location_id, requested
    )


async def take_placed(
    session: AsyncSession, placed: OrderPlaced, settings: Settings
) -> list[Change]:
    """Take the stock a placed order planned (`levels.take`): then what it backordered
    can be bought, and what fell low is announced."""
    figures, fallen = await levels.take(session, placed.plan)
    return [
        StockTaken(placed.plan.location_id, placed.actor, figures, placed.products),
        *fallen,
    ]
