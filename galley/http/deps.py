"""Typed dependency aliases every route may take."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from galley.audit.service import Origin
from galley.config import Settings
from galley.http.throttle import client_address
from galley.identity.access import CurrentPrincipal


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _actor(principal: CurrentPrincipal) -> str:
    """Who is acting, for the ledger and order history."""
    return principal.actor


def origin_of(request: Request) -> Origin:
    """Who is acting and from where, for the audit log: the caller once known, else anonymous."""
    return Origin(
        actor=getattr(request.state, "actor", "anonymous"),
        address=client_address(request),
        request_id=getattr(request.state, "request_id", None),
    )


def _origin(request: Request, _: CurrentPrincipal) -> Origin:
    return origin_of(request)


AppSettings = Annotated[Settings, Depends(_settings)]
Actor = Annotated[str, Depends(_actor)]
RequestOrigin = Annotated[Origin, Depends(_origin)]
