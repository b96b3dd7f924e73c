"""Operations endpoints: liveness, readiness and metrics (no /v1, no auth)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.responses import Response

from galley.errors import PROBLEM_JSON, problem_body, problem_responses

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
    down = []
    try:
        async with request.app.state.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception:  # any failure means not ready; the reason goes to the log only
        down.append("database")
    if not await request.app.state.throttle.ready():
        down.append("redis")
    if request.app.state.broker is not None and not await request.app.state.broker.answers():
        down.append("broker")
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


@metrics_router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
