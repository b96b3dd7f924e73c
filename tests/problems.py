"""What every error answer must look like: an RFC 9457 problem."""

from __future__ import annotations

from typing import Any

import httpx

PROBLEM_BASE = "https://galley.dev/problems/"


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The problem body of `response`, after checking its status and shape."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"].startswith(PROBLEM_BASE)
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    assert body["instance"] == response.request.url.path
    return body


def fields(response: httpx.Response) -> list[str]:
    """The fields a 422 problem names."""
    return [error["field"] for error in problem(response, 422)["errors"]]
