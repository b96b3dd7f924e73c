"""A TCP proxy that counts the messages of PostgreSQL's frontend protocol.

A simple `Query` message and an extended-protocol `Execute` are one statement each, as
`log_statement = all` logs them (`BEGIN`, `COMMIT` and pings included); a `Query` or a
`Sync` ends one round trip. The bench's counting pass and the statement budgets of the
test suite (`tests/test_statement_budgets.py`) both count through it.

It also reads what the server sends back: each row a statement returns, with the values
of the columns that are a table's own (a `RowDescription` names each column's table and
column number), so that a test can tell when a request read one row twice. A prepared
statement's rows come without a description: it was sent when the statement was
described, so the proxy follows statements and portals by name, and answers in the order
the client's messages asked for them.
"""

from __future__ import annotations

import asyncio
import struct
import threading
from collections import Counter, deque
from dataclasses import dataclass, field

# Untyped messages a client may send before its startup message is done with.
_SSL_REQUEST, _GSS_REQUEST = 80877103, 80877104

Column = tuple[int, int]  # a table's OID and the column's number in it
Row = dict[Column, bytes | None]  # one row sent back: its table columns' values


@dataclass(frozen=True)
class Result:
    """What one statement returned: its text, and its rows."""

    statement: str
    rows: list[Row]


@dataclass
class Proxy:
    """A TCP proxy to `target` counting the messages clients send, by type, and keeping
    the rows the server returns in `returned` if `rows`."""

    target: tuple[str, int]
    rows: bool = False
    counts: Counter[str] = field(default_factory=Counter)
    returned: list[Result] = field(default_factory=list)
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _server: asyncio.Server | None = None
    _ready: threading.Event = field(default_factory=threading.Event)

    def start(self) -> int:
        threading.Thread(target=self._serve, daemon=True).start()
        self._ready.wait(10)
        return self.port

    def stop(self) -> None:
        """Take no more connections. Those open end with their clients; the loop's daemon
        thread ends with the driver."""
        if self._loop is not None and self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)

    def statements(self) -> int:
        return self.counts["Q"] + self.counts["E"]

    def round_trips(self) -> int:
        return self.counts["Q"] + self.counts["S"]

    def _serve(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._server = server = self._loop.run_until_complete(
            asyncio.start_server(self._connection, "127.0.0.1", 0)
        )
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _connection(self, client: asyncio.StreamReader, out: asyncio.StreamWriter) -> None:
        reader, writer = await asyncio.open_connection(*self.target)
        talk = _Conversation(self.returned if self.rows else None)
        down = asyncio.ensure_future(_pipe(reader, out, talk))
        try:
            await self._count_up(client, writer, talk)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            await down
            out.close()

    async def _count_up(
        self, client: asyncio.StreamReader, writer: asyncio.StreamWriter, talk: _Conversation
    ) -> None:
        started = False
        while True:
            if started:
                head = await client.read(1)
                if not head:
                    return
                size = await client.readexactly(4)
                (length,) = struct.unpack("!I", size)
                body = await client.readexactly(length - 4)
                kind = head.decode("latin-1")
                self.counts[kind] += 1
                talk.asked(kind, body)
                writer.write(head + size + body)
            else:
                size = await client.readexactly(4)
                (length,) = struct.unpack("!I", size)
                body = await client.readexactly(length - 4)
                (code,) = struct.unpack("!I", body[:4])
                started = code not in (_SSL_REQUEST, _GSS_REQUEST)
                talk.bare_answers += not started  # answered with one byte, not a message
                writer.write(size + body)
            await writer.drain()


@dataclass
class _Statement:
    text: str
    columns: list[Column] = field(default_factory=list)


@dataclass
class _Conversation:
    """One connection's statements and portals, and the client's messages still to be
    answered, oldest first; what the server returns goes to `returned`, if kept."""

    returned: list[Result] | None
    bare_answers: int = 0
    statements: dict[str, _Statement] = field(default_factory=dict)
    portals: dict[str, _Statement] = field(default_factory=dict)
    waiting: deque[tuple[str, _Statement]] = field(default_factory=deque)
    result: Result | None = None  # the one rows are coming for

    def asked(self, kind: str, body: bytes) -> None:
        if kind == "P":
            name, rest = _text_and_rest(body)
            self.statements[name] = statement = _Statement(_text(rest))
        elif kind == "B":
            portal, rest = _text_and_rest(body)
            self.portals[portal] = statement = self.statements.get(_text(rest), _Statement(""))
        elif kind == "D":
            statement = self.statements.get(_text(body[1:]), _Statement(""))
            kind += body[:1].decode()
        elif kind == "E":
            statement = self.portals.get(_text(body), _Statement(""))
        elif kind == "Q":
            statement = _Statement(_text(body))
        elif kind in "SC":
            statement = _Statement("")
        else:
            return
        self.waiting.append((kind, statement))

    def answered(self, kind: str, body: bytes) -> None:
        head, statement = self.waiting[0] if self.waiting else ("", _Statement(""))
        if kind == "T" and head in ("DS", "Q"):
            statement.columns = _columns(body)
        elif kind == "D":
            if self.result is None:
                self.result = Result(statement.text, [])
                if self.returned is not None:
                    self.returned.append(self.result)
            self.result.rows.append(_row(statement.columns, body))
        elif kind in "CIs":
            self.result = None
        elif kind == "E":  # the server skips to the next Sync
            self.result = None
            while self.waiting and self.waiting[0][0] not in "SQ":
                self.waiting.popleft()
            return
        if head and head[0] in _ENDS.get(kind, ""):
            self.waiting.popleft()


# Which client messages each answer ends: ParseComplete a Parse, BindComplete a Bind, a
# description or NoData a Describe, CloseComplete a Close, the end of a result an
# Execute, ReadyForQuery a Sync or a simple Query (whose statements' ends end nothing).
_ENDS = {"1": "P", "2": "B", "T": "D", "n": "D", "3": "C", "C": "E", "I": "E", "s": "E", "Z": "SQ"}


def _text(body: bytes) -> str:
    return body[: body.index(0)].decode()


def _text_and_rest(body: bytes) -> tuple[str, bytes]:
    end = body.index(0)
    return body[:end].decode(), body[end + 1 :]


def _columns(body: bytes) -> list[Column]:
    (count,) = struct.unpack_from("!h", body)
    at, columns = 2, []
    for _ in range(count):
        at = body.index(0, at) + 1
        table, number = struct.unpack_from("!ih", body, at)
        columns.append((table, number))
        at += 18
    return columns


def _row(columns: list[Column], body: bytes) -> Row:
    (count,) = struct.unpack_from("!h", body)
    at, row = 2, {}
    for column in columns[:count]:
        (size,) = struct.unpack_from("!i", body, at)
        at += 4
        value = None if size < 0 else body[at : at + size]
        at += max(size, 0)
        if column[0]:
            row[column] = value
    return row


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, talk: _Conversation
) -> None:
    """The server's side to the client, read message by message; when the server closes,
    so does the client's side (a client that sent `Terminate` waits for that)."""
    try:
        while True:
            # The client's message was read (and the answer awaited noted) before it
            # went to the server, so the answer to an SSLRequest is known for one byte.
            chunk = await reader.readexactly(1)
            if talk.bare_answers:
                talk.bare_answers -= 1
            else:
                size = await reader.readexactly(4)
                (length,) = struct.unpack("!I", size)
                body = await reader.readexactly(length - 4)
                talk.answered(chunk.decode("latin-1"), body)
                chunk += size + body
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
        pass
    finally:
        writer.close()
