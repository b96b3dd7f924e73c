"""Roles, permissions and the password policy: plain data and functions, no I/O."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from importlib import resources
from typing import Literal, get_args

Role = Literal["customer", "staff", "manager", "admin"]
ROLES: tuple[Role, ...] = ("customer", "staff", "manager", "admin")

_CUSTOMER = frozenset(
    {"account:read", "catalog:read", "orders:read", "orders:place", "orders:cancel", "orders:pay"}
)
_STAFF = _CUSTOMER | {"locations:read", "stock:read", "orders:prepare"}
_MANAGER = _STAFF | {
    "catalog:write",
    "locations:write",
    "stock:adjust",
    "suppliers:read",
    "suppliers:write",
    "purchasing:read",
    "purchasing:write",
}
_ADMIN = _MANAGER | {
    "users:write",
    "api_keys:manage",
    "audit:read",
    "events:read",
    "webhooks:manage",
}

PERMISSIONS: dict[Role, frozenset[str]] = {
    "customer": _CUSTOMER,
    "staff": _STAFF,
    "manager": _MANAGER,
    "admin": _ADMIN,
}
# A customer acts on their own orders only; every other role on all of them.
OWN_ORDERS_ONLY: frozenset[Role] = frozenset({"customer"})

# Every permission there is: what a restricted API key may be given, one by one.
Scope = Literal[
    "account:read",
    "api_keys:manage",
    "audit:read",
    "catalog:read",
    "catalog:write",
    "events:read",
    "locations:read",
    "locations:write",
    "orders:cancel",
    "orders:pay",
    "orders:place",
    "orders:prepare",
    "orders:read",
    "purchasing:read",
    "purchasing:write",
    "stock:adjust",
    "stock:read",
    "suppliers:read",
    "suppliers:write",
    "users:write",
    "webhooks:manage",
]
SCOPES: tuple[Scope, ...] = get_args(Scope)
# An API key belongs to an integration, never to a customer (a key has no customer whose
# own orders alone it could be held to): it has a staff role or above, or scopes.
KeyRole = Literal["staff", "manager", "admin"]
KEY_ROLES: tuple[KeyRole, ...] = get_args(KeyRole)


def key_permissions(role: Role | None, scopes: Iterable[str] | None) -> frozenset[str]:
    """What a key may do: its role's permissions, or exactly its scopes."""
    if role is not None:
        return PERMISSIONS[role]
    return frozenset(scopes or ())


def beyond(grantor: frozenset[str], granted: frozenset[str]) -> list[str]:
    """The permissions a new key would have that whoever makes it does not: a key never
    gives more than its maker holds."""
    return sorted(granted - grantor)


MIN_PASSWORD_LENGTH = 12
# Long enough for any passphrase; longer ones only make each hash (and each log-in) dearer.
MAX_PASSWORD_LENGTH = 1024


def may(role: Role, permission: str) -> bool:
    return permission in PERMISSIONS[role]


def password_problem(password: str, email: str) -> str | None:
    """Why a password is refused, or None when it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"must be at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"must be at most {MAX_PASSWORD_LENGTH} characters"
    if password.strip().lower() == email.strip().lower():
        return "must not be the e-mail address"
    if password.lower() in _common_passwords():
        return "is one of the most common passwords"
    return None


@functools.cache
def _common_passwords() -> frozenset[str]:
    text = resources.files("galley.identity").joinpath("common_passwords.txt").read_text()
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip())
