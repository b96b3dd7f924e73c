"""Demo accounts: one for each kind of person who uses Galley, with fresh passwords."""

from __future__ import annotations

import secrets

from galley.audit.service import Origin
from galley.db import Database
from galley.identity import service as identity
from galley.identity.errors import EmailTaken
from galley.identity.rules import Role
from galley.reactions import settled

ACCOUNTS: tuple[tuple[Role, str, str], ...] = (
    ("admin", "admin@example.com", "Demo Admin"),
    ("staff", "staff@example.com", "Demo Staff"),
    ("customer", "customer@example.com", "Demo Customer"),
)


async def open_accounts(database: Database) -> list[tuple[Role, str, str | None]]:
    """Each account's role, e-mail and password; None for an e-mail that exists already
    (it keeps the password it has). Passwords are random, so no demo shares them."""
    opened: list[tuple[Role, str, str | None]] = []
    for role, email, name in ACCOUNTS:
        password = secrets.token_urlsafe(12)
        try:
            async with database.transaction() as session:
                demo = Origin(actor="demo")
                keys = database.settings.sealing_keys
                await settled(
                    session,
                    identity.create_user(
                        session, email, password, role, keys, origin=demo, name=name
                    ),
                    database.settings,
                )
        except EmailTaken:
            opened.append((role, email, None))
        else:
            opened.append((role, email, password))
    return opened


def how_to_log_in(accounts: list[tuple[Role, str, str | None]]) -> str:
    rows = [
        f"  {role:<9} {email:<22} {password or '(exists already; password unchanged)'}"
        for role, email, password in accounts
    ]
    return "\n".join(
        [
            "Log in with POST /v1/auth/token, or Authorize on /docs "
            "(e-mail as the username). These passwords are shown only now:",
            *rows,
        ]
    )
