"""A TCP proxy that counts the messages of PostgreSQL's frontend protocol.

A simple `Query` message and an extended-protocol `Execute` are one statement each, as
`log_statement = all` logs them (`BEGIN`, `COMMIT` and pings included); a `Query` or a
`Sync` ends one round trip. The bench's counting pass and the statement budgets of the
test suite (`tests/test_statement_budgets.py`) both count through it.
"""

from __future__ import annotations

import asyncio
import struct
import threading
from collections import Counter
from dataclasses import dataclass, field

# Untyped messages a client may send before its startup message is done with.
_SSL_REQUEST, _GSS_REQUEST = 80877103, 80877104


@dataclass
class Proxy:
    """A TCP proxy to `target` counting the messages clients send, by type."""

    target: tuple[str, int]
    counts: Counter[str] = field(default_factory=Counter)
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
        down = asyncio.ensure_future(_pipe(reader, out))
        try:
            await self._count_up(client, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            await down
            out.close()

    async def _count_up(self, client: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        started = False
        while True:
            if started:
                head = await client.read(1)
                if not head:
                    return
                size = await client.readexactly(4)
                (length,) = struct.unpack("!I", size)
                body = await client.readexactly(length - 4)
                self.counts[head.decode("latin-1")] += 1
                writer.write(head + size + body)
            else:
                size = await client.readexactly(4)
                (length,) = struct.unpack("!I", size)
                body = await client.readexactly(length - 4)
                (code,) = struct.unpack("!I", body[:4])
                started = code not in (_SSL_REQUEST, _GSS_REQUEST)
                writer.write(size + body)
            await writer.drain()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The server's side to the client; when the server closes, so does the client's side
    (a client that sent `Terminate` waits for that)."""
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()
