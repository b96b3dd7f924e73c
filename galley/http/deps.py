"""Typed dependency aliases every route may take."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from galley.config import Settings


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


AppSettings = Annotated[Settings, Depends(_settings)]
