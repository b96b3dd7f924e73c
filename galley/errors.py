"""Typed errors and their RFC 9457 problem rendering.

A service raises a `GalleyError` subclass built from domain values; one handler
turns it into `application/problem+json`. Routes list what they can raise in
`responses=` through `problem_responses`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from fastapi.openapi.constants import REF_PREFIX, REF_TEMPLATE
from pydantic import BaseModel, Field

PROBLEM_BASE = "https://galley.dev/problems/"
PROBLEM_JSON = "application/problem+json"


class FieldError(BaseModel):
    field: str = Field(examples=["lines[1].quantity"])
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(examples=[PROBLEM_BASE + "not-found"])
    title: str
    status: int
    detail: str
    instance: str
    request_id: str | None = Field(default=None, description="On unexpected errors (500).")
    current_status: str | None = Field(default=None, description="On illegal transitions.")


class ValidationProblem(Problem):
    """RFC 9457 problem details of a request that is not valid (422), field by field."""

    type: str = Field(examples=[PROBLEM_BASE + "validation-error"])
    errors: list[FieldError]


class GalleyError(Exception):
    """Base of every error a client may see. `code` names the problem type."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"
    # True when what the request wrote before the error must be kept (see db.transaction).
    keeps_writes: ClassVar[bool] = False

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def aftermath(self) -> Sequence[Any]:
        """What stands although the request is refused (a failed log-in in the audit log):
        changes settled once the request rolled back, in a transaction of their own."""
        return ()


class NotFound(GalleyError):
    status, code, title = 404, "not-found", "Not found"


class Conflict(GalleyError):
    status, code, title = 409, "conflict", "Conflict"


class PreconditionFailed(GalleyError):
    status, code, title = 412, "precondition-failed", "Precondition failed"


class InvalidRequest(GalleyError):
    """A request that is well-formed but breaks a rule; carries per-field errors."""

    status, code, title = 422, "validation-error", "Invalid request"

    def __init__(self, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail, errors=[e.model_dump() for e in errors or []])


class MalformedRequest(GalleyError):
    status, code, title = 400, "malformed-request", "Malformed request"


class UnsupportedMediaType(GalleyError):
    status, code, title = 415, "unsupported-media-type", "Unsupported media type"


class PayloadTooLarge(GalleyError):
    status, code, title = 413, "payload-too-large", "Payload too large"


class TooManyRequests(GalleyError):
    """A rate limit is spent; `Retry-After` says how many seconds until it lets one through."""

    status, code, title = 429, "rate-limited", "Too many requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(
            f"{detail}; try again in {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
        )
        self.retry_after = retry_after


def problem_body(
    status: int, code: str, title: str, detail: str, instance: str, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the problem statuses a route can answer.

    The schema sits under `application/problem+json`, the type the answer has; FastAPI's
    `model` would put it under `application/json`. `problem_schemas` defines what they refer to.
    """
    return {
        status: {
            "content": {PROBLEM_JSON: {"schema": {"$ref": REF_PREFIX + _schema_of(status)}}},
            "description": _DESCRIPTIONS[status],
        }
        for status in statuses
    }


def problem_schemas() -> dict[str, Any]:
    """The OpenAPI component schemas `problem_responses` refers to."""
    schemas: dict[str, Any] = {}
    for model in (Problem, ValidationProblem):
        schema = model.model_json_schema(ref_template=REF_TEMPLATE, mode="serialization")
        schemas |= schema.pop("$defs", {})
        schemas[model.__name__] = schema
    return schemas


def _schema_of(status: int) -> str:
    return (ValidationProblem if status == 422 else Problem).__name__


_DESCRIPTIONS = {
    400: "Malformed JSON",
    401: "Missing or invalid credentials",
    403: "Not allowed",
    404: "Unknown resource",
    409: "Conflict with the current state",
    412: "`If-Match` does not match the current ETag",
    413: "Body larger than the limit",
    415: "Body is not `application/json`",
    422: "Validation error",
    429: "A rate limit is spent; `Retry-After` says when to try again",
    500: "Unexpected error",
    503: "The database does not answer (`database-unavailable`; `Retry-After` says when to try "
    "again), or at /readyz a dependency is down (`not-ready`)",
}
