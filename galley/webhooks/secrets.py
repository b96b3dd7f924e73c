"""Signing secrets, kept sealed on the row they sign for (`galley.privacy.keys`): a new
one, a rotation that lets the replaced one sign on for a while, and the ones that sign now.
Webhook endpoints and suppliers keep theirs this way."""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from dataclasses import dataclass

from galley.privacy.keys import DataKeys
from galley.webhooks import rules

# 32 random bytes: as long as the HMAC-SHA256 key they become.
_SECRET_BYTES = 32


def new_secret() -> str:
    """`whsec_` and base64 of random bytes: the form Standard Webhooks libraries read."""
    return rules.SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()


@dataclass(frozen=True)
class SigningSecrets:
    """The columns of `table` that hold a row's current and previous secret. Each is
    sealed with its own column's name, so one cannot be passed off as the other."""

    table: str
    current: str = "secret"
    previous: str = "previous_secret"
    previous_expires_at: str = "previous_secret_expires_at"

    def give(self, keys: DataKeys) -> tuple[str, dict[str, object]]:
        """A first secret, shown once, and the column values that store it."""
        secret = new_secret()
        return secret, {self.current: keys.seal(secret, self._column(self.current))}

    def rotate(
        self, keys: DataKeys, row: object, now: dt.datetime
    ) -> tuple[str, dt.datetime, dict[str, object]]:
        """A new secret, shown once; until when the one it replaces keeps signing
        (`rules.ROTATION_OVERLAP`; one replaced before that stops at once); and the
        column values that store both."""
        current = keys.unseal(getattr(row, self.current), self._column(self.current))
        until = now + rules.ROTATION_OVERLAP
        secret, values = self.give(keys)
        return (
            secret,
            until,
            values
            | {
                self.previous: keys.seal(current, self._column(self.previous)),
                self.previous_expires_at: until,
            },
        )

    def signing(self, keys: DataKeys, row: object, now: dt.datetime) -> tuple[str, ...]:
        """The secrets that sign now: the current one, and the previous one until it expires."""
        found = [keys.unseal(getattr(row, self.current), self._column(self.current))]
        previous = getattr(row, self.previous)
        expires = getattr(row, self.previous_expires_at)
        if previous is not None and expires is not None and expires > now:
            found.append(keys.unseal(previous, self._column(self.previous)))
        return tuple(found)

    def _column(self, name: str) -> str:
        return f"{self.table}.{name}"
