"""No route ships unprotected by accident: each names its permission or is public."""

from __future__ import annotations

from fastapi.routing import APIRoute, iter_route_contexts

from galley.app import create_app
from galley.identity.access import Requires

# Reachable without credentials, on purpose.
PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
    ("POST", "/v1/auth/token"),
    ("POST", "/v1/auth/refresh"),
    ("POST", "/v1/auth/register"),
    # A gateway's events carry its signature instead of credentials.
    ("POST", "/v1/payments/webhooks/{gateway_name}"),
}


def _permission(route: APIRoute) -> Requires | None:
    for dependency in route.dependant.dependencies:
        if isinstance(dependency.call, Requires):
            return dependency.call
    return None


def test_every_route_declares_a_permission_or_is_public() -> None:
    app = create_app()
    unprotected = []
    for context in iter_route_contexts(app.router.routes):
        route = context.route
        for method in context.methods or {"GET"}:
            if (method, route.path) in PUBLIC or method == "HEAD":
                continue
            if not isinstance(route, APIRoute) or _permission(route) is None:
                unprotected.append(f"{method} {route.path}")
    assert unprotected == []


def test_the_catalog_is_the_only_public_data() -> None:
    app = create_app()
    public = sorted(
        f"{method} {context.route.path}"
        for context in iter_route_contexts(app.router.routes)
        if isinstance(context.route, APIRoute)
        and (requirement := _permission(context.route)) is not None
        and requirement.public
        for method in context.methods or ()
    )
    assert public == ["GET /v1/products", "GET /v1/products/{sku}"]


def test_the_spec_shows_the_security_of_every_protected_route() -> None:
    spec = create_app().openapi()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if (method.upper(), path) in PUBLIC:
                continue
            assert operation.get("security"), f"{method.upper()} {path}"
