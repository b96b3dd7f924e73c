"""Builds the FastAPI application: routers, middleware, error handlers — nothing else."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI

import galley.models  # noqa: F401 - every table, so foreign keys between areas resolve
from galley import operations
from galley.catalog.api import router as products
from galley.config import Settings, SettingsError, get_settings
from galley.db import Database
from galley.http import problems
from galley.http.middleware import BodyLimit, RequestContext
from galley.identity.api import accounts, auth
from galley.inventory.api import locations, stock
from galley.logs import configure_logging
from galley.orders.api import router as orders
from galley.purchasing.api import plan_router, po_router, supplier_router
from galley.purchasing.batching import send_batches_forever

DESCRIPTION = """Orders, stock, backorders and fulfilment for shops and kitchens.

Errors are RFC 9457 problem details; lists use cursor pagination; POSTs accept an
`Idempotency-Key`; single resources carry an `ETag`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    if not settings.signing_keys:
        raise SettingsError(
            "invalid setting GALLEY_JWT_KEYS: missing; set kid:secret pairs "
            "(`make run` makes development keys)"
        )
    configure_logging(settings.log_level, settings.log_format)
    database = Database(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        batches = None
        if settings.purchasing_batch_seconds > 0:
            batches = asyncio.create_task(send_batches_forever(database))
        yield
        if batches is not None:
            batches.cancel()
            with suppress(asyncio.CancelledError):
                await batches
        await database.dispose()

    app = FastAPI(
        title="Galley",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.engine = database.engine

    problems.install(app)
    app.include_router(operations.router)
    if settings.metrics_enabled:
        app.include_router(operations.metrics_router)
    for router in (
        auth,
        accounts,
        locations,
        products,
        stock,
        orders,
        supplier_router,
        po_router,
        plan_router,
    ):
        app.include_router(router)

    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContext)
    return app
