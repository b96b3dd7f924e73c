"""The live fulfilment stream over real HTTP: the queue, then every change, across
processes, resumed with Last-Event-ID."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.auth import api_key, bearer
from tests.live import http, running_server
from tests.services import rabbitmq_vhost

FAST = {"GALLEY_EVENTS_POLL_SECONDS": "0.05", "GALLEY_STREAM_HEARTBEAT_SECONDS": "0.5"}
ORDER = {"location": "KITCHEN", "lines": [{"sku": "TEA", "quantity": 1}]}


class Stream:
    """An SSE client: reads messages as they come."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.iter_lines()

    def next(self, seconds: float = 10) -> dict[str, Any]:
        """The next message (comments, such as heartbeats, are counted apart)."""
        deadline = time.monotonic() + seconds
        message: dict[str, Any] = {}
        for line in self._lines:
            if time.monotonic() > deadline:
                break
            if line.startswith(":"):
                message.setdefault("comments", 0)
                message["comments"] += 1
            elif line.startswith("id: "):
                message["id"] = line[4:]
            elif line.startswith("event: "):
                message["event"] = line[7:]
            elif line.startswith("data: "):
                message["data"] = json.loads(line[6:])
            elif line == "" and "event" in message:
                return message
        raise AssertionError("no message in time")


@contextmanager
def stream(
    base: str, headers: dict[str, str], log: Path | None = None, **extra: str
) -> Iterator[Stream]:
    """The stream of KITCHEN; on a refusal, says why with the end of the server's `log`."""
    with (
        http(base, headers | extra, timeout=30) as client,
        client.stream("GET", "/v1/fulfilment/stream", params={"location": "KITCHEN"}) as response,
    ):
        if response.status_code != 200:
            said = log.read_text(errors="replace")[-3000:] if log else ""
            raise AssertionError(f"{response.status_code} {response.read()!r}\n{said}")
        assert response.headers["content-type"].startswith("text/event-stream")
        yield Stream(response)


def _shop(base: str, headers: dict[str, str]) -> None:
    with http(base, headers) as client:
        client.post("/v1/locations", json={"code": "KITCHEN", "name": "Kitchen"})
        client.post("/v1/locations", json={"code": "SHOP", "name": "Shop"})
        client.post(
            "/v1/products",
            json={"sku": "TEA", "name": "Tea", "price": {"amount": 300, "currency": "EUR"}},
        )
        for where in ("KITCHEN", "SHOP"):
            client.post(
                "/v1/stock/adjustments",
                json={"sku": "TEA", "location": where, "delta": 50, "reason": "received"},
            )


def _post(base: str, headers: dict[str, str], path: str, body: Any = None) -> dict[str, Any]:
    with http(base, headers) as client:
        response = client.post(path, json=body or {})
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


@pytest.mark.slow
async def test_a_stream_starts_with_the_queue_and_follows_every_change_from_another_process(
    database_url: str, tmp_path: Path
) -> None:
    headers = bearer(await api_key(database_url))
    staff = bearer(await api_key(database_url, "staff"))
    log = tmp_path / "reader.log"
    with (
        running_server(database_url, env=FAST | {"GALLEY_WITH_WORKER": "true"}) as writer,
        running_server(database_url, env=FAST, log_file=log) as reader,
    ):
        _shop(writer, headers)
        waiting = _post(writer, headers, "/v1/orders", ORDER)
        _post(writer, headers, f"/v1/orders/{waiting['id']}/start")
        time.sleep(0.5)  # the worker publishes what happened so far
        with stream(reader, staff, log) as live:
            queue = live.next()
            assert queue["event"] == "queue"
            assert [o["id"] for o in queue["data"]["orders"]] == [waiting["id"]]
            assert queue["data"]["orders"][0]["status"] == "preparing"

            placed = _post(writer, headers, "/v1/orders", ORDER)
            _post(writer, headers, "/v1/orders", {**ORDER, "location": "SHOP"})  # elsewhere
            _post(writer, headers, f"/v1/orders/{placed['id']}/cancel")
            changes = [live.next(), live.next()]
            assert [(m["event"], m["data"]["id"]) for m in changes] == [
                ("order.placed", placed["id"]),
                ("order.cancelled", placed["id"]),
            ]
            assert int(changes[0]["id"]) < int(changes[1]["id"])


@pytest.mark.slow
@pytest.mark.parametrize("through", ["database", "rabbitmq"])
async def test_word_of_a_change_reaches_streams_in_another_process_at_once(
    database_url: str, through: str
) -> None:
    """The reader looks at the stream of its own accord only once a minute: a change that
    shows within seconds came by word, through PostgreSQL's NOTIFY or the broker. (SQLite
    without a broker has no word: that reader looks every 0.05 s.)"""
    headers = bearer(await api_key(database_url))
    with ExitStack() as stack:
        shared = {}
        if through == "rabbitmq":
            shared["GALLEY_BROKER_URL"] = stack.enter_context(rabbitmq_vhost())
        slow = {"GALLEY_EVENTS_POLL_SECONDS": "60", "GALLEY_STREAM_HEARTBEAT_SECONDS": "60"}
        if through == "database" and database_url.startswith("sqlite"):
            slow = FAST
        writer = stack.enter_context(
            running_server(database_url, env=FAST | shared | {"GALLEY_WITH_WORKER": "true"})
        )
        reader = stack.enter_context(running_server(database_url, env=slow | shared))
        _shop(writer, headers)
        with stream(reader, headers) as live:
            assert live.next()["event"] == "queue"
            for _ in range(3):
                placed = _post(writer, headers, "/v1/orders", ORDER)
                started = time.monotonic()
                message = live.next(seconds=10)
                assert (message["event"], message["data"]["id"]) == ("order.placed", placed["id"])
                assert time.monotonic() - started < 10
            if through == "database" and database_url.startswith("postgresql"):
                # The listening session dies: the reader listens again, and catches up.
                assert await _end_listening_sessions(database_url) == 1
                placed = _post(writer, headers, "/v1/orders", ORDER)
                assert live.next(seconds=10)["data"]["id"] == placed["id"]


async def _end_listening_sessions(database_url: str) -> int:
    engine = create_async_engine(database_url)
    async with engine.connect() as connection:
        ended = await connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query LIKE 'LISTEN%'"
            )
        )
        count = len(ended.all())
    await engine.dispose()
    return count


@pytest.mark.slow
async def test_a_client_that_reconnects_with_last_event_id_gets_every_change_once(
    database_url: str,
) -> None:
    headers = bearer(await api_key(database_url))
    with running_server(database_url, env=FAST | {"GALLEY_WITH_WORKER": "true"}) as base:
        _shop(base, headers)
        with stream(base, headers) as live:
            live.next()  # the queue
            first = _post(base, headers, "/v1/orders", ORDER)
            seen = live.next()
            assert seen["data"]["id"] == first["id"]
        # Offline: these happen while nobody listens.
        missed = [_post(base, headers, "/v1/orders", ORDER)["id"] for _ in range(3)]
        _post(base, headers, f"/v1/orders/{first['id']}/start")
        with stream(base, headers, **{"Last-Event-ID": seen["id"]}) as again:
            got = [again.next() for _ in range(4)]
            assert [(m["event"], m["data"]["id"]) for m in got] == [
                *(("order.placed", order_id) for order_id in missed),
                ("order.status_changed", first["id"]),
            ]
            later = _post(base, headers, "/v1/orders", ORDER)
            assert again.next()["data"]["id"] == later["id"]


@pytest.mark.slow
async def test_an_idle_stream_sends_heartbeats(database_url: str) -> None:
    headers = bearer(await api_key(database_url))
    with running_server(database_url, env=FAST) as base:
        _shop(base, headers)
        with stream(base, headers) as live:
            live.next()
            lines = live._lines
            beats = [next(lines) for _ in range(2)]
            assert beats[0].startswith(":")


async def test_the_stream_needs_staff_and_a_known_location(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await client.post("/v1/locations", json={"code": "KITCHEN", "name": "Kitchen"})
    customer = bearer(await api_key(database_url, scopes=["catalog:read", "orders:place"]))
    path = "/v1/fulfilment/stream"
    assert (
        await client.get(path, params={"location": "KITCHEN"}, headers=customer)
    ).status_code == 403
    assert (await client.get(path, params={"location": "NOWHERE"})).status_code == 404
    assert (await client.get(path, params={"location": "no spaces"})).status_code == 422
    bad_id = await client.get(path, params={"location": "KITCHEN"}, headers={"Last-Event-ID": "x"})
    assert bad_id.status_code == 422
