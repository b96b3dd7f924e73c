"""Sends batched drafts whose window has passed, for `GALLEY_PURCHASING_BATCH_SECONDS` > 0.

Every API process runs one; they may overlap safely, since sending is a conditional
update of drafts still in `draft`.
"""

from __future__ import annotations

import asyncio

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from galley.db import Database
from galley.purchasing.replenishment import send_due_drafts
from galley.reactions import settle

log = structlog.get_logger("galley.purchasing")


async def send_batches_forever(database: Database) -> None:
    window = database.settings.purchasing_batch_window
    # Often enough that a draft waits little longer than its window, never busy-looping.
    pause = min(max(window.total_seconds() / 4, 0.2), 30.0)

    async def send(session: AsyncSession) -> None:
        await settle(
            session, await send_due_drafts(session, window, actor="galley"), database.settings
        )

    while True:
        await asyncio.sleep(pause)
        try:
            await database.run(send)
        except Exception:  # keep sending later batches; the error is logged with its trace
            log.exception("purchasing.batch_failed")
