"""Strong ETags over the JSON a resource is answered with, and conditional requests."""

from __future__ import annotations

import hashlib

from fastapi import Request, Response
from pydantic import BaseModel

from galley.errors import PreconditionFailed


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def resource_response(
    request: Request,
    resource: BaseModel,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """The resource as JSON with its ETag; 304 when `If-None-Match` already has it."""
    body = resource.model_dump_json().encode()
    etag = etag_of(body)
    all_headers = {"ETag": etag, **(headers or {})}
    conditional = request.method in ("GET", "HEAD") and status_code == 200
    if conditional and _matches(request.headers.get("if-none-match"), etag, weak=True):
        return Response(status_code=304, headers=all_headers)
    return Response(
        body, status_code=status_code, media_type="application/json", headers=all_headers
    )


def check_if_match(request: Request, current: BaseModel) -> None:
    """Raise 412 when `If-Match` is given and the resource has changed since."""
    given = request.headers.get("if-match")
    if given is None:
        return
    etag = etag_of(current.model_dump_json().encode())
    if not _matches(given, etag, weak=False):
        raise PreconditionFailed(
            f"The resource has changed: its ETag is {etag}, not {given}. Fetch it again and retry."
        )


def _matches(header: str | None, etag: str, *, weak: bool) -> bool:
    """`If-None-Match` compares weakly; `If-Match` strongly, so a weak tag never matches it."""
    if not header:
        return False
    candidates = [c.strip() for c in header.split(",")]
    if weak:
        candidates = [c.removeprefix("W/") for c in candidates]
    return "*" in candidates or etag in candidates
