"""Statements per request, counted on the wire.

PostgreSQL here has no `pg_stat_statements` loaded, and the shared server's settings are
not ours to change, so the driver counts what Galley sends instead: a counting pass puts
a proxy (`bench/wire.py`) between the server processes and PostgreSQL and reads the
frontend protocol. The proxy is slow, so the timed runs never go through it.
"""

from __future__ import annotations

from sqlalchemy.engine import make_url

from bench import scenarios, servers, wrk
from bench.wire import Proxy


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
