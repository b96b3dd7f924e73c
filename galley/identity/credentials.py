"""Passwords, access tokens and opaque secrets: how each is made and checked."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import secrets
from dataclasses import dataclass

import jwt
from pwdlib import PasswordHash

from galley.identity.rules import ROLES, Role

API_KEY_PREFIX = "gk_live_"
_ALGORITHM = "HS256"


@functools.cache
def _hasher() -> PasswordHash:
    """Argon2id with the library's current recommended parameters."""
    return PasswordHash.recommended()


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def check_password(password: str, stored: str | None) -> tuple[bool, str | None]:
    """Whether it matches, and a new hash when the parameters have changed since.

    With no stored hash (no such user) a dummy hash is checked all the same, so an
    unknown e-mail takes as long to refuse as a wrong password.
    """
    valid, updated = _hasher().verify_and_update(password, stored or _dummy_hash())
    return (valid and stored is not None), updated


@functools.cache
def _dummy_hash() -> str:
    return _hasher().hash(secrets.token_urlsafe(16))


def opaque_secret(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """How opaque secrets are stored: they are long and random, so SHA-256 suffices."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class AccessClaims:
    user_id: int
    role: Role


class InvalidToken(Exception):
    pass


def issue_access_token(
    user_id: int, role: Role, keys: list[tuple[str, bytes]], lifetime: dt.timedelta
) -> str:
    kid, key = keys[0]
    now = dt.datetime.now(dt.UTC)
    claims = {"sub": str(user_id), "role": role, "iat": now, "exp": now + lifetime}
    return jwt.encode(claims, key, algorithm=_ALGORITHM, headers={"kid": kid})


def read_access_token(token: str, keys: list[tuple[str, bytes]]) -> AccessClaims:
    """The claims of a token signed by one of `keys`; `InvalidToken` for anything else
    (expired, tampered, unknown key, another algorithm such as `none`)."""
    try:
        kid = str(jwt.get_unverified_header(token).get("kid"))
        key = dict(keys)[kid]
        claims = jwt.decode(
            token, key, algorithms=[_ALGORITHM], options={"require": ["exp", "sub", "iat"]}
        )
        role = claims.get("role")
        if role not in ROLES:
            raise InvalidToken("unknown role")
        return AccessClaims(user_id=int(claims["sub"]), role=role)
    except (jwt.PyJWTError, KeyError, ValueError, TypeError):
        raise InvalidToken("invalid token") from None
