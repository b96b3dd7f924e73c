"""`make bench`: order placement through a real `galley serve`, on SQLite and PostgreSQL.

Many clients place small orders for a few hot SKUs at once, the hardest case for the
stock rows. Prints orders per second and latency percentiles for each database.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent.parent))

from galley import migrate
from galley.config import load_settings
from tests.auth import TEST_DATA_KEYS, TEST_JWT_KEYS, api_key, bearer
from tests.live import running_server
from tests.services import fresh_postgres_database

SKUS = [f"HOT-{n}" for n in range(5)]


async def _set_up(base: str, headers: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=base, headers=headers) as http:
        await http.post("/v1/locations", json={"code": "K", "name": "Kitchen"})
        for sku in SKUS:
            await http.post(
                "/v1/products",
                json={"sku": sku, "name": sku, "price": {"amount": 100, "currency": "EUR"}},
            )
            await http.post(
                "/v1/stock/adjustments",
                json={"sku": sku, "location": "K", "delta": 1_000_000, "reason": "received"},
            )


async def _load(
    base: str, headers: dict[str, str], orders: int, clients: int
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    queue = iter(range(orders))

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=60, headers=headers) as http:
            for n in queue:
                lines = [
                    {"sku": SKUS[n % len(SKUS)], "quantity": 1},
                    {"sku": SKUS[(n + 1) % len(SKUS)], "quantity": 2},
                ]
                started = time.perf_counter()
                response = await http.post("/v1/orders", json={"location": "K", "lines": lines})
                latencies.append(time.perf_counter() - started)
                assert response.status_code == 201, response.text

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return time.perf_counter() - started, latencies


def _report(name: str, elapsed: float, latencies: list[float]) -> None:
    ms = sorted(x * 1000 for x in latencies)
    p = statistics.quantiles(ms, n=100)
    print(
        f"{name:<11} {len(ms):>6} orders in {elapsed:6.2f} s = {len(ms) / elapsed:7.0f} orders/s"
        f"   p50 {p[49]:6.1f} ms   p99 {p[98]:6.1f} ms"
    )


def _run(name: str, url: str, args: argparse.Namespace) -> None:
    headers = bearer(asyncio.run(api_key(url)))
    with running_server(url, workers=args.workers) as base:
        asyncio.run(_set_up(base, headers))
        asyncio.run(_load(base, headers, 100, args.clients))  # warm-up
        _report(name, *asyncio.run(_load(base, headers, args.orders, args.clients)))


def main() -> None:
    os.environ.setdefault("GALLEY_JWT_KEYS", TEST_JWT_KEYS)
    os.environ.setdefault("GALLEY_DATA_KEYS", TEST_DATA_KEYS)
    # All orders come from one API key, as fast as the server takes them: measure the
    # server, not the per-key rate limit.
    os.environ.setdefault("GALLEY_RATE_LIMIT_REQUESTS", "1000000/minute")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(f"{args.orders} orders of 2 lines, {args.clients} clients, {args.workers} workers")
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{folder}/bench.db"
        migrate.upgrade(load_settings(database_url=url))
        _run("sqlite", url, args)
    with fresh_postgres_database() as url:
        migrate.upgrade(load_settings(database_url=url))
        _run("postgresql", url, args)


if __name__ == "__main__":
    main()
