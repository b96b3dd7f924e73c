"""The database's own bound: pgbench running the minimal SQL of an order.

One transaction: reserve a unit with a conditional UPDATE, insert the order, insert its
line, on tables of their own in the bench database (`bench_stock`, `bench_orders`,
`bench_order_lines`) shaped as little as an order can be. Prepared statements, as
Galley's driver uses them.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]

from bench.wrk import Load

TABLES = """
CREATE TABLE bench_stock (product_id integer PRIMARY KEY, available bigint NOT NULL);
CREATE TABLE bench_orders (
  id bigserial PRIMARY KEY, status text NOT NULL, created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE bench_order_lines (
  order_id bigint NOT NULL REFERENCES bench_orders, product_id integer NOT NULL
    REFERENCES bench_stock, quantity integer NOT NULL
);
INSERT INTO bench_stock SELECT n, 1000000000 FROM generate_series(1, {products}) AS n;
"""

SCRIPT = """
{choose}
BEGIN;
UPDATE bench_stock SET available = available - 1 WHERE product_id = :sku AND available >= 1;
INSERT INTO bench_orders (status) VALUES ('confirmed') RETURNING id \\gset
INSERT INTO bench_order_lines (order_id, product_id, quantity) VALUES (:id, :sku, 1);
END;
"""
RANDOM = "\\set sku random(1, {products})"
HOT = "\\set sku 1"


def require_pgbench() -> str:
    found = shutil.which("pgbench")
    if found is None:
        # Debian ships pgbench with the server, not the client package.
        sys.exit("bench: pgbench is not installed; install it with `apt-get install postgresql`.")
    return found


async def create_tables(dsn: str, products: int) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(TABLES.format(products=products))
    finally:
        await connection.close()


def _percentile(ordered: list[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run(dsn: str, *, hot: bool, products: int, load: Load, warmup: float) -> dict[str, float]:
    """Transactions a second and latency percentiles (ms), from pgbench's own log."""
    choose = HOT if hot else RANDOM.format(products=products)
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "order.sql"
        script.write_text(SCRIPT.format(choose=choose))
        common = [require_pgbench(), "--no-vacuum", "--protocol=prepared", f"--file={script}"]
        common += [f"--client={load.connections}", f"--jobs={load.threads}"]
        if warmup > 0:
            _pgbench([*common, f"--time={max(1, round(warmup))}", dsn])
        prefix = Path(folder) / "log"
        output = _pgbench(
            [
                *common,
                f"--time={max(1, round(load.seconds))}",
                "--log",
                f"--log-prefix={prefix}",
                dsn,
            ]
        )
        latencies = sorted(
            int(line.split()[2]) / 1000
            for log in Path(folder).glob("log*")
            for line in log.read_text().splitlines()
            if line.strip()
        )
    tps = next(
        float(line.split("=")[1].split()[0])
        for line in output.splitlines()
        if line.startswith("tps =")
    )
    failed = next(
        (int(line.split(":")[1].split()[0]) for line in output.splitlines() if "failed" in line),
        0,
    )
    return {
        "throughput": tps,
        "transactions": len(latencies),
        "errors": failed,
        "p50_ms": _percentile(latencies, 0.50),
        "p95_ms": _percentile(latencies, 0.95),
        "p99_ms": _percentile(latencies, 0.99),
        "mean_ms": statistics.fmean(latencies),
    }


def _pgbench(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"pgbench failed: {done.stderr[-2000:]}")
    return done.stdout
