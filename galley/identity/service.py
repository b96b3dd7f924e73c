"""Accounts, logins, refresh-token families and API keys."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, replace

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from galley.changes import Audited, Change, Origin
from galley.config import Settings
from galley.db import insert_for, insert_row, key_from, update_row, utcnow
from galley.errors import FieldError, InvalidRequest
from galley.identity import credentials, rules

# Who is calling and whether they may: what every area's routes declare.
from galley.identity.access import Actor as Actor
from galley.identity.access import CurrentPrincipal as CurrentPrincipal
from galley.identity.access import Principal as Principal
from galley.identity.access import RequestOrigin as RequestOrigin
from galley.identity.access import origin_of as origin_of
from galley.identity.access import requires as requires
from galley.identity.errors import (
    ApiKeyNotFound,
    EmailTaken,
    InvalidCredentials,
    InvalidRefreshToken,
    KeyBeyondGrantor,
    OwnAccountLocked,
    RefreshTokenReused,
    UserNotFound,
)
from galley.identity.models import ApiKey, RefreshToken, User
from galley.identity.schemas import ApiKeyCreate, TokenPair, UserChange
from galley.privacy.keys import DataKeys


def normal_email(email: str) -> str:
    return email.strip().lower()


async def create_user(
    session: AsyncSession,
    email: str,
    password: str,
    role: rules.Role,
    keys: DataKeys,
    *,
    origin: Origin,
    name: str | None = None,
    phone: str | None = None,
) -> tuple[User, list[Change]]:
    """A new account; its e-mail, name and phone are stored sealed."""
    email = normal_email(email)
    problem = rules.password_problem(password, email)
    if problem:
        raise InvalidRequest(
            f"password {problem}.", [FieldError(field="password", message=problem)]
        )
    # An account whose row still carries an older key's index is found by that index;
    # the unique index on the current one settles two sign-ups racing each other.
    if await _user_by_email(session, email, keys) is not None:
        raise EmailTaken()
    now = utcnow()
    user = (
        await session.execute(
            insert_for(session, User)
            .values(
                email=keys.seal(email, "users.email"),
                email_index=keys.email_index(email),
                name=None if name is None else keys.seal(name, "users.name"),
                phone=None if phone is None else keys.seal(phone, "users.phone"),
                password_hash=credentials.hash_password(password),
                role=role,
                disabled=False,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["email_index"])
            .returning(User)
        )
    ).scalar()
    if user is None:
        raise EmailTaken()
    created = Audited("user.created", f"user:{user.id}", {"role": role}, origin)
    return user, [created]


async def _user_by_email(session: AsyncSession, email: str, keys: DataKeys) -> User | None:
    indexes = keys.email_indexes(normal_email(email))
    return (await session.execute(select(User).where(User.email_index.in_(indexes)))).scalar()


@dataclass(frozen=True)
class Account:
    """A user as the account owner and administrators see it: personal data unsealed."""

    id: int
    email: str
    name: str | None
    phone: str | None
    role: str
    disabled: bool
    created_at: dt.datetime


def account(user: User, keys: DataKeys) -> Account:
    return Account(
        id=user.id,
        email=keys.unseal(user.email, "users.email"),
        name=None if user.name is None else keys.unseal(user.name, "users.name"),
        phone=None if user.phone is None else keys.unseal(user.phone, "users.phone"),
        role=user.role,
        disabled=user.disabled,
        created_at=user.created_at,
    )


async def log_in(
    session: AsyncSession, email: str, password: str, settings: Settings, origin: Origin
) -> tuple[TokenPair, list[Change]]:
    """Tokens for a right e-mail and password; the same refusal, in about the same time,
    for a wrong password and an unknown e-mail."""
    user = await _user_by_email(session, email, settings.sealing_keys)
    valid, rehashed = credentials.check_password(password, user.password_hash if user else None)
    if user is None or not valid or user.disabled:
        raise InvalidCredentials(user.id if user else None)
    if rehashed:
        user = await update_row(session, user, {"password_hash": rehashed})
    subject = f"user:{user.id}"
    succeeded = Audited("login.succeeded", subject, origin=replace(origin, actor=subject))
    return await _issue(session, user, uuid.uuid4().hex, settings), [succeeded]


async def refresh(session: AsyncSession, token: str, settings: Settings) -> TokenPair:
    """Trade a refresh token for a new pair. A token presented twice means it was stolen:
    its whole family is revoked, so neither holder can go on."""
    now = utcnow()
    found = (
        await session.execute(
            select(RefreshToken)
            .where(RefreshToken.token_hash == credentials.digest(token))
            .with_for_update()
        )
    ).scalar_one_or_none()
    if found is None or found.revoked_at is not None or found.expires_at <= now:
        raise InvalidRefreshToken()
    if found.used_at is not None:
        await revoke_family(session, found.family)
        raise RefreshTokenReused(found.user_id)
    await update_row(session, found, {"used_at": now})
    user = await session.get_one(User, found.user_id)
    if user.disabled:
        raise InvalidRefreshToken()
    return await _issue(session, user, found.family, settings)


async def find_user(session: AsyncSession, user_id: str, *, for_update: bool = False) -> User:
    stmt = select(User).where(User.id == key_from(user_id))
    user = (await session.execute(stmt.with_for_update() if for_update else stmt)).scalar()
    if user is None:
        raise UserNotFound(user_id)
    return user


async def change_user(
    session: AsyncSession, user: User, change: UserChange, origin: Origin
) -> tuple[User, list[Change]]:
    """Change a role or disable an account. Both count from the account's next request
    (`access.current_principal` reads the account each time); a disabled account's refresh
    tokens are revoked at once."""
    if origin.actor == f"user:{user.id}":
        raise OwnAccountLocked()
    changed: dict[str, dict[str, object]] = {}
    if change.role is not None and change.role != user.role:
        changed["role"] = {"from": user.role, "to": change.role}
    if change.disabled is not None and change.disabled != user.disabled:
        changed["disabled"] = {"from": user.disabled, "to": change.disabled}
    if not changed:
        return user, []
    now = utcnow()
    values = {field: moved["to"] for field, moved in changed.items()}
    user = await update_row(session, user, values | {"updated_at": now})
    if user.disabled:
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    return user, [Audited("user.changed", f"user:{user.id}", changed, origin)]


async def revoke_family(session: AsyncSession, family: str) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family == family, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def log_out(session: AsyncSession, token: str) -> None:
    found = (
        await session.execute(
            select(RefreshToken.family).where(RefreshToken.token_hash == credentials.digest(token))
        )
    ).scalar()
    if found is not None:
        await revoke_family(session, found)


async def _issue(session: AsyncSession, user: User, family: str, settings: Settings) -> TokenPair:
    lifetime = dt.timedelta(minutes=settings.access_token_minutes)
    refresh_token = credentials.opaque_secret()
    await session.execute(
        insert(RefreshToken).values(
            user_id=user.id,
            family=family,
            token_hash=credentials.digest(refresh_token),
            expires_at=utcnow() + dt.timedelta(days=settings.refresh_token_days),
            created_at=utcnow(),
        )
    )
    return TokenPair(
        access_token=credentials.issue_access_token(
            user.id,
            user.role,  # type: ignore[arg-type]
            settings.signing_keys,
            lifetime,
        ),
        expires_in=int(lifetime.total_seconds()),
        refresh_token=refresh_token,
    )


async def create_api_key(
    session: AsyncSession,
    new: ApiKeyCreate,
    origin: Origin,
    *,
    grantor: frozenset[str] = frozenset(rules.SCOPES),
) -> tuple[tuple[ApiKey, str], list[Change]]:
    """The key and its secret, which is never stored and never shown again. `grantor` is
    what its maker may do (everything, from the command line): the key gets no more."""
    scopes = None if new.scopes is None else sorted(set(new.scopes))
    beyond = rules.beyond(grantor, rules.key_permissions(new.role, scopes))
    if beyond:
        raise KeyBeyondGrantor(beyond)
    secret = credentials.opaque_secret(credentials.API_KEY_PREFIX)
    key = await insert_row(
        session,
        ApiKey,
        {
            "name": new.name,
            "role": new.role,
            "scopes": scopes,
            "prefix": secret[: len(credentials.API_KEY_PREFIX) + 4],
            "secret_hash": credentials.digest(secret),
            "created_at": utcnow(),
            "expires_at": new.expires_at,
        },
    )
    granted = {"role": key.role} if key.scopes is None else {"scopes": key.scopes}
    created = Audited("api_key.created", f"api_key:{key.id}", {"name": key.name, **granted}, origin)
    return (key, secret), [created]


async def list_api_keys(session: AsyncSession) -> list[ApiKey]:
    return list((await session.execute(select(ApiKey).order_by(ApiKey.id))).scalars())


async def revoke_api_key(
    session: AsyncSession, key_id: str, origin: Origin
) -> tuple[None, list[Change]]:
    revoked = (
        await session.execute(
            update(ApiKey)
            .where(ApiKey.id == key_from(key_id))
            .values(revoked_at=utcnow())
            .returning(ApiKey.id)
        )
    ).scalar()
    if revoked is None:
        raise ApiKeyNotFound(key_id)
    return None, [Audited("api_key.revoked", f"api_key:{revoked}", origin=origin)]
