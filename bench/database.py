"""What PostgreSQL says about the bench database: transactions, and its backends' CPU."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg  # type: ignore[import-untyped]

from bench.processes import cpu_seconds


@dataclass(frozen=True)
class Reading:
    transactions: int
    backend_cpu: dict[int, float]


def admin_dsn(database_url: str) -> str:
    """The libpq form of Galley's `postgresql+asyncpg://` URL."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _read(dsn: str, name: str) -> Reading:
    connection = await asyncpg.connect(dsn)
    try:
        # Backends report their counts when idle, at most once a second: wait for them.
        await asyncio.sleep(1.1)
        await connection.execute("SELECT pg_stat_clear_snapshot()")
        transactions = await connection.fetchval(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1", name
        )
        pids = await connection.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
    finally:
        await connection.close()
    return Reading(int(transactions), {row["pid"]: cpu_seconds(row["pid"]) for row in pids})


def read(database_url: str) -> Reading:
    dsn = admin_dsn(database_url)
    return asyncio.run(_read(dsn, dsn.rsplit("/", 1)[1]))


def backend_cpu_between(before: Reading, after: Reading) -> float:
    """CPU seconds of the backends there at both readings (a pool keeps its connections)."""
    return sum(after.backend_cpu[pid] - spent for pid, spent in before.backend_cpu.items()
               if pid in after.backend_cpu)  # fmt: skip
