"""The worker as operators run it: inside `galley serve`, and as `galley worker`."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.auth import api_key, bearer
from tests.live import TLS, running_server, running_worker


def _published(base: str, headers: dict[str, str], seconds: float = 20) -> list[str]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        events = httpx.get(f"{base}/v1/events", headers=headers, verify=TLS).json()["data"]
        if events:
            return [e["type"] for e in events]
        time.sleep(0.1)
    return []


async def test_serve_with_worker_publishes_what_it_serves(database_url: str) -> None:
    headers = bearer(await api_key(database_url))
    with running_server(database_url, env={"GALLEY_WITH_WORKER": "true"}) as base:
        created = httpx.post(
            f"{base}/v1/products",
            verify=TLS,
            json={"sku": "TEA", "name": "Tea", "price": {"amount": 250, "currency": "EUR"}},
            headers=headers,
        )
        assert created.status_code == 201
        assert _published(base, headers) == ["product.created"]


async def test_galley_worker_publishes_and_stops_cleanly_on_sigterm(
    database_url: str, tmp_path: Path
) -> None:
    headers = bearer(await api_key(database_url))
    with running_server(database_url) as base:
        httpx.post(
            f"{base}/v1/products",
            verify=TLS,
            json={"sku": "TEA", "name": "Tea", "price": {"amount": 250, "currency": "EUR"}},
            headers=headers,
        )
        assert _published(base, headers, seconds=1) == []  # no worker yet
        log = tmp_path / "worker.log"
        with (
            log.open("wb") as output,
            running_worker(
                database_url, env={"GALLEY_LOG_FORMAT": "json"}, output=output
            ) as worker,
        ):
            assert _published(base, headers) == ["product.created"]
    assert worker.returncode == 0
    assert "worker.stopped" in log.read_text()
