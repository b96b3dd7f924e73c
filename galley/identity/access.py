"""Who is calling, and whether they may: the dependencies every route declares.

Each route names the permission it needs with `dependencies=[Requires("orders:place")]`,
in its decorator; `tests/identity/test_route_inventory.py` fails for a route that names
none and is not public.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import structlog
from cachetools import TTLCache
from fastapi import Depends, Request, Security
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from galley.appends import write_last
from galley.changes import Origin
from galley.config import Settings
from galley.db import Database, is_read_only, utcnow
from galley.http.routing import Guard, after_the_transaction
from galley.http.throttle import client_address
from galley.identity import rules
from galley.identity.credentials import (
    API_KEY_PREFIX,
    InvalidToken,
    digest,
    read_access_token,
)
from galley.identity.errors import Forbidden, NotAuthenticated
from galley.identity.models import ApiKey, User

log = structlog.get_logger("galley.identity")

# Tokens and API keys both travel as `Authorization: Bearer …`; the password flow lets
# the interactive docs log in.
bearer = OAuth2PasswordBearer(tokenUrl="/v1/auth/token", auto_error=False)
# `last_used_at` is written at most this often, not on every request of a busy key.
_LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class Principal:
    """Who calls. A user has a role; an API key has a role of staff or above, or only
    its `scopes` (a restricted key)."""

    kind: Literal["user", "api_key", "anonymous"]
    id: int | None
    role: rules.Role | None
    scopes: frozenset[str] | None = None

    def may(self, permission: str) -> bool:
        if self.scopes is not None:
            return permission in self.scopes
        return self.role is not None and rules.may(self.role, permission)

    @property
    def permissions(self) -> frozenset[str]:
        return frozenset(p for p in rules.SCOPES if self.may(p))

    @property
    def actor(self) -> str:
        """How ledgers and histories name who did it."""
        return "anonymous" if self.id is None else f"{self.kind}:{self.id}"

    @property
    def customer_id(self) -> int | None:
        """The customer whose own orders alone this caller may see and act on."""
        if self.kind == "user" and self.role in rules.OWN_ORDERS_ONLY:
            return self.id
        return None


ANONYMOUS = Principal("anonymous", None, None)


def caller_key(request: Request) -> str:
    """Whose key space an Idempotency-Key lives in, and whose rate-limit budget a request
    spends, from the credentials alone (no database read)."""
    token = _bearer_token(request)
    if token is None:
        return "anonymous"
    if token.startswith(API_KEY_PREFIX):
        return "api_key:" + digest(token)[:24]
    try:
        claims = read_access_token(token, _settings(request).signing_keys)
    except InvalidToken:
        return "anonymous"
    return f"user:{claims.user_id}"


async def current_principal(
    request: Request, token: Annotated[str | None, Security(bearer)] = None
) -> Principal:
    if token is None:
        return ANONYMOUS
    if token.startswith(API_KEY_PREFIX):
        principal = await _api_key_principal(request, token)
    else:
        try:
            claims = read_access_token(token, _settings(request).signing_keys)
        except InvalidToken:
            raise NotAuthenticated("The token is invalid or expired.") from None
        principal = await _user_principal(request, claims.user_id)
    request.state.actor = principal.actor
    return principal


class Callers:
    """Callers' principals as this process last read them from their account or API key,
    each kept for `GALLEY_PRINCIPAL_CACHE_SECONDS` (1 s): a busy caller's requests read
    neither, while a change still counts in every process within that time, and in the
    process that made it from its next request (`forget`). Refusals are never kept."""

    def __init__(self, seconds: float) -> None:
        self._recent: TTLCache[str, tuple[Principal, dt.datetime | None]] = TTLCache(
            maxsize=10_000, ttl=seconds
        )
        # The keys whose use this process noted lately (`_note_use`).
        self._noted: TTLCache[int, bool] = TTLCache(
            maxsize=10_000, ttl=_LAST_USED_RESOLUTION.total_seconds()
        )

    def first_use_lately(self, key_id: int) -> bool:
        """Whether this is the first use of the API key that this process notes within
        `_LAST_USED_RESOLUTION`: of the requests that find it unnoted at once, one writes."""
        if key_id in self._noted:
            return False
        self._noted[key_id] = True
        return True

    def get(self, key: str, now: dt.datetime) -> Principal | None:
        found = self._recent.get(key)
        if found is None:
            return None
        principal, expires_at = found
        return None if expires_at is not None and expires_at <= now else principal

    def keep(self, key: str, principal: Principal, expires_at: dt.datetime | None = None) -> None:
        if self._recent.ttl > 0:
            self._recent[key] = (principal, expires_at)

    def forget(self) -> None:
        """After a change to accounts or keys: every caller is read afresh."""
        self._recent.clear()


def forget_callers(request: Request) -> None:
    """A route that changed an account or revoked a key: it counts from the next request."""
    callers: Callers = request.app.state.callers
    callers.forget()


_USER_NOW = select(User.role, User.disabled).where(User.id == bindparam("user_id"))
_KEY_NOW = select(
    ApiKey.id, ApiKey.role, ApiKey.scopes, ApiKey.revoked_at, ApiKey.expires_at, ApiKey.last_used_at
).where(ApiKey.secret_hash == bindparam("secret_hash"))


async def _user_principal(request: Request, user_id: int) -> Principal:
    """The user as the account stands now (within `Callers`' second), not as when the token
    was issued: a changed role or a disabled account counts from the next request."""
    callers: Callers = request.app.state.callers
    cached = f"user:{user_id}"
    if (known := callers.get(cached, utcnow())) is not None:
        return known
    session: AsyncSession = request.state.session
    found = (await session.execute(_USER_NOW, {"user_id": user_id})).first()
    if found is None or found.disabled:
        raise NotAuthenticated("The account is disabled or no longer exists.")
    principal = Principal("user", user_id, found.role)
    callers.keep(cached, principal)
    return principal


async def _api_key_principal(request: Request, secret: str) -> Principal:
    callers: Callers = request.app.state.callers
    now = utcnow()
    secret_hash = digest(secret)
    cached = f"api_key:{secret_hash}"
    if (known := callers.get(cached, now)) is not None:
        return known
    session: AsyncSession = request.state.session
    key = (await session.execute(_KEY_NOW, {"secret_hash": secret_hash})).first()
    if (
        key is None
        or key.revoked_at is not None
        or (key.expires_at is not None and key.expires_at <= now)
    ):
        raise NotAuthenticated("The API key is unknown, expired or revoked.")
    stale = key.last_used_at is None or key.last_used_at < now - _LAST_USED_RESOLUTION
    if stale and callers.first_use_lately(key.id):
        _note_use(request, key.id, now)
    scopes = None if key.scopes is None else frozenset(key.scopes)
    principal = Principal("api_key", key.id, key.role, scopes)
    callers.keep(cached, principal, key.expires_at)
    return principal


def _note_use(request: Request, key_id: int, now: dt.datetime) -> None:
    """Write when the key was last used: with the last statement of the request's
    transaction when it writes anyway, else in a short one of its own once the request's
    is over, since a transaction opened to read must not write (on SQLite, another process
    may be writing meanwhile). Never worth failing a request over: if it cannot be written
    now, a use after `_LAST_USED_RESOLUTION` writes it."""
    noted = update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now)
    session: AsyncSession = request.state.session
    if not is_read_only(session):
        write_last(session, noted)
        return
    database: Database = request.app.state.database

    async def note() -> None:
        try:
            async with database.transaction() as writing:
                await writing.execute(noted)
        except SQLAlchemyError as exc:
            log.warning("api_key.use_not_noted", api_key_id=key_id, error=type(exc).__name__)

    after_the_transaction(request, note)


class Requires(Guard):
    """A route's permission. `public` routes also answer callers without credentials."""

    def __init__(self, permission: str, *, public: bool = False) -> None:
        self.permission = permission
        self.public = public

    async def __call__(
        self, request: Request, principal: Annotated[Principal, Depends(current_principal)]
    ) -> Principal:
        if principal is ANONYMOUS:
            if self.public and _public_allowed(request, self.permission):
                return principal
            raise NotAuthenticated()
        if not principal.may(self.permission):
            raise Forbidden(self.permission)
        return principal


def _public_allowed(request: Request, permission: str) -> bool:
    return permission != "catalog:read" or _settings(request).public_catalog


def _bearer_token(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def requires(permission: str, *, public: bool = False) -> Any:
    """`dependencies=[requires("orders:place")]`: the one place a route names its permission."""
    return Depends(Requires(permission, public=public))


async def _actor(principal: CurrentPrincipal) -> str:
    """Who is acting, for the ledger and order history."""
    return principal.actor


def origin_of(request: Request) -> Origin:
    """Who is acting and from where, for the audit log: the caller once known, else anonymous."""
    return Origin(
        actor=getattr(request.state, "actor", "anonymous"),
        address=client_address(request),
        request_id=getattr(request.state, "request_id", None),
    )


async def _origin(request: Request, _: CurrentPrincipal) -> Origin:
    return origin_of(request)


Actor = Annotated[str, Depends(_actor)]
RequestOrigin = Annotated[Origin, Depends(_origin)]
