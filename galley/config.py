"""The one settings object, read from `GALLEY_*` environment variables and `.env`."""

from __future__ import annotations

import base64
import binascii
import re
from functools import lru_cache
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_DRIVERS = ("sqlite+aiosqlite://", "postgresql+asyncpg://")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GALLEY_", env_file=".env", extra="ignore", frozen=True
    )

    # The embedded default needs no server; production points this at PostgreSQL.
    database_url: str = "sqlite+aiosqlite:///./var/galley.db"
    # Prices and totals are in one shop currency; a mixed-currency order has no total.
    currency: str = "EUR"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "console"
    # 8-16 connections: a hot stock row gets slower, not faster, with more writers.
    database_pool_size: int = Field(default=10, ge=1, le=100)
    # SQLite serializes writers; a writer waits this long for its turn before failing.
    sqlite_busy_timeout_ms: int = Field(default=15_000, ge=0)
    # Largest request body accepted; anything larger is 413 before it is parsed.
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # Drafts of suppliers with auto_send go out at most once per this many seconds per
    # location, so a busy hour sends one order rather than hundreds; 0 sends each at once.
    purchasing_batch_seconds: float = Field(default=0, ge=0, le=86_400)
    # Keys that sign access tokens, "kid:secret,kid:secret" (secrets base64url, 32+ bytes).
    # The first signs; all verify, so a new key goes first and the old one stays a while.
    jwt_keys: str = ""
    # Short-lived, so a revoked user or changed role is locked out within minutes.
    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    refresh_token_days: int = Field(default=30, ge=1, le=365)
    # "closed" stops customers signing themselves up.
    signup: Literal["open", "closed"] = "open"
    # Active products can be read without a token (a shop's public catalog).
    public_catalog: bool = True
    # Served at /metrics when true.
    metrics_enabled: bool = True

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("currency")
    @classmethod
    def _iso_currency(cls, value: str) -> str:
        if not _CURRENCY.match(value):
            raise ValueError("must be an ISO 4217 code such as EUR")
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_driver(cls, value: str) -> str:
        if not value.startswith(_DRIVERS):
            raise ValueError("must start with " + " or ".join(_DRIVERS))
        return value

    @field_validator("jwt_keys")
    @classmethod
    def _parse_keys(cls, value: str) -> str:
        parse_keys(value)
        return value

    @property
    def signing_keys(self) -> list[tuple[str, bytes]]:
        return parse_keys(self.jwt_keys)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def parse_keys(value: str) -> list[tuple[str, bytes]]:
    """`kid:secret` pairs, comma-separated; each secret base64url of at least 32 bytes."""
    keys = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        kid, _, secret = item.partition(":")
        try:
            raw = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
        except (ValueError, binascii.Error):
            raise ValueError(f"key {kid!r} is not base64url") from None
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,40}", kid) or len(raw) < 32:
            raise ValueError("each key is kid:secret with a secret of 32 or more bytes")
        keys.append((kid, raw))
    return keys


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it in one line."""


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "GALLEY_" + str(first["loc"][0]).upper() if first["loc"] else "GALLEY_*"
        raise SettingsError(f"invalid setting {name}: {first['msg']}") from None


@lru_cache
def get_settings() -> Settings:
    return load_settings()
