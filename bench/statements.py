"""Statements per request, counted on the wire.

PostgreSQL here has no `pg_stat_statements` loaded, and the shared server's settings are
not ours to change, so the driver counts what Galley sends instead: a counting pass puts
this proxy between the server processes and PostgreSQL and reads the frontend protocol.
A simple `Query` message and an extended-protocol `Execute` are one statement each, as
`log_statement = all` logs them (`BEGIN`, `COMMIT` and pings included); a `Query` or a
`Sync` ends one round trip. The proxy is slow, so the timed runs never go through it.
"""

from __future__ import annotations

import asyncio
import struct
import threading
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy.engine import make_url

from bench import scenarios, servers, wrk

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
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass


def count_statements(
    database_url: str, seconds: float, context: scenarios.Context
) -> dict[str, dict[str, float]]:
    """Statements and round trips per request of each timed scenario, at light load, with
    one API process and the worker each behind a proxy of its own."""
    address = make_url(database_url)
    target = (address.host or "127.0.0.1", address.port or 5432)
    api, worker = Proxy(target), Proxy(target)
    found: dict[str, dict[str, float]] = {}
    try:
        api_url = address.set(port=api.start()).render_as_string(hide_password=False)
        worker_url = address.set(port=worker.start()).render_as_string(hide_password=False)
        light = wrk.Load(1, 4, seconds)
        with (
            servers.galley(api_url, 1, context.data, events=False) as server,
            servers.worker(worker_url, context.data),
        ):
            for scenario in scenarios.TIMED:
                args = [str(context.data), f"{context.run_id}-count-{scenario.name}"]
                wrk.run(scenario.script, server.base, wrk.Load(1, 4, 1), [*args[:1], args[1] + "w"])
                before = (api.statements(), api.round_trips(), worker.statements())
                outcome = wrk.run(scenario.script, server.base, light, args)
                after = (api.statements(), api.round_trips(), worker.statements())
                n = max(1, outcome.requests)
                found[scenario.name] = {
                    "statements": round((after[0] - before[0]) / n, 2),
                    "round_trips": round((after[1] - before[1]) / n, 2),
                    "worker_statements": round((after[2] - before[2]) / n, 2),
                    "requests": outcome.requests,
                }
    finally:
        api.stop()
        worker.stop()
    return found
