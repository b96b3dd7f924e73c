"""Re-sealing personal data and stored secrets under the current data key
(`galley keys rotate`).

Work goes in batches, each its own transaction, and only rows sealed under another key
are picked: a run that stops part-way is simply started again, and a run with nothing
left to do changes nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Column, ColumnElement, Table, and_, func, or_, select, update

from galley.db import Database
from galley.http.idempotency import IdempotencyKey
from galley.identity.models import User
from galley.orders.models import Order
from galley.privacy.keys import DataKeys
from galley.purchasing.models import Supplier
from galley.webhooks.models import WebhookEndpoint


@dataclass(frozen=True)
class _Sealed:
    """A table's sealed columns, and what else is derived from them (the e-mail index)."""

    table: Table
    key: str
    columns: tuple[str, ...]
    derive: Callable[[DataKeys, dict[str, str]], dict[str, str]] = lambda keys, plain: {}


SEALED = (
    _Sealed(
        cast(Table, User.__table__),
        "id",
        ("email", "name", "phone"),
        lambda keys, plain: {"email_index": keys.email_index(plain["email"])},
    ),
    _Sealed(cast(Table, Order.__table__), "number", ("delivery",)),
    _Sealed(cast(Table, WebhookEndpoint.__table__), "id", ("secret", "previous_secret")),
    _Sealed(cast(Table, IdempotencyKey.__table__), "id", ("response_body",)),
    _Sealed(cast(Table, Supplier.__table__), "id", ("webhook_secret", "previous_webhook_secret")),
)


def _stale(sealed: _Sealed, keys: DataKeys) -> ColumnElement[bool]:
    prefix = keys.current + ":"
    columns: list[Column[Any]] = [sealed.table.c[name] for name in sealed.columns]
    return or_(*(and_(c.is_not(None), ~c.startswith(prefix, autoescape=True)) for c in columns))


async def rows_to_reseal(database: Database) -> int:
    keys = database.settings.sealing_keys
    total = 0
    async with database.transaction(read_only=True) as session:
        for sealed in SEALED:
            stmt = select(func.count()).select_from(sealed.table).where(_stale(sealed, keys))
            total += (await session.execute(stmt)).scalar_one()
    return total


async def reseal(database: Database, *, batch: int = 500) -> AsyncIterator[int]:
    """Re-seal every row not sealed under the current key; yields each batch's size."""
    keys = database.settings.sealing_keys
    for sealed in SEALED:
        key = sealed.table.c[sealed.key]
        after = None
        while True:
            async with database.transaction() as session:
                stmt = select(key, *(sealed.table.c[name] for name in sealed.columns))
                stmt = stmt.where(_stale(sealed, keys)).order_by(key).limit(batch)
                if after is not None:
                    stmt = stmt.where(key > after)
                rows = (await session.execute(stmt)).all()
                for row in rows:
                    await session.execute(
                        update(sealed.table)
                        .where(key == row[0])
                        .values(
                            _resealed(sealed, keys, dict(zip(sealed.columns, row[1:], strict=True)))
                        )
                    )
            if not rows:
                break
            after = rows[-1][0]
            yield len(rows)


def _resealed(sealed: _Sealed, keys: DataKeys, values: dict[str, str | None]) -> dict[str, str]:
    table = sealed.table.name
    plain = {
        name: keys.unseal(value, f"{table}.{name}")
        for name, value in values.items()
        if value is not None
    }
    return {name: keys.seal(value, f"{table}.{name}") for name, value in plain.items()} | (
        sealed.derive(keys, plain)
    )
