"""Exception handlers: every error leaves as an RFC 9457 problem."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException
from starlette.routing import Match

from galley.errors import PROBLEM_JSON, GalleyError, problem_body, problem_schemas
from galley.outages import DatabaseUnavailable

log = structlog.get_logger("galley.http")
# PostgreSQL restarts, or fails over to a standby, in seconds to a minute: asked again
# sooner, it would most likely still be down.
DATABASE_RETRY_AFTER_SECONDS = 5

_HTTP_CODES = {
    # FastAPI answers 400 for a body it cannot decode (bad UTF-8, JSON nested too deep).
    400: ("malformed-request", "Malformed request", "The body is not valid JSON."),
    404: ("not-found", "Not found", "No such resource."),
    405: ("method-not-allowed", "Method not allowed", "This method is not allowed here."),
}


def problem_response(
    request: Request, status: int, code: str, title: str, detail: str, **extra: Any
) -> JSONResponse:
    headers = extra.pop("headers", None)
    body = problem_body(status, code, title, detail, request.url.path, **extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


# What the application does with what a refusal leaves (`GalleyError.aftermath`), after
# its request rolled back; given to `install`.
Aftermath = Callable[[Request, GalleyError], Awaitable[None]]


async def _galley_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GalleyError)
    if exc.aftermath():
        aftermath: Aftermath = request.app.state.aftermath
        await aftermath(request, exc)
    return problem_response(request, exc.status, exc.code, exc.title, exc.detail, **exc.extra)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return problem_response(
            request, 400, "malformed-request", "Malformed request", "The body is not valid JSON."
        )
    fields = [{"field": field_path(e["loc"]), "message": e["msg"]} for e in errors]
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
    return problem_response(
        request, 422, "validation-error", "Invalid request", summary, errors=fields
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code, title, detail = _HTTP_CODES.get(
        exc.status_code, ("http-error", "HTTP error", str(exc.detail))
    )
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(_allowed_methods(request))
    return problem_response(request, exc.status_code, code, title, detail, headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path (Starlette names only the first route's)."""
    methods: set[str] = set()
    # Routes of included routers sit inside one entry each; these contexts reach every route.
    for context in iter_route_contexts(request.app.router.routes):
        match, _ = context.route.matches({**request.scope, "method": "GET"})
        if match != Match.NONE:
            methods |= context.methods or set()
    return sorted(methods)


async def _integrity_error(request: Request, exc: Exception) -> JSONResponse:
    """A constraint caught what the service did not: a conflict, never a 500 or SQL text."""
    return problem_response(
        request,
        409,
        "conflict",
        "Conflict",
        "The request conflicts with the current state of a resource; retry or check it.",
    )


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """The database is down or does not answer (`galley.outages`): 503, to be retried, with
    what the driver said in the log only."""
    assert isinstance(exc, DatabaseUnavailable)
    log.warning(
        "database.unavailable", method=request.method, path=request.url.path, error=exc.reason
    )
    seconds = DATABASE_RETRY_AFTER_SECONDS
    return problem_response(
        request,
        503,
        "database-unavailable",
        "Database unavailable",
        f"The database does not answer; try again in {seconds} s.",
        headers={"Retry-After": str(seconds)},
    )


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """`("body", "lines", 1, "quantity")` → `lines[1].quantity`."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:] or parts
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "body"


def install(app: FastAPI, aftermath: Aftermath) -> None:
    app.state.aftermath = aftermath
    app.add_exception_handler(GalleyError, _galley_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(DatabaseUnavailable, _database_unavailable)
    _document_problems(app)


def _document_problems(app: FastAPI) -> None:
    """Put the problem schemas, which routes refer to in `responses=`, into the app's spec."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = generate()
            spec.setdefault("components", {}).setdefault("schemas", {}).update(problem_schemas())
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]
