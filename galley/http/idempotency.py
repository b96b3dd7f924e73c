"""Idempotency keys: a retried POST answers what the first one did, and does nothing again.

A key is claimed in its own short transaction before the request's transaction
starts, so a concurrent duplicate sees it and answers 409. The answer is stored in
the request's own transaction, so it exists exactly when the effects do. A request
that fails releases its claim: only successful answers are replayed, and a failed
request may be retried with the same key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass

from fastapi import Response
from sqlalchemy import JSON, Index, Integer, String, Text, delete, select, update
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
    id: int


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
    """Claim the key for this request, or return the stored answer to replay."""
    now = utcnow()
    async with database.transaction() as session:
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
            return Claim(claimed)
        row = (
            await session.execute(
                select(IdempotencyKey).where(
                    IdempotencyKey.caller == caller, IdempotencyKey.key == key
                )
            )
        ).scalar_one()
        expired = row.claimed_at < now - REPLAY_WINDOW
        abandoned = row.status_code is None and row.claimed_at < now - ABANDONED_AFTER
        if expired or abandoned:
            return await _take_over(session, row, print_, now)
        if row.fingerprint != print_:
            raise InvalidRequest(
                "This Idempotency-Key was used with a different request; use a new key.",
                [FieldError(field="Idempotency-Key", message="reused with another body")],
            )
        if row.status_code is None:
            raise Conflict("A request with this Idempotency-Key is still in progress.")
        return _replay(row, keys_of(session))


async def _take_over(
    session: AsyncSession, row: IdempotencyKey, print_: str, now: dt.datetime
) -> Claim:
    taken = (
        await session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.id == row.id, IdempotencyKey.claimed_at == row.claimed_at)
            .values(fingerprint=print_, claimed_at=now, status_code=None, response_body=None)
            .returning(IdempotencyKey.id)
        )
    ).scalar()
    if taken is None:
        raise Conflict("A request with this Idempotency-Key is still in progress.")
    return Claim(taken)


def _replay(row: IdempotencyKey, keys: DataKeys) -> Response:
    headers = dict(row.response_headers or {})
    headers["Idempotent-Replayed"] = "true"
    body = "" if row.response_body is None else keys.unseal(row.response_body, BODY)
    return Response(
        content=body.encode(),
        status_code=row.status_code or 200,
        headers=headers,
    )


async def record(session: AsyncSession, claim_: Claim, response: Response) -> None:
    """Store the answer in the request's own transaction."""
    headers = {name: value for name, value in response.headers.items() if name in _REPLAYED_HEADERS}
    await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.id == claim_.id)
        .values(
            status_code=response.status_code,
            response_body=keys_of(session).seal(bytes(response.body).decode(), BODY),
            response_headers=json.loads(json.dumps(headers)),
        )
    )


async def release(database: Database, claim_: Claim) -> None:
    async with database.transaction() as session:
        await session.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.id == claim_.id, IdempotencyKey.status_code.is_(None)
            )
        )
