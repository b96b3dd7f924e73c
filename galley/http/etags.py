"""Strong ETags over the JSON a resource is answered with, and conditional requests."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from fastapi import Request, Response
from pydantic import BaseModel

from galley.errors import PreconditionFailed


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


@dataclass(frozen=True)
class Tagged:
    """A resource as answered: its JSON and that JSON's ETag (what a cache keeps)."""

    body: bytes
    etag: str

    @classmethod
    def of(cls, resource: BaseModel) -> Tagged:
        body = resource.model_dump_json().encode()
        return cls(body, etag_of(body))


def resource_response(
    request: Request,
    resource: BaseModel,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """The resource as JSON with its ETag; 304 when `If-None-Match` already has it."""
    return tagged_response(request, Tagged.of(resource), status_code=status_code, headers=headers)


def shown_once_response(
    request: Request,
    resource: BaseModel,
    answer: BaseModel,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """`answer`, the resource with a secret shown this once, under the ETag of `resource`
    as GET shows it (without the secret): it serves the next `If-Match`, and is not made
    from the secret."""
    body = answer.model_dump_json().encode()
    tagged = Tagged(body, Tagged.of(resource).etag)
    return tagged_response(request, tagged, status_code=status_code, headers=headers)


def tagged_response(
    request: Request,
    tagged: Tagged,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """The JSON with its ETag; 304, with the same headers, when `If-None-Match` has it."""
    all_headers = {"ETag": tagged.etag, **(headers or {})}
    conditional = request.method in ("GET", "HEAD") and status_code == 200
    if conditional and _matches(request.headers.get("if-none-match"), tagged.etag, weak=True):
        return Response(status_code=304, headers=all_headers)
    return Response(
        tagged.body, status_code=status_code, media_type="application/json", headers=all_headers
    )


def check_if_match(request: Request, current: BaseModel) -> None:
    """Raise 412 when `If-Match` is given and the resource has changed since."""
    given = request.headers.get("if-match")
    if given is None:
        return
    etag = Tagged.of(current).etag
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
