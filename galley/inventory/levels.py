"""Stock rows: the only module that locks and writes `stock_levels`.

Lock order. A transaction locks stock rows in product order, so two that lock several
never wait on each other in a circle; every path but one locks them before any order or
purchase-order row (a cancel, a receipt, an adjustment, filling backorders). Placing an
order that finds all it asks for, the hottest path and the one that queues on a popular
product, takes them last instead ("contended lock last"): `plan_taken_last` allocates
from the figures as they stand, unlocked (an order that would wait for stock is planned
under the lock, as it queues by its number); the order is written; `take` then reserves
in one conditional UPDATE, which holds only where allocating again from the figures
under the lock gives the same allocation. Where it does not, the transaction runs again
from the start, locking first (`galley.db.Rerun`). The new order's rows are seen by no
other transaction, so taking the stock last makes no circle either, and the row is held
for the last statements of the transaction only, not from its first
(docs/performance.md has the figures of both). On PostgreSQL, orders of the same
products at the same location taking at once in one process take together, in one such
UPDATE (`galley.convoys`).
A product's first row at a location is made on first use, then locked like the rest.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

from sqlalchemy import (
    CTE,
    BigInteger,
    ColumnElement,
    Row,
    Select,
    Table,
    and_,
    bindparam,
    case,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert, Update
from sqlalchemy.types import TypeEngine

from galley import appends, convoys
from galley.catalog.service import PRODUCTS
from galley.changes import Announced, Change
from galley.db import Rerun, insert_for, locking_first, rows_of, utcnow
from galley.inventory import rules
from galley.inventory.models import Location, StockLedgerEntry, StockLevel
from galley.inventory.rules import Level, LevelChange, Plan
from galley.inventory.schemas import StockLevelOut
from galley.unnested import arrays, unnested

_LEVELS = cast(Table, StockLevel.__table__)
_LEDGER = cast(Table, StockLedgerEntry.__table__)
_PRODUCTS = PRODUCTS
_LOCATIONS = cast(Table, Location.__table__)
_HELD = "galley.inventory.held"


@dataclass(frozen=True)
class Stocked:
    """Products read by SKU with their figures at a location (`stocked`): the location's
    id (None when there is none), each product's row by SKU (with what the read was asked
    to carry), and its figures by product id (None where it has no row there yet)."""

    location_id: int | None
    rows: dict[str, Row[Any]]
    seen: dict[int, Level | None]


# Built once: these run on every order, and building a statement costs as much as running it.
_FIGURES = (
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
    .where(_LEVELS.c.product_id.in_(bindparam("product_ids", expanding=True)))
    .order_by(_LEVELS.c.product_id)
)
_LOCK = _FIGURES.where(_LEVELS.c.location_id == bindparam("location_id")).with_for_update(
    of=_LEVELS
)
_FIGURE_COLUMNS = ("on_hand", "reserved", "backordered", "incoming")
# A level's signed changes, by column: the rows joined by `change_levels`.
_DELTAS = {
    "product": BigInteger(),
    "on_hand": BigInteger(),
    "reserved": BigInteger(),
    "backordered": BigInteger(),
    "incoming": BigInteger(),
}


async def lock_levels(
    session: AsyncSession, location_id: int, product_ids: Iterable[int]
) -> dict[int, Level]:
    """The figures of these products at the location, locked until the transaction ends.

    A row is read once per transaction: the figures of rows it already holds are kept as
    its own changes left them (every write to `stock_levels` goes through this module).
    """
    ids = sorted(set(product_ids))
    held = _held(session)
    locked = {p: held[location_id, p] for p in ids if (location_id, p) in held}
    if wanted := [p for p in ids if p not in locked]:
        locked |= await _lock(session, location_id, wanted)
        if missing := [p for p in wanted if p not in locked]:
            # A product's first stock at a location: its row is made, then locked like the rest.
            await _ensure(session, location_id, missing)
            locked |= await _lock(session, location_id, missing)
        held.update(((location_id, p), level) for p, level in locked.items())
    return dict(sorted(locked.items()))


def _held(session: AsyncSession) -> dict[tuple[int, int], Level]:
    """The stock rows the session's transaction has locked, by (location, product)."""
    held: dict[tuple[int, int], Level] = session.info.setdefault(_HELD, {})
    return held


@event.listens_for(Session, "after_transaction_end")
def _let_go(session: Session, _transaction: object) -> None:
    # Also when a savepoint ends: what it changed may have been taken back with it.
    session.info.pop(_HELD, None)


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
    rows = [
        {
            "product": c.product_id,
            "on_hand": c.on_hand,
            "reserved": c.reserved,
            "backordered": c.backordered,
            "incoming": c.incoming,
        }
        for c in sorted(changes, key=lambda c: c.product_id)
        if c.on_hand or c.reserved or c.backordered or c.incoming
    ]
    held = _held(session)
    for c in changes:
        if (location_id, c.product_id) in held:
            held[location_id, c.product_id] = held[location_id, c.product_id].after(c)
    if rows:
        by = rows_of(session, "changed", rows, **_DELTAS)
        # What was handed to `galley.appends` so far rides along: the rows are held anyway.
        await appends.write_with(
            session,
            update(_LEVELS)
            .where(_LEVELS.c.location_id == location_id, _LEVELS.c.product_id == by.c.product)
            .values(
                on_hand=_LEVELS.c.on_hand + by.c.on_hand,
                reserved=_LEVELS.c.reserved + by.c.reserved,
                backordered=_LEVELS.c.backordered + by.c.backordered,
                incoming=_LEVELS.c.incoming + by.c.incoming,
                updated_at=utcnow(),
            )
            .add_cte(by),
        )
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


def by_sku_at(*also: ColumnElement[Any]) -> Select[Any]:
    """A read of products by SKU with their figures at a location named by its code, as
    they stand (nothing is locked), and `also` of each product: for `stocked`, built once
    by its caller. A product without a row at the location, or a location that does not
    exist, reads as no figures."""
    return (
        select(
            *also,
            _LOCATIONS.c.id.label("stocked_location_id"),
            _PRODUCTS.c.id.label("stocked_product_id"),
            _LEVELS.c.id.label("stocked_level_id"),
            *(_LEVELS.c[name].label(f"stocked_{name}") for name in _FIGURE_COLUMNS),
            _PRODUCTS.c.sku.label("stocked_sku"),
            _LOCATIONS.c.code.label("stocked_code"),
            _PRODUCTS.c.reorder_point.label("stocked_reorder_point"),
        )
        .select_from(
            _PRODUCTS.outerjoin(_LOCATIONS, _LOCATIONS.c.code == bindparam("code")).outerjoin(
                _LEVELS,
                and_(
                    _LEVELS.c.product_id == _PRODUCTS.c.id,
                    _LEVELS.c.location_id == _LOCATIONS.c.id,
                ),
            )
        )
        .where(_PRODUCTS.c.sku.in_(bindparam("skus", expanding=True)))
    )


async def stocked(
    session: AsyncSession, read: Select[Any], location: str, skus: Sequence[str]
) -> Stocked:
    """What `read` (from `by_sku_at`) finds of the products with these SKUs at the location
    with this code; unknown SKUs are simply absent."""
    rows = (await session.execute(read, {"code": location, "skus": list(skus)})).all()
    location_id = rows[0].stocked_location_id if rows else None
    seen = {
        row.stocked_product_id: None
        if row.stocked_level_id is None
        else Level(
            row.stocked_product_id,
            row.stocked_on_hand,
            row.stocked_reserved,
            row.stocked_backordered,
            row.stocked_incoming,
            row.stocked_sku,
            row.stocked_code,
            row.stocked_reorder_point,
        )
        for row in rows
    }
    return Stocked(location_id, {row.stocked_sku: row for row in rows}, seen)


def plan_taken_last(stocked: Stocked, requested: Mapping[int, int]) -> Plan | None:
    """Allocate what each product has available at the location, as `stocked` read it;
    the rest would be backordered. Nothing is locked: `take` checks the plan under the
    lock.

    None where the order must be planned under the lock (`plan_locked`): outside a run
    that could repeat the transaction, or in the run after a plan that no longer held
    (`galley.db.locking_first`); when a product has no row at the location yet (or there
    is no such location); and for an order that would wait for stock, which queues by its
    number behind those waiting already: another order must not take the stock freed
    meanwhile while this older one waits."""
    if locking_first() or stocked.location_id is None:
        return None
    seen = {p: stocked.seen.get(p) for p in requested}
    if any(level is None for level in seen.values()):
        return None
    levels = cast(dict[int, Level], seen)
    allocations = _allocated(levels, requested)
    if any(a.backordered for a in allocations.values()):
        return None
    return Plan(stocked.location_id, requested, allocations, levels, locked=False)


async def plan_locked(
    session: AsyncSession, location_id: int, requested: Mapping[int, int]
) -> Plan:
    """Allocate what each product has available at the location; backorder the rest. The
    rows are locked from here to the end of the transaction."""
    seen = await lock_levels(session, location_id, requested)
    return Plan(location_id, requested, _allocated(seen, requested), seen, locked=True)


def _allocated(
    seen: Mapping[int, Level], requested: Mapping[int, int]
) -> dict[int, rules.Allocation]:
    return {p: rules.allocate(seen[p].available, q) for p, q in requested.items()}


_PLANNED: dict[str, TypeEngine[Any]] = {
    "product": BigInteger(),
    "requested": BigInteger(),
    "reserved": BigInteger(),
}


def _take_statement(planned: CTE) -> Update:
    """The conditional reservation of `take`, for the rows of `planned` at the location
    `taken_at`, at `taken_now`."""
    # The rows are locked in product order by the statement's first step, as everywhere
    # else: left to the UPDATE's join, two orders of the same products could deadlock.
    locked = (
        select(_LEVELS.c.id)
        .where(
            _LEVELS.c.location_id == bindparam("taken_at"),
            _LEVELS.c.product_id.in_(select(planned.c.product)),
        )
        .order_by(_LEVELS.c.product_id)
        .with_for_update()
        .cte("locked")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    available = _LEVELS.c.on_hand - _LEVELS.c.reserved
    # `rules.allocate` again, from the figures under the lock.
    allocated_now = case((available < planned.c.requested, available), else_=planned.c.requested)
    return (
        update(_LEVELS)
        .where(
            _LEVELS.c.id == locked.c.id,
            _LEVELS.c.product_id == planned.c.product,
            allocated_now == planned.c.reserved,
        )
        .values(
            reserved=_LEVELS.c.reserved + planned.c.reserved,
            updated_at=bindparam("taken_now"),
        )
        .add_cte(planned)
        .add_cte(locked)
        .returning(
            _LEVELS.c.product_id,
            _LEVELS.c.on_hand,
            _LEVELS.c.reserved,
            _LEVELS.c.backordered,
            _LEVELS.c.incoming,
        )
    )


@functools.cache
def _take_on_postgresql() -> Update:
    """`_take_statement` built once, its rows sent as arrays (`galley.unnested`)."""
    return _take_statement(select(*unnested("planned", None, _PLANNED).c).cte("planned"))


async def take(session: AsyncSession, plan: Plan) -> tuple[dict[int, Level], list[Change]]:
    """Reserve what the plan allocated, and count what it backordered: the figures after,
    and what fell low. A plan made unlocked (it backorders nothing) is written only if it
    still holds under the lock, in one statement; else the transaction is run again
    (`Rerun`)."""
    changes = [
        LevelChange(p, reserved=a.allocated, backordered=a.backordered)
        for p, a in sorted(plan.allocations.items())
    ]
    if plan.locked:
        fallen = await change_levels(session, plan.location_id, changes, before=plan.seen)
        return {c.product_id: plan.seen[c.product_id].after(c) for c in changes}, fallen
    # Planned unlocked, the order backorders nothing (`plan_taken_last`): it reserves.
    rows = [
        {
            "product": c.product_id,
            "requested": plan.requested[c.product_id],
            "reserved": c.reserved,
        }
        for c in changes
    ]
    given = {"taken_at": plan.location_id, "taken_now": utcnow()}
    if session.get_bind().dialect.name == "postgresql":
        figures = await _taken_in_convoy(session, plan, rows, given)
    else:
        statement = _take_statement(rows_of(session, "planned", rows, **_PLANNED))
        figures = await _taken(session, plan, statement, given)
    if figures is None:
        raise Rerun("stock moved between the plan and its reservation")
    after = {p: _after(plan, p, f) for p, f in figures.items()}
    before = {
        c.product_id: after[c.product_id].after(LevelChange(c.product_id, reserved=-c.reserved))
        for c in changes
    }
    return after, _fallen_low(before, changes)


@dataclass(frozen=True)
class _Taken:
    """A stock row's figures as a take left them."""

    on_hand: int
    reserved: int
    backordered: int
    incoming: int


async def _taken(
    session: AsyncSession, plan: Plan, statement: Update, given: dict[str, Any]
) -> dict[int, _Taken] | None:
    """The figures a take statement left, by product, or None where it did not hold for
    every product; the transaction holds the rows as they are now.

    The order's history and outbox rows ride along (`galley.appends.write_with`): the row
    is held for this statement, the idempotency answer and the commit, not for theirs."""
    taken = await appends.write_with(session, statement, given)
    final = {
        row.product_id: _Taken(row.on_hand, row.reserved, row.backordered, row.incoming)
        for row in taken
    }
    if len(final) < len(plan.requested):
        return None
    _held(session).update(((plan.location_id, p), _after(plan, p, f)) for p, f in final.items())
    return final


def _after(plan: Plan, product_id: int, taken: _Taken) -> Level:
    return replace(
        plan.seen[product_id],
        on_hand=taken.on_hand,
        reserved=taken.reserved,
        backordered=taken.backordered,
        incoming=taken.incoming,
    )


async def _taken_in_convoy(
    session: AsyncSession, plan: Plan, rows: list[dict[str, int]], given: dict[str, Any]
) -> dict[int, _Taken] | None:
    """The figures `take` leaves, by product, or None where it does not hold. Orders of
    the same products at the same location, taking at once in this process, take together
    (`galley.convoys`): the leader's one UPDATE reserves for all, and each order's figures
    are those after its own reservation, in the order they boarded (the leader's first)."""
    key = (plan.location_id, *(row["product"] for row in rows))
    seat = await convoys.board(session, key, rows)
    if seat.following:
        shared: dict[int, _Taken] | None = await seat.given()
        return shared
    everyone: list[list[dict[str, int]]] = [rows, *seat.others_asked]
    joint = [
        {
            "product": row["product"],
            "requested": sum(asked[at]["requested"] for asked in everyone),
            "reserved": sum(asked[at]["reserved"] for asked in everyone),
        }
        for at, row in enumerate(rows)
    ]
    final = await _taken(
        session, plan, _take_on_postgresql(), given | arrays("planned", joint, list(_PLANNED))
    )
    if final is None:
        seat.hand_out(None)
        return None
    shares: list[dict[int, _Taken]] = []
    later = {row["product"]: 0 for row in rows}
    for asked in reversed(everyone):
        shares.append({p: replace(f, reserved=f.reserved - later[p]) for p, f in final.items()})
        for row in asked:
            later[row["product"]] += row["reserved"]
    shares.reverse()
    seat.hand_out(shares[1:])
    return shares[0]


def ledger_entries(
    location_id: int,
    deltas: Sequence[tuple[int, int]],
    *,
    reason: str,
    reference: str | None,
    actor: str,
) -> list[dict[str, Any]]:
    """Ledger entries for `(product_id, delta)` pairs (none for a delta of 0)."""
    now = utcnow()
    return [
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


def record_ledger(session: AsyncSession, entries: list[dict[str, Any]]) -> None:
    """Write the entries with the next statement that carries what was handed to
    `galley.appends`, or the transaction's last."""
    appends.append(session, _LEDGER, entries)


async def write_ledger(session: AsyncSession, entries: list[dict[str, Any]]) -> list[int]:
    """Write the entries now, for an answer that shows them: their ids."""
    if not entries:
        return []
    result = await session.execute(insert(_LEDGER).returning(_LEDGER.c.id), entries)
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
        # With RETURNING, the rows go as one statement despite ON CONFLICT (see `galley.db`).
        .returning(_LEVELS.c.id)
    )
