"""Pure ASGI middleware: request id, access log, security headers, body limit, last-resort 500."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import structlog
from prometheus_client import Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from galley.errors import PROBLEM_JSON, PayloadTooLarge, problem_body

log = structlog.get_logger("galley.http")

# Matched whole (`$` alone would let a trailing newline through into our response headers).
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
_API_CSP = b"default-src 'none'; frame-ancestors 'none'"
# The interactive docs load Swagger UI from its CDN.
_DOCS_CSP = (
    b"default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    b"style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    b"img-src 'self' data: https://fastapi.tiangolo.com; frame-ancestors 'none'"
)

# What a browser front-end on an allowed origin (GALLEY_CORS_ORIGINS) may send and read.
CORS_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
CORS_REQUEST_HEADERS = [
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "If-Match",
    "If-None-Match",
    "X-Request-ID",
]
CORS_EXPOSED_HEADERS = ["ETag", "Location", "Retry-After", "X-Request-ID", "Idempotent-Replayed"]

REQUEST_SECONDS = Histogram(
    "galley_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["method", "route", "status"],
)


class RequestContext:
    """Gives every request an id, logs it once, adds security headers and never leaks a trace."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                extra = _response_headers(scope, message, request_id)
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            log.exception("http.unhandled_error", path=scope["path"])
            if not response_started:
                await _send_problem(scope, send_with_headers, 500, request_id)
        finally:
            duration = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")
            REQUEST_SECONDS.labels(scope["method"], route, str(status)).observe(duration)
            # The path only: a query string may carry search terms such as an e-mail address,
            # and neither headers nor the client's address (personal data too) are logged.
            log.info(
                "http.request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                duration_ms=round(duration * 1000, 2),
            )
            structlog.contextvars.unbind_contextvars("request_id")


def _response_headers(scope: Scope, message: Message, request_id: str) -> list[tuple[bytes, bytes]]:
    existing = {name.lower() for name, _ in message.get("headers", [])}
    content_type = dict(message.get("headers", [])).get(b"content-type", b"")
    csp = _DOCS_CSP if content_type.startswith(b"text/html") else _API_CSP
    extra = [
        (b"x-request-id", request_id.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"content-security-policy", csp),
    ]
    # Over TLS only; "https" also when a trusted proxy (GALLEY_TRUSTED_PROXIES) says so.
    if scope.get("scheme") == "https":
        extra.append((b"strict-transport-security", b"max-age=63072000; includeSubDomains"))
    if b"cache-control" not in existing:
        extra.append((b"cache-control", b"no-store"))
    return [h for h in extra if h[0] not in existing]


async def _send_problem(scope: Scope, send: Send, status: int, request_id: str) -> None:
    body = problem_body(
        status,
        "internal-error",
        "Internal server error",
        f"An unexpected error occurred; quote request id {request_id} when reporting it.",
        scope["path"],
        request_id=request_id,
    )
    await _send_json(send, status, body)


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class BodyLimit:
    """Refuses bodies over the limit, by Content-Length at once or while they stream in."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            error = PayloadTooLarge(f"The body is larger than {self.max_bytes} bytes.")
            body = problem_body(413, error.code, error.title, error.detail, scope["path"])
            await _send_json(send, 413, body)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise PayloadTooLarge(f"The body is larger than {self.max_bytes} bytes.")
            return message

        await self.app(scope, counted, send)
