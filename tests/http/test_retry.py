from __future__ import annotations

import httpx
from fastapi import APIRouter
from sqlalchemy.exc import DBAPIError

from galley.app import create_app
from galley.config import Settings
from galley.http.routing import GalleyRoute


class _Aborted(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


async def _call_failing(settings: Settings, sqlstate: str, failures: int) -> tuple[int, int]:
    app = create_app(settings)
    router = APIRouter(route_class=GalleyRoute)
    calls = 0

    @router.post("/flaky")
    async def flaky() -> dict[str, int]:
        nonlocal calls
        calls += 1
        if calls <= failures:
            raise DBAPIError("UPDATE …", {}, _Aborted(sqlstate))
        return {"calls": calls}

    app.include_router(router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        response = await c.post("/flaky")
    await app.state.engine.dispose()
    return response.status_code, calls


async def test_a_transaction_aborted_by_a_deadlock_runs_again(settings: Settings) -> None:
    assert await _call_failing(settings, "40P01", failures=2) == (200, 3)


async def test_retrying_gives_up_after_three_attempts(settings: Settings) -> None:
    assert await _call_failing(settings, "40P01", failures=3) == (500, 3)


async def test_other_database_errors_are_not_retried(settings: Settings) -> None:
    assert await _call_failing(settings, "23505", failures=1) == (500, 1)
