"""Every reaction to a change, in one table: read `REACTIONS` to learn what follows what.

A use case returns its answer and the changes it made (`galley.changes`); `settled`
hands each change to its handlers, in the order listed, in the same transaction, with
the application's settings, and each handler's own changes after those already waiting.
A request or job calls one use case through `settled` and never wires a reaction by hand.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from galley import changes as c
from galley.audit import service as audit
from galley.config import Settings
from galley.db import Database
from galley.events import service as events
from galley.inventory import service as inventory
from galley.orders import service as orders
from galley.purchasing import service as purchasing

Handler = Callable[[AsyncSession, Any, Settings], Awaitable[Sequence[c.Change]]]


async def _record(session: AsyncSession, change: c.Announced, _: Settings) -> list[c.Change]:
    """Into the outbox, in the change's own transaction (`galley.events`)."""
    events.record(session, change.type, *change.resources, hide=change.hide)
    return []


REACTIONS: Mapping[type[c.Change], tuple[Handler, ...]] = {
    # Others hear of the order, then its stock is taken (last: `inventory.levels`); what
    # it backordered is bought.
    c.OrderPlaced: (orders.announce_placed, inventory.take_placed),
    c.StockTaken: (purchasing.replenish,),
    # Waiting orders get free stock first, oldest first; then the rule buys what is left
    # uncovered, or what fell below a reorder point.
    c.StockFreed: (orders.fill_backorders, purchasing.replenish),
    c.StockAdjusted: (inventory.announce_adjustment,),
    c.CoverChanged: (purchasing.replenish,),
    c.SourcingChanged: (purchasing.replenish_everywhere,),
    c.DraftsGrew: (purchasing.send_grown_drafts,),
    c.PurchaseOrdersAnnounced: (purchasing.announce,),
    c.Announced: (_record,),
    c.Audited: (audit.record_audited,),
}
log = structlog.get_logger("galley.reactions")

T = TypeVar("T")


async def settle(session: AsyncSession, pending: Iterable[c.Change], settings: Settings) -> None:
    """Run every reaction to these changes, and to the changes the reactions make."""
    queue = deque(pending)
    while queue:
        change = queue.popleft()
        for handler in REACTIONS[type(change)]:
            queue.extend(await handler(session, change, settings))


async def settled(
    session: AsyncSession, use_case: Awaitable[tuple[T, Sequence[c.Change]]], settings: Settings
) -> T:
    """The use case's answer, once every reaction to its changes has run."""
    answer, made = await use_case
    await settle(session, made, settings)
    return answer


async def settle_aftermath(
    database: Database, origin: c.Origin, aftermath: Iterable[c.Change], **context: Any
) -> None:
    """Settle what a refused request leaves, in a transaction of its own once the request
    rolled back; audit entries made without an origin get the request's, and `context`
    (its method and path). The refusal is answered even when this fails; that is logged."""
    made = [
        replace(change, origin=origin, data={**change.data, **context})
        if isinstance(change, c.Audited) and change.origin is None
        else change
        for change in aftermath
    ]
    try:
        async with database.transaction() as session:
            await settle(session, made, database.settings)
    except (SQLAlchemyError, OSError):
        log.exception("aftermath.not_settled", changes=[type(change).__name__ for change in made])
