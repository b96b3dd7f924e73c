"""Accounts, logins, refresh-token families and API keys."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from galley.config import Settings
from galley.db import insert_for, utcnow
from galley.errors import FieldError, InvalidRequest
from galley.identity import credentials, rules
from galley.identity.errors import (
    ApiKeyNotFound,
    EmailTaken,
    InvalidCredentials,
    InvalidRefreshToken,
    RefreshTokenReused,
)
from galley.identity.models import ApiKey, RefreshToken, User
from galley.identity.schemas import ApiKeyCreate, TokenPair


def normal_email(email: str) -> str:
    return email.strip().lower()


async def create_user(session: AsyncSession, email: str, password: str, role: rules.Role) -> User:
    email = normal_email(email)
    problem = rules.password_problem(password, email)
    if problem:
        raise InvalidRequest(
            f"password {problem}.", [FieldError(field="password", message=problem)]
        )
    now = utcnow()
    table = User.__table__
    user_id = (
        await session.execute(
            insert_for(session, table)
            .values(
                email=email,
                password_hash=credentials.hash_password(password),
                role=role,
                disabled=False,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["email"])
            .returning(table.c.id)
        )
    ).scalar()
    if user_id is None:
        raise EmailTaken()
    return await session.get_one(User, user_id)


async def log_in(session: AsyncSession, email: str, password: str, settings: Settings) -> TokenPair:
    """Tokens for a right e-mail and password; the same refusal, in about the same time,
    for a wrong password and an unknown e-mail."""
    user = (
        await session.execute(select(User).where(User.email == normal_email(email)))
    ).scalar_one_or_none()
    valid, rehashed = credentials.check_password(password, user.password_hash if user else None)
    if user is None or not valid or user.disabled:
        raise InvalidCredentials()
    if rehashed:
        user.password_hash = rehashed
    return await _issue(session, user, uuid.uuid4().hex, settings)


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
        raise RefreshTokenReused()
    found.used_at = now
    user = await session.get_one(User, found.user_id)
    if user.disabled:
        raise InvalidRefreshToken()
    return await _issue(session, user, found.family, settings)


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
    session.add(
        RefreshToken(
            user_id=user.id,
            family=family,
            token_hash=credentials.digest(refresh_token),
            expires_at=utcnow() + dt.timedelta(days=settings.refresh_token_days),
            created_at=utcnow(),
        )
    )
    await session.flush()
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


async def create_api_key(session: AsyncSession, new: ApiKeyCreate) -> tuple[ApiKey, str]:
    """The key and its secret, which is never stored and never shown again."""
    secret = credentials.opaque_secret(credentials.API_KEY_PREFIX)
    key = ApiKey(
        name=new.name,
        role=new.role,
        prefix=secret[: len(credentials.API_KEY_PREFIX) + 4],
        secret_hash=credentials.digest(secret),
        created_at=utcnow(),
        expires_at=new.expires_at,
    )
    session.add(key)
    await session.flush()
    return key, secret


async def list_api_keys(session: AsyncSession) -> list[ApiKey]:
    return list((await session.execute(select(ApiKey).order_by(ApiKey.id))).scalars())


async def revoke_api_key(session: AsyncSession, key_id: str) -> None:
    revoked = (
        await session.execute(
            update(ApiKey)
            .where(ApiKey.id == (int(key_id) if key_id.isdigit() and len(key_id) <= 18 else 0))
            .values(revoked_at=utcnow())
            .returning(ApiKey.id)
        )
    ).scalar()
    if revoked is None:
        raise ApiKeyNotFound(key_id)
