"""Operations endpoints: liveness, readiness and metrics (no /v1, no auth)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.responses import Response

from galley.errors import PROBLEM_JSON, problem_body, problem_responses
from galley.outages import DatabaseUnavailable

log = structlog.get_logger("galley.operations")

router = APIRouter(tags=["operations"])
metrics_router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The database and, when configured, Redis and RabbitMQ answer",
    responses=problem_responses(503),
)
async def readyz(request: Request) -> Response:
    """Asks everything at once, each within GALLEY_READINESS_TIMEOUT_SECONDS, so one that
    hangs costs no more than that and holds up no other."""
    state = request.app.state
    seconds: float = state.settings.readiness_timeout_seconds
    probes: dict[str, Awaitable[bool]] = {
        "database": _database_answers(state.engine),
        "redis": state.throttle.ready(),
    }
    if state.broker is not None:
        probes["broker"] = state.broker.answers(seconds)
    answers = await asyncio.gather(*(_asked(n, p, seconds) for n, p in probes.items()))
    down = [name for name, up in zip(probes, answers, strict=True) if not up]
    if down:
        names = " and ".join(_NAMES[name] for name in down)
        body = problem_body(
            503,
            "not-ready",
            "Not ready",
            f"{names} {'does' if len(down) == 1 else 'do'} not answer.",
            request.url.path,
            down=down,
        )
        return JSONResponse(body, status_code=503, media_type=PROBLEM_JSON)
    return JSONResponse({"status": "ready"})


_NAMES = {"database": "The database", "redis": "Redis", "broker": "RabbitMQ"}


async def _database_answers(engine: AsyncEngine) -> bool:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
    return True


async def _asked(name: str, probe: Awaitable[bool], seconds: float) -> bool:
    """Whether the probe said yes within `seconds`; any failure, or no answer, is a no,
    with the reason in the log only."""
    try:
        async with asyncio.timeout(seconds):
            if await probe:
                return True
        error = "no"
    except TimeoutError:
        error = f"no answer within {seconds} s"
    except DatabaseUnavailable as exc:
        error = exc.reason
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    log.warning("readiness.down", dependency=name, error=error)
    return False


@metrics_router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
