"""Roles, permissions and the password policy: plain data and functions, no I/O."""

from __future__ import annotations

import functools
from importlib import resources
from typing import Literal

Role = Literal["customer", "staff", "manager", "admin"]
ROLES: tuple[Role, ...] = ("customer", "staff", "manager", "admin")

_CUSTOMER = frozenset(
    {"account:read", "catalog:read", "orders:read", "orders:place", "orders:cancel"}
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

MIN_PASSWORD_LENGTH = 12


def may(role: Role, permission: str) -> bool:
    return permission in PERMISSIONS[role]


def password_problem(password: str, email: str) -> str | None:
    """Why a password is refused, or None when it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"must be at least {MIN_PASSWORD_LENGTH} characters"
    if password.strip().lower() == email.strip().lower():
        return "must not be the e-mail address"
    if password.lower() in _common_passwords():
        return "is one of the most common passwords"
    return None


@functools.cache
def _common_passwords() -> frozenset[str]:
    text = resources.files("galley.identity").joinpath("common_passwords.txt").read_text()
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip())
