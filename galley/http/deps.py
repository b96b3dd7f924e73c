"""Typed dependency aliases every route may take."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from galley.config import Settings
from galley.identity.access import CurrentPrincipal


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _actor(principal: CurrentPrincipal) -> str:
    """Who is acting, for the ledger and order history."""
    return principal.actor


AppSettings = Annotated[Settings, Depends(_settings)]
Actor = Annotated[str, Depends(_actor)]
