"""Fixtures for webhooks: the API under other settings, and a receiver on this machine."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack

import httpx
import pytest

from galley.app import create_app
from galley.config import load_settings
from tests.auth import api_key
from tests.webhooks.receiver import Receiver, serving

ClientFor = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def client_for(database_url: str) -> AsyncIterator[ClientFor]:
    """`await client_for(webhooks_allow_private=True)`: the API as an administrator sees
    it, under settings that differ from the defaults as given."""
    async with AsyncExitStack() as stack:

        async def make(**overrides: object) -> httpx.AsyncClient:
            settings = load_settings(database_url=database_url, log_level="WARNING", **overrides)
            app = create_app(settings)
            stack.push_async_callback(app.state.engine.dispose)
            return await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app),
                    base_url="http://galley.test",
                    headers={"Authorization": f"Bearer {await api_key(database_url)}"},
                )
            )

        yield make


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serving(Receiver()) as running:
        yield running
