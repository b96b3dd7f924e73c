"""No request waits for a thread: every route and every dependency it solves is a
coroutine, so FastAPI never sends a call to its thread pool on the way."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from galley.app import create_app
from galley.config import load_settings


def _calls(dependant: Dependant) -> Iterator[Any]:
    if dependant.call is not None:
        yield dependant.call
    for sub in dependant.dependencies:
        yield from _calls(sub)


def _runs_on_the_loop(call: Any) -> bool:
    return inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(
        getattr(call, "__call__", None)  # noqa: B004 - an instance whose __call__ is the dependency
    )


def test_every_route_and_dependency_is_a_coroutine(tmp_path: Path) -> None:
    app = create_app(load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/galley.db"))
    routes = [route for route in app.routes if isinstance(route, APIRoute)]
    in_threads = {
        f"{route.path} {getattr(call, '__qualname__', type(call).__qualname__)}"
        for route in routes
        for call in _calls(route.dependant)
        if not _runs_on_the_loop(call)
    }
    assert len(routes) > 50
    assert not in_threads, sorted(in_threads)
