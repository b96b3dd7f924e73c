from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from galley.identity.rules import Role

EMAIL_PATTERN = r"^[^@\s\x00]{1,64}@[^@\s\x00]{1,255}$"
PHONE_PATTERN = r"^\+?[0-9][0-9 ()./\-]{2,31}$"
NAME_PATTERN = r"^[^\x00-\x1f\x7f]+$"


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    email: str = Field(max_length=320, pattern=EMAIL_PATTERN, examples=["ada@example.com"])
    password: str = Field(min_length=1, max_length=1024)


class Registration(Credentials):
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
    role: Role
    email: str | None = None
    name: str | None = None
    phone: str | None = None


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00]*$")
    role: Role
    expires_at: dt.datetime | None = None


class ApiKeyOut(BaseModel):
    id: str
    name: str
    role: Role
    prefix: str = Field(description="The start of the secret, to recognise it by.")
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None


class ApiKeyCreated(ApiKeyOut):
    secret: str = Field(description="Shown this once; only a hash is kept.")
