from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from galley.identity.rules import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    SCOPES,
    KeyRole,
    Role,
    Scope,
)
from galley.timestamps import Timestamp

# What pydantic's patterns mean by \s, spelled out: in the ECMA-262 patterns a client reads
# from the spec, \s is another set (U+FEFF, not U+0085), so "\s" would say something else.
SPACES = r"\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
EMAIL_PATTERN = rf"^[^@{SPACES}\x00]{{1,64}}@[^@{SPACES}\x00]{{1,255}}$"
PHONE_PATTERN = r"^\+?[0-9][0-9 ()./\-]{2,31}$"
NAME_PATTERN = r"^[^\x00-\x1f\x7f]+$"


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    email: str = Field(max_length=320, pattern=EMAIL_PATTERN, examples=["ada@example.com"])
    # Not held to the rules for a new password: those may grow stricter, and a password set
    # before still logs in.
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class Registration(Credentials):
    password: str = Field(
        min_length=MIN_PASSWORD_LENGTH,
        max_length=MAX_PASSWORD_LENGTH,
        description=f"At least {MIN_PASSWORD_LENGTH} characters; neither the e-mail address "
        "nor one of the most common passwords.",
    )
    name: str | None = Field(
        default=None, min_length=1, max_length=200, pattern=NAME_PATTERN, examples=["Ada Lovelace"]
    )
    phone: str | None = Field(default=None, pattern=PHONE_PATTERN, examples=["+44 20 7946 0958"])


class UserCreate(Registration):
    role: Role = "staff"


class TokenPair(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_token: str


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    refresh_token: str = Field(min_length=1, max_length=200)


class UserOut(BaseModel):
    id: str
    email: str
    name: str | None
    phone: str | None
    role: Role
    disabled: bool
    created_at: dt.datetime


class UserChange(BaseModel):
    """Only the fields sent change. Disabling an account also ends its sessions."""

    model_config = ConfigDict(extra="forbid", strict=True)

    role: Role | None = None
    disabled: bool | None = None


class Me(BaseModel):
    kind: str = Field(examples=["user"])
    id: str
    role: Role | None = Field(description="None for a key restricted to scopes.")
    scopes: list[Scope] | None = Field(
        default=None, description="What a restricted API key may do; None otherwise."
    )
    email: str | None = None
    name: str | None = None
    phone: str | None = None


class ApiKeyCreate(BaseModel):
    """A key has a role (staff, manager or admin) or scopes, never both: a key restricted
    to the scopes it needs, such as a shop front end's `catalog:read` and `orders:place`.
    A key never has the customer role, and never more permissions than its maker."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00]*$")
    role: KeyRole | None = None
    scopes: list[Scope] | None = Field(
        default=None, min_length=1, max_length=len(SCOPES), examples=[["catalog:read"]]
    )
    expires_at: Timestamp | None = None

    @model_validator(mode="after")
    def _role_or_scopes(self) -> ApiKeyCreate:
        if (self.role is None) == (self.scopes is None):
            raise ValueError("give the key either a role or scopes")
        return self


class ApiKeyOut(BaseModel):
    id: str
    name: str
    role: KeyRole | None
    scopes: list[Scope] | None
    prefix: str = Field(description="The start of the secret, to recognise it by.")
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None


class ApiKeyCreated(ApiKeyOut):
    secret: str = Field(description="Shown this once; only a hash is kept.")
