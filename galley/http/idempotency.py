"""Idempotency keys: a retried POST answers what the first one did, and does nothing again.

A key is claimed in the request's own transaction, by its first statement, and its answer
stored by its last: the claim, the effects and the answer commit together or not at all,
so a request that fails leaves its key free (only successful answers are replayed) and
no claim outlives its request.

While a request holds its key, another with the same key is answered 409 at once. On
PostgreSQL the holder is whoever holds the key's transaction-scoped advisory lock, taken
with the claim; the row it inserts is not seen by others until it commits, and the lock
is let go exactly then. On SQLite one writer runs at a time, so a request with the key
never meets the first in flight: it waits its turn and replays the answer.

A row without an answer can only be one a refusal committed with the writes it keeps
(`keeps_writes`); nobody holds it, so the next request with the key takes it over.
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
    func,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from galley.appends import write_last
from galley.db import Base, BigId, UTCDateTime, insert_for, utcnow
from galley.errors import Conflict, FieldError, InvalidRequest
from galley.privacy.keys import DataKeys, keys_of

KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")
# How long an answer is kept for replay (API conventions: 24 hours).
REPLAY_WINDOW = dt.timedelta(hours=24)
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
    """A request's hold on its key: the row its answer goes to."""

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


async def claim(session: AsyncSession, caller: str, key: str, print_: str) -> Claim | Response:
    """Claim the key in the request's transaction, or return the stored answer to replay.

    Raises 409 while another request holds the key, and 422 for a key used with
    another request. A fresh key costs one statement.
    """
    now = utcnow()
    lock = _lock(session, caller, key)
    table = IdempotencyKey.__table__
    values = {"caller": caller, "key": key, "fingerprint": print_, "claimed_at": now}
    claiming = insert_for(session, table)
    if lock is None:
        claiming = claiming.values(values)
    else:
        row = select(*(literal(v, table.c[name].type) for name, v in values.items()))
        claiming = claiming.from_select(list(values), row.where(lock))
    claimed = (
        await session.execute(
            claiming.on_conflict_do_nothing(index_elements=["caller", "key"]).returning(table.c.id)
        )
    ).scalar()
    if claimed is not None:
        return Claim(claimed)
    # The key has an answer, or another request holds it (then this one did not get its
    # lock; ask again, as the holder may have finished since).
    probe = select((true() if lock is None else lock).label("held")).subquery("probe")
    found = (
        await session.execute(
            select(probe.c.held, table).select_from(
                probe.outerjoin(table, and_(table.c.caller == caller, table.c.key == key))
            )
        )
    ).one()
    if found.status_code is not None and found.claimed_at >= now - REPLAY_WINDOW:
        if found.fingerprint != print_:
            raise InvalidRequest(
                "This Idempotency-Key was used with a different request; use a new key.",
                [FieldError(field="Idempotency-Key", message="reused with another body")],
            )
        return _replay(found, keys_of(session))
    if not found.held:
        raise Conflict(_IN_FLIGHT)
    if found.id is None:
        # Its holder failed, and so left no row, since this request's claim met it.
        return await claim(session, caller, key, print_)
    # Unanswered (a refusal kept it) or past the replay window: this request's now.
    await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.id == found.id)
        .values(
            fingerprint=print_,
            claimed_at=now,
            status_code=None,
            response_body=None,
            response_headers=None,
        )
    )
    return Claim(found.id)


def _lock(session: AsyncSession, caller: str, key: str) -> ColumnElement[bool] | None:
    """On PostgreSQL, taking the key's advisory lock if it is free (a 64-bit digest of the
    caller and key: two keys sharing one would only answer 409 while the other runs);
    None on SQLite, where writers take their turns."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    digest = hashlib.sha256(f"{caller}\n{key}".encode()).digest()
    return func.pg_try_advisory_xact_lock(int.from_bytes(digest[:8], "big", signed=True))


def _replay(row: Row[Any], keys: DataKeys) -> Response:
    headers = dict(row.response_headers or {})
    headers["Idempotent-Replayed"] = "true"
    body = "" if row.response_body is None else keys.unseal(row.response_body, BODY)
    return Response(
        content=body.encode(),
        status_code=row.status_code or 200,
        headers=headers,
    )


def record(session: AsyncSession, claim_: Claim, response: Response) -> None:
    """Store the answer in the request's own transaction, the claim's, with its last statement."""
    headers = {name: value for name, value in response.headers.items() if name in _REPLAYED_HEADERS}
    write_last(
        session,
        update(IdempotencyKey)
        .where(IdempotencyKey.id == claim_.id)
        .values(
            status_code=response.status_code,
            response_body=keys_of(session).seal(bytes(response.body).decode(), BODY),
            response_headers=json.loads(json.dumps(headers)),
        ),
    )
