"""Idempotency keys: a retried POST answers what the first one did, and does nothing again.

A key is claimed in the request's own transaction and its answer stored by its last
statement: the claim, the effects and the answer commit together or not at all, so a
request that fails leaves its key free (only successful answers are replayed) and no
claim outlives its request.

The claim costs no statement of its own: it is handed to `galley.appends` and rides in
the first statement that carries what was handed over (the stock take of an order) or,
merged with the answer, in the request's last. Until then the request only reads or
writes what its rollback takes back. A claim that meets a key already used fails its
statement (the key's unique index; on PostgreSQL also `galley_hold_key`, SQLSTATE GK409,
while another transaction holds the key's advisory lock), and so the whole request; so
does any error of a request with a key. Then `settle` looks at the key in a transaction
of its own: its stored answer is replayed (422 if the body differs), 409 while another
request holds it, a claim left without an answer or past the replay window is taken
over by running the request again, and otherwise the request's own error stands. On
SQLite one writer runs at a time, so a request with the key never meets the first in
flight: it waits its turn and replays the answer.

A row without an answer can only be one a refusal committed with the writes it keeps
(`keeps_writes`); nobody holds it, so the next request with the key takes it over.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, cast

from fastapi import Response
from sqlalchemy import (
    JSON,
    BigInteger,
    Index,
    Integer,
    Row,
    String,
    Table,
    Text,
    and_,
    bindparam,
    delete,
    func,
    insert,
    select,
    true,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.dml import UpdateBase

from galley.appends import Bound, write_last
from galley.db import Base, BigId, Database, UTCDateTime, utcnow
from galley.errors import Conflict, FieldError, InvalidRequest
from galley.privacy.keys import DataKeys

KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")
# How long an answer is kept for replay (API conventions: 24 hours).
REPLAY_WINDOW = dt.timedelta(hours=24)
_IN_FLIGHT = "A request with this Idempotency-Key is still in progress."
# What `galley_hold_key` fails a statement with while another request holds the key.
_HELD = "GK409"
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


@dataclass
class Claim:
    """A request's claim on its key, handed over to ride with one of its statements; the
    answer goes with it when it is known before the claim is sent. `lock` is the key's
    advisory lock on PostgreSQL (`_lock`), None on SQLite."""

    caller: str
    key: str
    fingerprint: str
    claimed_at: dt.datetime
    lock: int | None
    answer: dict[str, Any] | None = None
    sent: bool = False

    def statement(self) -> Bound:
        self.sent = True
        values = {
            "caller": self.caller,
            "key": self.key,
            "fingerprint": self.fingerprint,
            "claimed_at": self.claimed_at,
            **(self.answer or {}),
        }
        given = {f"idempotency_{name}": value for name, value in values.items()}
        if self.lock is not None:
            given["idempotency_lock"] = self.lock
        return _claim_statement(tuple(values), self.lock is not None), given


_TABLE = cast(Table, IdempotencyKey.__table__)
_ANSWER = ("status_code", "response_body", "response_headers")


@functools.cache
def _claim_statement(columns: tuple[str, ...], locking: bool) -> UpdateBase:
    """The claim's INSERT for these columns, built once: on PostgreSQL its row is only
    there while the key's advisory lock is held (`galley_hold_key`, failing otherwise)."""
    row = {name: bindparam(f"idempotency_{name}", type_=_TABLE.c[name].type) for name in columns}
    if not locking:
        return insert(_TABLE).values(row)
    held = func.galley_hold_key(bindparam("idempotency_lock", type_=BigInteger()))
    return insert(_TABLE).from_select(list(columns), select(*row.values()).where(held))


# The answer stored once the claim has gone: built once, as the claim is.
_ANSWERED = (
    update(_TABLE)
    .where(
        _TABLE.c.caller == bindparam("idempotency_caller"),
        _TABLE.c.key == bindparam("idempotency_key"),
    )
    .values({name: bindparam(f"idempotency_{name}", type_=_TABLE.c[name].type) for name in _ANSWER})
)


class RunAgain(Exception):
    """The key was taken over (`settle`): run the request again."""


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


def validate_key(key: str) -> str:
    if not KEY_PATTERN.match(key):
        raise InvalidRequest(
            "Idempotency-Key must be 1-255 printable ASCII characters.",
            [FieldError(field="Idempotency-Key", message="1-255 printable ASCII characters")],
        )
    return key


def claim(session: AsyncSession, caller: str, key: str, print_: str) -> Claim:
    """Hand the request's claim on its key over to ride with one of its statements."""
    held = Claim(caller, key, print_, utcnow(), _lock(session, caller, key))
    write_last(session, held.statement)
    return held


async def settle(
    database: Database, error: Exception, caller: str, key: str, print_: str
) -> Response:
    """What a request with a key answers when it failed with `error`: the key's stored
    answer, 409 while another request holds the key, or the error itself; `RunAgain`
    when its claim met a key left without an answer, now taken over."""
    async with database.transaction() as session:
        lock = _lock(session, caller, key)
        held = true() if lock is None else func.pg_try_advisory_xact_lock(lock)
        table = IdempotencyKey.__table__
        probe = select(held.label("held")).subquery("probe")
        found = (
            await session.execute(
                select(probe.c.held, table).select_from(
                    probe.outerjoin(table, and_(table.c.caller == caller, table.c.key == key))
                )
            )
        ).one()
        if found.status_code is not None and found.claimed_at >= utcnow() - REPLAY_WINDOW:
            if found.fingerprint != print_:
                raise InvalidRequest(
                    "This Idempotency-Key was used with a different request; use a new key.",
                    [FieldError(field="Idempotency-Key", message="reused with another body")],
                ) from error
            return _replay(found, database.settings.sealing_keys)
        if not found.held:
            raise Conflict(_IN_FLIGHT) from error
        if not _claim_failed(error):
            raise error
        if found.id is not None:
            # Unanswered (a refusal kept it) or past the replay window: this request's now.
            await session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == found.id))
    raise RunAgain from error


def _claim_failed(error: Exception) -> bool:
    """Whether the request failed on its claim: the key's row or its lock was taken."""
    if not isinstance(error, DBAPIError):
        return False
    if getattr(error.orig, "sqlstate", None) == _HELD:
        return True
    return isinstance(error, IntegrityError) and IdempotencyKey.__tablename__ in str(error.orig)


def _lock(session: AsyncSession, caller: str, key: str) -> int | None:
    """The key's advisory lock on PostgreSQL, a 64-bit digest of the caller and key (two
    keys sharing one would only answer 409 while the other runs); None on SQLite."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    digest = hashlib.sha256(f"{caller}\n{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _replay(row: Row[Any], keys: DataKeys) -> Response:
    headers = dict(row.response_headers or {})
    headers["Idempotent-Replayed"] = "true"
    body = "" if row.response_body is None else keys.unseal(row.response_body, BODY)
    return Response(
        content=body.encode(),
        status_code=row.status_code or 200,
        headers=headers,
    )


def record(session: AsyncSession, claim_: Claim, response: Response, keys: DataKeys) -> None:
    """Store the answer in the request's own transaction, the claim's, with its last
    statement: the claim's own, when it has not gone yet."""
    headers = {name: value for name, value in response.headers.items() if name in _REPLAYED_HEADERS}
    answer = {
        "status_code": response.status_code,
        "response_body": keys.seal(bytes(response.body).decode(), BODY),
        "response_headers": json.loads(json.dumps(headers)),
    }
    if not claim_.sent:
        claim_.answer = answer
        return
    given = {"idempotency_caller": claim_.caller, "idempotency_key": claim_.key}
    write_last(session, (_ANSWERED, given | {f"idempotency_{k}": v for k, v in answer.items()}))
