"""Transactions of one process that would queue on the same row lock, run as one.

An order for a product in stock takes it last, in one conditional UPDATE that holds the
row until the transaction commits (`inventory.levels`). For one hot product, orders then
take that lock one after another, each holding it for its last round trips and its
commit. Here they are coalesced instead: while one transaction holds the row, the others
that reach the same take `board` and wait in line in the process, not in PostgreSQL.
When the row is let go, the first in line leads all that wait: its transaction takes
the stock of them all in one UPDATE and hands each its share of the figures. The others,
its followers, go on with their request on those figures and, at its end, hand in what
they would have written (`galley.appends`) instead of committing; the leader writes it
and commits once for them all, and each follower answers when that commit holds.

A follower's own transaction only read, and rolls back: it may not send a statement
after it boarded (one that does is refused with `Rerun`). Whatever keeps the convoy from
committing (the take no longer fits the stock, a follower that fails or takes more than
`HAND_IN_SECONDS` to hand in, a write that fails) sends every member back with `Rerun`:
`Database.run` runs each again on its own, locking first, so each meets its own outcome.
Only a failed COMMIT, whose outcome is not known, is each follower's error as it is the
leader's. This is the one place where a request's writes are committed by another
request's transaction: all or none of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session

from galley import appends
from galley.reruns import Rerun

# How long a leader, holding the row, waits for its followers to hand in their writes.
HAND_IN_SECONDS = 5.0
_MEMBER = "galley.convoy"


@dataclass(eq=False)
class Seat:
    """A transaction's place in a convoy: what it asks of the take, and what it is given."""

    asked: Any
    _turn: asyncio.Future[bool] = field(default_factory=lambda: _future())
    _given: asyncio.Future[Any] = field(default_factory=lambda: _future())
    _handed: asyncio.Future[Any] = field(default_factory=lambda: _future())
    _done: asyncio.Future[BaseException | None] = field(default_factory=lambda: _future())
    followers: list[Seat] = field(default_factory=list)
    committing: bool = False

    @property
    def following(self) -> bool:
        return self._turn.done() and not self._turn.result()

    @property
    def others_asked(self) -> list[Any]:
        """What each follower asked, in the order they boarded."""
        return [follower.asked for follower in self.followers]

    async def given(self) -> Any:
        """A follower's share of the take, or None: it was not taken."""
        return await self._given

    def hand_out(self, shares: Sequence[Any] | None) -> None:
        """The leader hands each follower its share, in the order of `others_asked`; None:
        nothing was taken, every follower runs again."""
        for at, follower in enumerate(self.followers):
            _settle(follower._given, None if shares is None else shares[at])


@dataclass(eq=False)
class _Line:
    """The transactions of one key: whether one holds the row, and who waits for it."""

    busy: bool = False
    waiting: list[Seat] = field(default_factory=list)


_lines: dict[Hashable, _Line] = {}
_SUNK = object()


def _future() -> asyncio.Future[Any]:
    return asyncio.get_running_loop().create_future()


def _settle(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


async def board(session: AsyncSession, key: Hashable, asked: Any) -> Seat:
    """A seat for the session's transaction in the convoy of `key` (on its engine): leading
    (`following` false) once the row is free, with the followers that waited meanwhile, or
    following a leader (`given` is then its share)."""
    line_key = (session.get_bind(), key)
    line = _lines.setdefault(line_key, _Line())
    seat = Seat(asked)
    if not line.busy:
        line.busy = True
        seat._turn.set_result(True)
    else:
        line.waiting.append(seat)
        try:
            await asyncio.shield(seat._turn)
        except BaseException:
            _leave(line_key, line, seat)
            raise
    session.info[_MEMBER] = (line_key, line, seat)
    return seat


def _leave(line_key: Hashable, line: _Line, seat: Seat) -> None:
    """A seat given up before it was used (its task was cancelled while it waited)."""
    if seat in line.waiting:
        line.waiting.remove(seat)
    elif seat._turn.done() and seat._turn.result():
        seat.hand_out(None)
        _call_next(line_key, line)
    else:
        _settle(seat._handed, _SUNK)


def _call_next(line_key: Hashable, line: _Line) -> None:
    """The row is let go: the first in line leads all that wait."""
    if not line.waiting:
        line.busy = False
        _lines.pop(line_key, None)
        return
    leader, *followers = line.waiting
    line.waiting = []
    leader.followers = followers
    for follower in followers:
        follower._turn.set_result(False)
    leader._turn.set_result(True)


def following(session: AsyncSession) -> bool:
    member = session.info.get(_MEMBER)
    return member is not None and member[2].following


def carries_others(session: AsyncSession) -> bool:
    """Whether the session's transaction leads followers: it may not commit without them."""
    member = session.info.get(_MEMBER)
    return member is not None and bool(member[2].followers)


async def hand_in(session: AsyncSession) -> None:
    """A follower at the end of its work: its own transaction, which only read, rolls
    back, what it would have written goes to its leader, and this returns once the
    leader committed it."""
    _, _, seat = session.info.pop(_MEMBER)
    handed = appends.handed_over(session)
    try:
        await session.rollback()
    except BaseException:
        _settle(seat._handed, _SUNK)
        raise
    _settle(seat._handed, handed)
    failed = await seat._done
    if failed is not None:
        raise failed


async def gather(session: AsyncSession) -> None:
    """A leader before it commits: its followers' writes, each as they handed them in."""
    member = session.info.get(_MEMBER)
    if member is None or not member[2].followers:
        return
    seat = member[2]
    try:
        async with asyncio.timeout(HAND_IN_SECONDS):
            handed = [await asyncio.shield(follower._handed) for follower in seat.followers]
    except TimeoutError:
        raise Rerun("a follower in the convoy did not hand in its writes in time") from None
    if any(each is _SUNK for each in handed):
        raise Rerun("a follower in the convoy failed")
    try:
        for each in handed:
            await appends.write_for(session, each)
    except Exception as exc:
        raise Rerun(f"a follower's writes failed in the convoy: {exc}") from exc


def committing(session: AsyncSession) -> None:
    """The leader's COMMIT is sent: if it fails, nobody knows whether it held."""
    member = session.info.get(_MEMBER)
    if member is not None:
        member[2].committing = True


def release(session: AsyncSession, failed: BaseException | None) -> None:
    """The session's transaction has ended, committed (`failed` None) or not: its followers
    learn how, and the row goes to whoever waits for it next."""
    member = session.info.pop(_MEMBER, None)
    if member is None:
        return
    line_key, line, seat = member
    if seat.following:
        _settle(seat._handed, _SUNK)
        return
    seat.hand_out(None)
    outcome = failed if failed is None or seat.committing else Rerun("the convoy did not commit")
    for follower in seat.followers:
        _settle(follower._done, outcome)
    _call_next(line_key, line)


@event.listens_for(Session, "do_orm_execute")
def _followers_send_nothing(state: ORMExecuteState) -> None:
    member = state.session.info.get(_MEMBER)
    if member is not None and member[2].following:
        raise Rerun("a follower in a convoy sent a statement of its own")
