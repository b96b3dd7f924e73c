"""The scenarios, and measuring one: throughput and latency from wrk, CPU and memory of
the server processes from /proc, transactions from PostgreSQL."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import database, wrk
from bench.processes import Watch, spent
from bench.servers import Server


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    script: str


S1 = Scenario("S1", "orders of 1-3 lines, random SKUs", "orders.lua")
S1_HALF = Scenario("S1-half", "S1 paced at half its throughput", "orders-paced.lua")
S2 = Scenario("S2", "orders for one hot SKU", "hot.lua")
S3 = Scenario("S3", "GET /v1/products?limit=50, varying filters and cursors", "pages.lua")
S3_ONE = Scenario("S3-one", "GET /v1/products/{sku}, random SKUs", "product.lua")
S4 = Scenario("S4", "mixed: 80 % browse, 15 % orders, 5 % status changes", "mixed.lua")
S5 = Scenario("S5", "sell-out: 10 000 orders for 1 000 units", "sellout.lua")
TIMED = (S1, S2, S3, S3_ONE, S4)


@dataclass(frozen=True)
class Context:
    """What every measurement shares."""

    data: Path
    run_id: str
    database_url: str | None
    load: wrk.Load
    warmup: float


def _mb(value: int) -> float:
    return round(value / 2**20, 1)


def summarize(
    scenario: Scenario,
    outcome: wrk.Outcome,
    watch: Watch,
    cpu: tuple[dict[str, float], dict[str, float]],
    requests: int | None = None,
    db: tuple[database.Reading, database.Reading] | None = None,
) -> dict[str, Any]:
    """One scenario's figures; `requests` when they are not wrk's count of requests."""
    done = outcome.requests if requests is None else requests
    api = [role for role in watch.roles.values() if role.startswith("api")]
    workers = [role for role in watch.roles.values() if role == "events worker"]
    per = 1000 / done if done else 0.0
    figures: dict[str, Any] = {
        "scenario": scenario.name,
        "title": scenario.title,
        "requests": done,
        "seconds": round(outcome.seconds, 2),
        "throughput": round(done / outcome.seconds, 1) if outcome.seconds else 0.0,
        "latency_ms": {k: round(v, 2) for k, v in outcome.latency_ms.items()},
        "errors": outcome.errors,
        "error_count": outcome.error_count,
        "server_cpu_ms_per_request": {
            "api": round(spent(*cpu, api) * per, 3),
            "events_worker": round(spent(*cpu, workers) * per, 3),
        },
        "peak_rss_mb": {role: _mb(peak) for role, peak in sorted(watch.peaks.items())},
        "counts": outcome.counts,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    if db is not None:
        before, after = db
        figures["transactions_per_request"] = round(
            (after.transactions - before.transactions) * per / 1000, 2
        )
        figures["database_cpu_ms_per_request"] = round(
            database.backend_cpu_between(before, after) * per, 3
        )
    return figures


def measure(
    server: Server,
    scenario: Scenario,
    context: Context,
    extra: list[str] | None = None,
    load: wrk.Load | None = None,
) -> dict[str, Any]:
    """Warm up, then run `scenario` for the timed duration and read everything around it."""
    load = load or context.load
    args = [str(context.data), f"{context.run_id}-{scenario.name}", *(extra or [])]
    if context.warmup > 0:
        warm = wrk.Load(load.threads, load.connections, context.warmup)
        wrk.run(scenario.script, server.base, warm, [*args[:1], args[1] + "-warm", *args[2:]])
    watch = Watch(server.roles)
    db_before = database.read(context.database_url) if context.database_url else None
    cpu_before = watch.cpu()
    with watch:
        outcome = wrk.run(scenario.script, server.base, load, args)
    cpu_after = watch.cpu()
    db_after = database.read(context.database_url) if context.database_url else None
    db = (db_before, db_after) if db_before and db_after else None
    return summarize(scenario, outcome, watch, (cpu_before, cpu_after), db=db)


def sell_out(server: Server, context: Context, orders: int, seconds: float) -> dict[str, Any]:
    """S5: `orders` orders of one unit, as fast as they are taken, counted by status."""
    share = orders // context.load.threads
    load = wrk.Load(context.load.threads, context.load.connections, seconds)
    args = [str(context.data), f"{context.run_id}-{S5.name}", str(share)]
    watch = Watch(server.roles)
    db_before = database.read(context.database_url) if context.database_url else None
    cpu_before = watch.cpu()
    with watch:
        outcome = wrk.run_until_done(S5.script, server.base, load, args)
    cpu_after = watch.cpu()
    db_after = database.read(context.database_url) if context.database_url else None
    db = (db_before, db_after) if db_before and db_after else None
    figures = summarize(
        S5, outcome, watch, (cpu_before, cpu_after), requests=share * load.threads, db=db
    )
    # A refusal for want of stock is the expected answer here, not an error.
    socket = sum(n for kind, n in outcome.errors.items() if kind != "status")
    unexpected = sum(n for status, n in outcome.counts.items() if status not in ("201", "409"))
    figures["error_count"] = socket + unexpected
    return figures
