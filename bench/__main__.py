"""`make bench`: one run of every scenario and reference; see docs/performance.md."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import datafiles, pgbench, report, scenarios, servers, shop, wrk
from bench.database import admin_dsn
from bench.invariants import check_sell_out
from bench.statements import count_statements

RESULTS = Path(__file__).resolve().parent / "results"


def _options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    cpus = os.cpu_count() or 1
    parser.add_argument("--workers", type=int, default=cpus, help="API processes (CPU count)")
    parser.add_argument("--threads", type=int, default=2, help="wrk and pgbench threads")
    parser.add_argument("--connections", type=int, default=32, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=10, help="each timed run")
    parser.add_argument("--warmup", type=float, default=3, help="warm-up before each run")
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--customers", type=int, default=1_000)
    parser.add_argument("--logged-in", type=int, default=64, help="customers placing orders")
    parser.add_argument("--sell-out-orders", type=int, default=10_000)
    parser.add_argument("--count-seconds", type=float, default=3, help="statement counting")
    parser.add_argument("--results", type=Path, default=RESULTS)
    return parser.parse_args()


def _machine() -> dict[str, Any]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
    }


def _commit() -> str:
    found = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    return found.stdout.strip() or "unknown"


def _step(message: str) -> None:
    print(f"bench: {message}", flush=True)


def _galley_runs(
    url: str, options: argparse.Namespace, context: scenarios.Context, the_shop: shop.Shop
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every timed scenario against `galley serve`, then the sell-out and its check."""
    found: list[dict[str, Any]] = []
    with servers.galley(url, options.workers, context.data) as server:
        _step(f"galley serve --workers {options.workers} and galley worker are up; data files")
        datafiles.write(server.base, the_shop, context.data, options.logged_in)
        for scenario in scenarios.TIMED:
            _step(f"{scenario.name}: {scenario.title}")
            found.append(scenarios.measure(server, scenario, context))
            if scenario is scenarios.S1:
                half = found[-1]["throughput"] / 2
                _step(f"S1-half: S1 paced at {half:.0f} requests/s")
                rate = str(half / context.load.threads)
                found.append(scenarios.measure(server, scenarios.S1_HALF, context, [rate]))
        _step(f"S5: {options.sell_out_orders} orders for {shop.SELLOUT_UNITS} units")
        sold = scenarios.sell_out(server, context, options.sell_out_orders, 600)
    sold["problems"] = asyncio.run(check_sell_out(url, sold["counts"], options.sell_out_orders))
    found.append(sold)
    return found, sold


def _pgbench(url: str, options: argparse.Namespace, load: wrk.Load) -> list[dict[str, Any]]:
    found = []
    for hot in (False, True):
        name = "pgbench hot" if hot else "pgbench random"
        _step(f"{name}: the minimal order in SQL")
        figures = pgbench.run(
            admin_dsn(url), hot=hot, products=options.products, load=load, warmup=options.warmup
        )
        found.append({"scenario": name, **figures})
    return found


def _bare(options: argparse.Namespace, context: scenarios.Context) -> list[dict[str, Any]]:
    """Starlette answering the bytes Galley answered (written by the Galley runs)."""
    found = []
    with servers.bare(
        context.data / "page.json", context.data / "product.json", options.workers, context.data
    ) as server:
        bare = scenarios.Context(context.data, context.run_id, None, context.load, options.warmup)
        for scenario in (scenarios.S3, scenarios.S3_ONE):
            _step(f"bare {scenario.name}: Starlette answering Galley's bytes from memory")
            figures = scenarios.measure(server, scenario, bare)
            found.append(figures | {"scenario": f"bare {scenario.name}"})
    return found


def main() -> None:
    options = _options()
    wrk.require_wrk()
    pgbench.require_pgbench()
    os.environ.update(servers.GALLEY_ENV)
    from galley import migrate
    from galley.config import load_settings
    from tests.services import fresh_postgres_database

    started = time.monotonic()
    machine = _machine()
    commit = _commit()
    load = wrk.Load(options.threads, options.connections, options.seconds)
    run_id = f"bench{int(time.time())}"
    with (
        tempfile.TemporaryDirectory(prefix="galley-bench-") as folder,
        fresh_postgres_database() as url,
    ):
        data = Path(folder)
        _step(f"fresh database; migrating; loading {options.products} products, "
              f"{options.customers} customers")  # fmt: skip
        migrate.upgrade(load_settings(database_url=url))
        loading = time.monotonic()
        the_shop = asyncio.run(shop.load(url, options.products, options.customers))
        load_seconds = time.monotonic() - loading
        _step(f"loaded in {load_seconds:.1f} s")
        asyncio.run(pgbench.create_tables(admin_dsn(url), options.products))
        context = scenarios.Context(data, run_id, url, load, options.warmup)
        references = _pgbench(url, options, load)
        galley, sold = _galley_runs(url, options, context, the_shop)
        # Before the counting pass adds logs of its own.
        logged = servers.logged_events(data)
        references += _bare(options, context)
        _step("counting statements per request (through a counting proxy, one API process)")
        counted = count_statements(url, options.count_seconds, context)
    results: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "machine": machine | {"load_average_end": [round(x, 2) for x in os.getloadavg()]},
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(options).items()},
        "load_seconds": round(load_seconds, 1),
        "scenarios": galley,
        "references": references,
        "statements": counted,
        "logged": logged,
        "total_seconds": round(time.monotonic() - started),
    }
    results["ratios"] = report.ratios(results)
    stem = f"{dt.date.today().isoformat()}-{commit}"
    data_file, picture = report.write(results, options.results, stem)
    print(report.table(results))
    print(f"\nS5: {sold['counts']}; problems: {sold['problems'] or 'none'}")
    print(f"logged by Galley (warnings and errors): {logged['counts'] or 'nothing'}")
    print(f"results: {data_file} and {picture}; {results['total_seconds']} s in all")


if __name__ == "__main__":
    main()
