"""Cursor pagination: `?limit=&cursor=` in, `{data, next_cursor}` out, by an increasing key."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import AfterValidator, BaseModel
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from galley.errors import FieldError, InvalidRequest

T = TypeVar("T")

_CURSOR = re.compile(r"k([0-9]{1,18})")
AnySelect = Select[*tuple[Any, ...]]

Limit = Annotated[int, Query(ge=1, le=200, description="Items per page (at most 200).")]
# Empty is the first page, as absent is: a client that puts a `next_cursor` of null into
# `?cursor=` as an empty string starts over rather than being refused.
Cursor = Annotated[
    str | None,
    Query(
        max_length=64,
        description="The `next_cursor` of the previous page; absent or empty for the first page.",
    ),
    AfterValidator(lambda cursor: cursor or None),
]


class Page(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None


def encode_cursor(key: int) -> str:
    return base64.urlsafe_b64encode(f"k{key}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        # At most 18 digits: a larger key does not fit the database's 64-bit integers.
        found = _CURSOR.fullmatch(raw)
        if found is None:
            raise ValueError
        return int(found[1])
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise InvalidRequest(
            "The cursor is not one this API gave out.",
            [FieldError(field="cursor", message="unknown cursor")],
        ) from None


async def fetch_page(
    session: AsyncSession,
    stmt: AnySelect,
    key: InstrumentedAttribute[int],
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[Any], str | None]:
    """Rows after `cursor` in `key` order, and the cursor of the next page (None at the end)."""
    if cursor is not None:
        stmt = stmt.where(key > decode_cursor(cursor))
    rows = (await session.execute(stmt.order_by(key).limit(limit + 1))).all()
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, encode_cursor(_key_of(last, key))


def _key_of(row: Any, key: InstrumentedAttribute[int]) -> int:
    mapping = row._mapping
    if key in mapping:
        return int(mapping[key])
    entity = row[0]
    return int(getattr(entity, key.key))
