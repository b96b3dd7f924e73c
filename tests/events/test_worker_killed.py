"""A worker killed with SIGKILL mid-stream loses nothing, and each effect happens once.

1,000 orders are placed through a real server while the worker is killed twice, each time
once it is part way through the stream, and started again; the webhook consumer's effect
(one delivery row per endpoint and event) is then counted against the orders placed. With
and without RabbitMQ.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.auth import api_key, bearer
from tests.live import http, running_server, running_worker
from tests.services import rabbitmq_vhost

ORDERS = 1000
# Webhooks to a local address no one listens on, first tried an hour after they are
# queued: what is counted is that each event was queued for delivery once, not that it
# arrived, and 1,000 attempts at a closed port (and their retries) would only load the
# machine the test runs on.
WEBHOOKS = {
    "GALLEY_WEBHOOKS_ALLOW_PRIVATE": "true",
    "GALLEY_WEBHOOKS_ALLOW_INSECURE": "true",
    "GALLEY_WEBHOOKS_RETRY_SCHEDULE": "3600",
}
QUIET = {"GALLEY_LOG_LEVEL": "ERROR"}


def _place(base: str, headers: dict[str, str], count: int) -> None:
    body = {"location": "KITCHEN", "lines": [{"sku": "TEA", "quantity": 1}]}

    with http(base, headers, timeout=60) as client, ThreadPoolExecutor(8) as pool:
        placed = pool.map(lambda _: client.post("/v1/orders", json=body), range(count))
        assert {response.status_code for response in placed} == {201}


async def _counts(database_url: str) -> dict[str, Any]:
    engine = create_async_engine(database_url)
    async with engine.connect() as connection:
        found = {
            name: (await connection.execute(text(sql))).scalar()
            for name, sql in {
                "placed": "SELECT count(*) FROM events WHERE type = 'order.placed'",
                "unpublished": "SELECT count(*) FROM events WHERE position IS NULL",
                "deliveries": "SELECT count(*) FROM webhook_deliveries",
                "distinct": "SELECT count(DISTINCT event_id) FROM webhook_deliveries",
            }.items()
        }
    await engine.dispose()
    return found


async def _at_work(database_url: str, delivered: int) -> dict[str, Any]:
    """The counts once the worker has queued deliveries beyond `delivered`: it has started
    (which takes it seconds) and is part way through the stream."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        counts = await _counts(database_url)
        if counts["deliveries"] > delivered:
            return counts
        await asyncio.sleep(0.02)
    raise AssertionError("the worker queued no delivery within a minute")


@pytest.fixture(params=["in-process", "rabbitmq"])
def transport(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    if request.param == "in-process":
        yield {}
        return
    with rabbitmq_vhost() as url:
        yield {"GALLEY_BROKER_URL": url, "GALLEY_EVENTS_RETRY_SECONDS": "0.1"}


@pytest.mark.slow
async def test_a_worker_killed_twice_mid_stream_loses_nothing_and_repeats_nothing(
    database_url: str, transport: dict[str, str]
) -> None:
    headers = bearer(await api_key(database_url))
    env = WEBHOOKS | transport | {"GALLEY_EVENTS_POLL_SECONDS": "0.05"}
    with running_server(database_url, workers=2, env=env) as base:
        with http(base, headers) as client:
            client.post("/v1/locations", json={"code": "KITCHEN", "name": "Kitchen"})
            client.post(
                "/v1/products",
                json={"sku": "TEA", "name": "Tea", "price": {"amount": 300, "currency": "EUR"}},
            )
            endpoint = client.post(
                "/v1/webhook-endpoints",
                json={"url": "http://127.0.0.1:9/hooks", "event_types": ["order.placed"]},
            )
            assert endpoint.status_code == 201, endpoint.text

        delivered = 0
        for _ in range(2):
            with (
                running_worker(database_url, env=env | QUIET) as running,
                ThreadPoolExecutor(1) as background,
            ):
                placing = background.submit(_place, base, headers, ORDERS // 3)
                # Orders are coming in and the worker is at work, with more to do: kill it.
                at_work = await _at_work(database_url, delivered)
                running.send_signal(signal.SIGKILL)
                running.wait(timeout=10)
                assert at_work["deliveries"] < at_work["placed"] or not placing.done()
                placing.result()
            delivered = (await _counts(database_url))["deliveries"]
        _place(base, headers, ORDERS - 2 * (ORDERS // 3))

        with running_worker(database_url, env=env | QUIET):
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                counts = await _counts(database_url)
                if counts["unpublished"] == 0 and counts["deliveries"] >= ORDERS:
                    break
                time.sleep(0.2)
            time.sleep(1)  # anything still in flight would show as a duplicate now

    counts = await _counts(database_url)
    assert counts == {"placed": ORDERS, "unpublished": 0, "deliveries": ORDERS, "distinct": ORDERS}
