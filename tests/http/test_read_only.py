"""A request that only reads writes nothing in its own transaction: on SQLite that
transaction takes no write lock, so a write in it fails whenever another process has
written meanwhile ("database is locked")."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import event

from galley.app import create_app
from galley.config import Settings
from galley.db import _READ_ONLY
from tests.auth import api_key, bearer

_WRITES = ("INSERT", "UPDATE", "DELETE")
_READS = [
    "/v1/products",
    "/v1/locations",
    "/v1/stock",
    "/v1/orders",
    "/v1/suppliers",
    "/v1/purchase-orders",
    "/v1/events",
    "/v1/audit-events",
    "/v1/webhook-endpoints",
    "/v1/api-keys",
]


async def test_reads_write_nothing_in_their_own_transaction(settings: Settings) -> None:
    app = create_app(settings)
    written_while_reading: list[str] = []

    def spy(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if _READ_ONLY.get() and statement.lstrip().upper().startswith(_WRITES):
            written_while_reading.append(statement)

    event.listen(app.state.engine.sync_engine, "before_cursor_execute", spy)
    # A key never used before: its first use is noted, in a transaction of its own.
    headers = bearer(await api_key(settings.database_url))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://galley.test", headers=headers
    ) as client:
        for path in _READS:
            assert (await client.get(path)).status_code == 200, path
        keys = (await client.get("/v1/api-keys")).json()
    await app.state.engine.dispose()
    assert written_while_reading == []
    (used,) = [k for k in keys if k["last_used_at"] is not None]
    assert used["role"] == "admin"
