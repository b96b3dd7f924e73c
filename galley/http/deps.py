"""Typed dependency aliases every route may take."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from galley.config import Settings
from galley.privacy.keys import DataKeys


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


AppSettings = Annotated[Settings, Depends(_settings)]


async def _keys(request: Request) -> DataKeys:
    settings: Settings = request.app.state.settings
    return settings.sealing_keys


# The keys that seal and open personal data (`galley.privacy`).
Keys = Annotated[DataKeys, Depends(_keys)]
