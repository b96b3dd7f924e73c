"""Recording events in the outbox, and reading the published stream.

`record` runs in the transaction of the change it describes: the event exists exactly
when the change does, and a failed request leaves neither.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from typing import cast

from pydantic import BaseModel
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from galley.appends import append
from galley.db import utcnow
from galley.errors import FieldError, InvalidRequest
from galley.events.models import Event as Event
from galley.events.models import EventStream

# What other areas follow: word that the stream has moved.
from galley.events.moves import follower as follower
from galley.events.schemas import EVENT_TYPES as EVENT_TYPES
from galley.events.schemas import EventType as EventType

_OUTBOX = cast(Table, Event.__table__)
# The shape of `data`; raised when a type's payload changes incompatibly.
SCHEMA_VERSION = 1


def new_event_id() -> str:
    """`evt_` + milliseconds since 1970 (12 hex digits) + 80 random bits: unique, and
    sorted by when the event was recorded."""
    return f"evt_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


def record(
    session: AsyncSession, type: EventType, *data: BaseModel, hide: frozenset[str] = frozenset()
) -> None:
    """One event of `type` for each resource in `data`, written as the transaction commits
    (`galley.appends`). Fields in `hide` (personal data) are left out: events travel to
    brokers, queues and other systems, while personal data stays sealed in Galley."""
    now = utcnow()
    append(
        session,
        _OUTBOX,
        [
            {
                "id": new_event_id(),
                "type": type,
                "version": SCHEMA_VERSION,
                "occurred_at": now,
                "data": item.model_dump(mode="json", exclude=set(hide)),
            }
            for item in data
        ],
    )


async def published(
    session: AsyncSession, *, after: str | None, types: Sequence[str], limit: int
) -> list[Event]:
    """Published events after the event `after`, in the order consumers see them."""
    position = 0
    if after is not None:
        found = (await session.execute(select(Event.position).where(Event.id == after))).scalar()
        if found is None:
            raise InvalidRequest(
                f"There is no published event {after}.",
                [FieldError(field="after", message="unknown event id")],
            )
        position = found
    return await published_after(session, position, types, limit)


async def published_after(
    session: AsyncSession, position: int, types: Sequence[str], limit: int
) -> list[Event]:
    stmt = select(Event).where(Event.position > position)
    if types:
        stmt = stmt.where(Event.type.in_(types))
    return list((await session.execute(stmt.order_by(Event.position).limit(limit))).scalars())


async def last_position(session: AsyncSession) -> int:
    """The position of the last published event (0 before the first)."""
    found = (
        await session.execute(select(EventStream.position).where(EventStream.name == "outbox"))
    ).scalar()
    return found or 0
