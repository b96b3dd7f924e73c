"""The live fulfilment stream: a location's queue, then every change to its orders, as
Server-Sent Events.

Changes come from the published event stream, which every API process reads from the
database: a change made through one process reaches streams held by any other. Each
message's `id` is the position of its event in the stream, so a client that reconnects
with `Last-Event-ID` is sent exactly what it missed. The queue sent on connecting carries
the stream position it was read at.

Each process watches the stream's last position and wakes its streams when it moves; the
streams then read the new events. It looks when word comes that the stream has moved
(`galley.events.moves`: through the broker, or PostgreSQL's NOTIFY), and otherwise once
per heartbeat interval, in case word was lost; on SQLite without a broker there is no
word, and it looks once per poll interval.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import suppress
from typing import Any

import structlog

from galley.db import Database
from galley.events import service as events
from galley.orders import views

log = structlog.get_logger("galley.orders")

ORDER_EVENTS = ("order.placed", "order.status_changed", "order.completed", "order.cancelled")
_BATCH = 200
# Heard of a position the database does not show yet: look again this soon, for so long.
_SOON_SECONDS = 0.02
_SOON_FOR_SECONDS = 10.0


class FulfilmentFeed:
    """One per process: wakes the streams it serves when the event stream moves."""

    def __init__(self, database: Database, *, poll_seconds: float, heartbeat_seconds: float):
        self._database = database
        self._follow = events.follower(database, ORDER_EVENTS)
        self._look_every = poll_seconds if self._follow is None else heartbeat_seconds
        self._moved = asyncio.Condition()
        self._position = -1  # as last seen by the watcher
        self._heard = asyncio.Event()
        self._heard_of = -1  # the furthest position word came of
        self._heard_at = 0.0
        self._tasks: list[asyncio.Task[None]] = []

    async def stream(
        self, location: str, last_event_id: int | None, heartbeat_seconds: float
    ) -> AsyncIterator[str]:
        """The SSE messages for one client, until it goes away."""
        self._watch()
        if last_event_id is None:
            async with self._database.transaction(read_only=True) as session:
                position = await events.last_position(session)
                keys = self._database.settings.sealing_keys
                queue = await views.fulfilment_queue(session, location, keys)
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
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _watch(self) -> None:
        """Start watching on the first stream, so an app nobody streams from never looks."""
        if not self._tasks:
            self._tasks.append(asyncio.create_task(self._watch_forever()))
            if self._follow is not None:
                self._tasks.append(asyncio.create_task(self._follow(self._word)))

    def _word(self, position: int) -> None:
        """Word that the stream has reached `position` (0: look, whatever it is)."""
        self._heard_of = max(self._heard_of, position)
        self._heard_at = time.monotonic()
        self._heard.set()

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
            self._heard.clear()
            try:
                async with self._database.transaction(read_only=True) as session:
                    now = await events.last_position(session)
            except Exception as exc:
                log.warning("fulfilment.watch_failed", error=f"{type(exc).__name__}: {exc}")
            else:
                if now != self._position:
                    async with self._moved:
                        self._position = now
                        self._moved.notify_all()
            behind = self._position < self._heard_of
            if behind and time.monotonic() - self._heard_at < _SOON_FOR_SECONDS:
                wait = _SOON_SECONDS
            else:
                wait = self._look_every
            with suppress(TimeoutError):
                await asyncio.wait_for(self._heard.wait(), wait)


def _message(kind: str, position: int, data: dict[str, Any]) -> str:
    return f"id: {position}\nevent: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
