"""The live fulfilment stream: a location's queue, then every change to its orders, as
Server-Sent Events.

Changes come from the published event stream, which every API process reads from the
database: a change made through one process reaches streams held by any other. Each
message's `id` is the position of its event in the stream, so a client that reconnects
with `Last-Event-ID` is sent exactly what it missed. The queue sent on connecting carries
the stream position it was read at.

Each process watches the stream's last position with one query per poll interval and
wakes its streams when it moves; the streams then read the new events.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import suppress
from typing import Any

from galley.db import Database
from galley.events import service as events
from galley.orders import views

ORDER_EVENTS = ("order.placed", "order.status_changed", "order.completed", "order.cancelled")
_BATCH = 200


class FulfilmentFeed:
    """One per process: wakes the streams it serves when the event stream moves."""

    def __init__(self, database: Database, *, poll_seconds: float) -> None:
        self._database = database
        self._poll_seconds = poll_seconds
        self._moved = asyncio.Condition()
        self._position = -1  # as last seen by the watcher
        self._watching: asyncio.Task[None] | None = None

    async def stream(
        self, location: str, last_event_id: int | None, heartbeat_seconds: float
    ) -> AsyncIterator[str]:
        """The SSE messages for one client, until it goes away."""
        self._watch()
        if last_event_id is None:
            async with self._database.transaction(read_only=True) as session:
                position = await events.last_position(session)
                queue = await views.fulfilment_queue(session, location)
            yield _message(
                "queue",
                position,
                {"orders": [o.model_dump(mode="json", exclude=set(views.PERSONAL)) for o in queue]},
            )
        else:
            position = last_event_id
        while True:
            seen = self._position
            async with self._database.transaction(read_only=True) as session:
                found = await events.published_after(session, position, ORDER_EVENTS, _BATCH)
            for event in found:
                position = event.position or position
                if event.data.get("location") == location:
                    yield _message(event.type, position, event.data)
            if len(found) == _BATCH:
                continue
            if not await self._moved_since(seen, heartbeat_seconds):
                yield ": heartbeat\n\n"

    async def close(self) -> None:
        if self._watching is not None:
            self._watching.cancel()
            with suppress(asyncio.CancelledError):
                await self._watching

    def _watch(self) -> None:
        """Start watching on the first stream, so an app nobody streams from never polls."""
        if self._watching is None:
            self._watching = asyncio.create_task(self._watch_forever())

    async def _moved_since(self, seen: int, seconds: float) -> bool:
        """Whether the stream has moved past `seen`, waiting up to `seconds` for it."""
        async with self._moved:
            try:
                await asyncio.wait_for(
                    self._moved.wait_for(lambda: self._position != seen), seconds
                )
            except TimeoutError:
                return False
            return True

    async def _watch_forever(self) -> None:
        while True:
            with suppress(Exception):  # a database hiccup: look again next time
                async with self._database.transaction(read_only=True) as session:
                    now = await events.last_position(session)
                if now != self._position:
                    async with self._moved:
                        self._position = now
                        self._moved.notify_all()
            await asyncio.sleep(self._poll_seconds)


def _message(kind: str, position: int, data: dict[str, Any]) -> str:
    return f"id: {position}\nevent: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
