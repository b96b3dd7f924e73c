"""Builds the FastAPI application: routers, middleware, error handlers — nothing else."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI, Request
from starlette.middleware.cors import CORSMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

import galley.models  # noqa: F401 - every table, so foreign keys between areas resolve
from galley import memory, operations
from galley.audit.api import router as audit_events
from galley.catalog.api import router as products
from galley.catalog.cache import CatalogCache
from galley.config import Settings, get_settings, require_keys
from galley.db import Database
from galley.errors import GalleyError
from galley.events.api import router as events
from galley.events.broker import BrokerCheck
from galley.http import problems
from galley.http.middleware import (
    CORS_EXPOSED_HEADERS,
    CORS_METHODS,
    CORS_REQUEST_HEADERS,
    BodyLimit,
    RequestContext,
)
from galley.http.throttle import Throttle
from galley.identity.access import Callers, caller_key, origin_of
from galley.identity.api import accounts, auth
from galley.inventory.api import locations, stock
from galley.logs import configure_logging
from galley.orders.api import fulfilment
from galley.orders.api import router as orders
from galley.orders.fulfilment import FulfilmentFeed
from galley.payments.api import router as payments
from galley.payments.api import webhooks as payment_webhooks
from galley.payments.gateways import gateway_for
from galley.purchasing.api import plan_router, po_router, supplier_router
from galley.purchasing.batching import send_batches_forever
from galley.reactions import settle_aftermath
from galley.webhooks.api import router as webhook_endpoints
from galley.worker import run_until_stopped

DESCRIPTION = """Orders, stock, backorders and fulfilment for shops and kitchens.

Errors are RFC 9457 problem details; lists use cursor pagination; POSTs accept an
`Idempotency-Key`; single resources carry an `ETag`.
"""


async def _settle_aftermath(request: Request, refused: GalleyError) -> None:
    """What a refusal leaves (a failed log-in for the audit log), with who asked."""
    await settle_aftermath(
        request.app.state.database,
        origin_of(request),
        refused.aftermath(),
        method=request.method,
        path=request.url.path,
    )


def served_app() -> FastAPI:
    """The app as `galley serve` builds it in each server process (`create_app`), with what
    it allocated at start-up kept out of the garbage collector's way (`galley.memory`)."""
    app = create_app()
    memory.settle()
    return app


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    require_keys(settings, "jwt_keys", "data_keys")
    configure_logging(settings.log_level, settings.log_format)
    database = Database(settings)
    throttle = Throttle.from_settings(settings)
    catalog_cache = CatalogCache.from_settings(settings)
    broker = BrokerCheck(settings.broker_url.get_secret_value()) if settings.broker_url else None
    feed = FulfilmentFeed(
        database,
        poll_seconds=settings.events_poll_seconds,
        heartbeat_seconds=settings.stream_heartbeat_seconds,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        batches = None
        if settings.purchasing_batch_seconds > 0:
            batches = asyncio.create_task(send_batches_forever(database))
        stop_worker = asyncio.Event()
        worker = None
        if settings.with_worker:
            worker = asyncio.create_task(run_until_stopped(settings, stop_worker))
        yield
        if batches is not None:
            batches.cancel()
            with suppress(asyncio.CancelledError):
                await batches
        if worker is not None:
            stop_worker.set()
            await worker
        await feed.close()
        await database.dispose()
        await throttle.close()
        await catalog_cache.close()
        if broker is not None:
            await broker.close()

    app = FastAPI(
        title="Galley",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.engine = database.engine
    app.state.throttle = throttle
    app.state.catalog_cache = catalog_cache
    app.state.broker = broker
    app.state.fulfilment = feed
    app.state.caller_key = caller_key
    app.state.callers = Callers(settings.principal_cache_seconds)
    app.state.gateway = gateway_for(settings)

    problems.install(app, _settle_aftermath)
    # Each router's routes as they are, built once when their module was imported: FastAPI
    # would build an included router's routes again for each app, on its first request.
    app.router.routes.extend(operations.router.routes)
    if settings.metrics_enabled:
        app.router.routes.extend(operations.metrics_router.routes)
    for router in (
        auth,
        accounts,
        locations,
        products,
        stock,
        orders,
        payments,
        payment_webhooks,
        fulfilment,
        supplier_router,
        po_router,
        plan_router,
        audit_events,
        events,
        webhook_endpoints,
    ):
        app.router.routes.extend(router.routes)

    # The last added runs first.
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        # Inside RequestContext, so preflight answers carry the request id and security
        # headers too; outside BodyLimit, so a browser can read its 413.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=CORS_METHODS,
            allow_headers=CORS_REQUEST_HEADERS,
            expose_headers=CORS_EXPOSED_HEADERS,
        )
    app.add_middleware(RequestContext)
    if settings.trusted_proxies:
        # Outermost, so everything inside (HSTS, rate limits) sees the real client and
        # scheme. Here rather than in `galley serve`, so the app behaves the same in tests
        # and under any server; `galley serve` leaves uvicorn's own handling off.
        app.add_middleware(
            ProxyHeadersMiddleware,
            trusted_hosts=[str(network) for network in settings.trusted_proxies],
        )
    return app
