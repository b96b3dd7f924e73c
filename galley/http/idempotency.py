"""Idempotency keys: a retried POST answers what the first one did, and does nothing again.

A key is claimed in its own short transaction before the request's transaction
starts, so a concurrent duplicate sees it and answers 409. The answer is stored in
the request's own transaction, so it exists exactly when the effects do. A request
that fails releases its claim: only successful answers are replayed, and a failed
request may be retried with the same key.

Every request with a key may run at the same time as others with the same key, on
other connections, so nothing here acts on what it read a statement before: each
statement states in SQL the row it changes (a claim is this request's while its
`claimed_at` is the one it set), and a claim that finds the row changed between two
statements — released, taken over, answered — looks again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from fastapi import Response
from sqlalchemy import (
    JSON,
    ColumnElement,
    Index,
    Integer,
    Row,
    String,
    Text,
    and_,
    delete,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from galley.db import Base, BigId, Database, UTCDateTime, insert_for, utcnow
from galley.errors import Conflict, FieldError, InvalidRequest
from galley.privacy.keys import DataKeys, keys_of

KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")
# How long an answer is kept for replay (API conventions: 24 hours).
REPLAY_WINDOW = dt.timedelta(hours=24)
# A claim older than this belongs to a process that died mid-request; it may be taken over.
ABANDONED_AFTER = dt.timedelta(seconds=60)
# Each further look means the key changed hands between two statements of this claim;
# a key that keeps doing so is busy, and the answer is that it is in flight.
_CLAIM_LOOKS = 5
_IN_FLIGHT = "A request with this Idempotency-Key is still in progress."
_REPLAYED_HEADERS = ("location", "etag", "content-type")
# Answers hold personal data and secrets shown once (API keys, webhook secrets): sealed.
BODY = "idempotency_keys.response_body"


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("uq_idempotency_keys_caller_key", "caller", "key", unique=True),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    caller: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    claimed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    response_headers: Mapped[dict[str, str] | None] = mapped_column(JSON)


@dataclass(frozen=True)
class Claim:
    """A request's hold on its key: the row, and the `claimed_at` this request set. Once
    another request has taken the row over (or claimed it afresh), it is not this one's."""

    id: int
    claimed_at: dt.datetime


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


def validate_key(key: str) -> str:
    if not KEY_PATTERN.match(key):
        raise InvalidRequest(
            "Idempotency-Key must be 1-255 printable ASCII characters.",
            [FieldError(field="Idempotency-Key", message="1-255 printable ASCII characters")],
        )
    return key


async def claim(database: Database, caller: str, key: str, print_: str) -> Claim | Response:
    """Claim the key for this request, or return the stored answer to replay.

    Raises 409 while another request holds the key, and 422 for a key used with
    another request.
    """
    now = utcnow()
    async with database.transaction() as session:
        for _ in range(_CLAIM_LOOKS):
            outcome = await _look(session, caller, key, print_, now)
            if outcome is not None:
                return outcome
    raise Conflict(_IN_FLIGHT)


async def _look(
    session: AsyncSession, caller: str, key: str, print_: str, now: dt.datetime
) -> Claim | Response | None:
    """One attempt at the claim; None when the row changed under it (look again)."""
    table = IdempotencyKey.__table__
    claimed = (
        await session.execute(
            insert_for(session, table)
            .values(caller=caller, key=key, fingerprint=print_, claimed_at=now)
            .on_conflict_do_nothing(index_elements=["caller", "key"])
            .returning(table.c.id)
        )
    ).scalar()
    if claimed is not None:
        return Claim(claimed, now)
    row = (
        await session.execute(
            select(table, _takeable(now).label("takeable")).where(
                table.c.caller == caller, table.c.key == key
            )
        )
    ).one_or_none()
    if row is None:
        # Released (its request failed) since the insert met it: the key is free again.
        return None
    if row.takeable:
        return await _take_over(session, row.id, print_, now)
    if row.fingerprint != print_:
        raise InvalidRequest(
            "This Idempotency-Key was used with a different request; use a new key.",
            [FieldError(field="Idempotency-Key", message="reused with another body")],
        )
    if row.status_code is None:
        raise Conflict(_IN_FLIGHT)
    return _replay(row, keys_of(session))


def _takeable(now: dt.datetime) -> ColumnElement[bool]:
    """A row a new claim may take: its answer is past the replay window, or it has no
    answer and its claim is old enough that the process holding it is presumed dead."""
    return or_(
        IdempotencyKey.claimed_at < now - REPLAY_WINDOW,
        and_(
            IdempotencyKey.status_code.is_(None),
            IdempotencyKey.claimed_at < now - ABANDONED_AFTER,
        ),
    )


async def _take_over(
    session: AsyncSession, id_: int, print_: str, now: dt.datetime
) -> Claim | None:
    """Take the row if it is still takeable: not answered, released or taken meanwhile."""
    taken = (
        await session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.id == id_, _takeable(now))
            .values(
                fingerprint=print_,
                claimed_at=now,
                status_code=None,
                response_body=None,
                response_headers=None,
            )
            .returning(IdempotencyKey.id)
        )
    ).scalar()
    return None if taken is None else Claim(taken, now)


def _replay(row: Row[Any], keys: DataKeys) -> Response:
    headers = dict(row.response_headers or {})
    headers["Idempotent-Replayed"] = "true"
    body = "" if row.response_body is None else keys.unseal(row.response_body, BODY)
    return Response(
        content=body.encode(),
        status_code=row.status_code or 200,
        headers=headers,
    )


def _held(claim_: Claim) -> ColumnElement[bool]:
    """The claim's row, while it is still this request's and unanswered."""
    return and_(
        IdempotencyKey.id == claim_.id,
        IdempotencyKey.claimed_at == claim_.claimed_at,
        IdempotencyKey.status_code.is_(None),
    )


async def record(session: AsyncSession, claim_: Claim, response: Response) -> None:
    """Store the answer in the request's own transaction.

    A request that held its claim past `ABANDONED_AFTER` may have been taken over by a
    retry, which runs it afresh: then this one is refused (409), so that its effects,
    in the same transaction, are not made twice.
    """
    headers = {name: value for name, value in response.headers.items() if name in _REPLAYED_HEADERS}
    recorded = (
        await session.execute(
            update(IdempotencyKey)
            .where(_held(claim_))
            .values(
                status_code=response.status_code,
                response_body=keys_of(session).seal(bytes(response.body).decode(), BODY),
                response_headers=json.loads(json.dumps(headers)),
            )
            .returning(IdempotencyKey.id)
        )
    ).scalar()
    if recorded is None:
        raise Conflict(
            "This request ran so long that a retry with its Idempotency-Key took it over; "
            "the retry's answer is the one kept."
        )


async def release(database: Database, claim_: Claim) -> None:
    """Free the key of a request that failed, unless another request holds it by now."""
    async with database.transaction() as session:
        await session.execute(delete(IdempotencyKey).where(_held(claim_)))
