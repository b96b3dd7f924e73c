"""Credentials for tests: API keys made straight in the database under test."""

from __future__ import annotations

from sqlalchemy import URL

from galley.audit import service as audit
from galley.config import load_settings
from galley.db import Database
from galley.identity import service
from galley.identity.rules import KeyRole, Scope
from galley.identity.schemas import ApiKeyCreate
from galley.reactions import settled

# A fixed signing key for the test run; never used outside tests.
TEST_JWT_KEYS = "test:dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXkh"
# A fixed data key for the test run, and a second one to rotate to.
TEST_DATA_KEYS = "data1:ZGF0YS1rZXktb25lLWRhdGEta2V5LW9uZS1kYXRhLWtleS0x"
NEXT_DATA_KEY = "data2:ZGF0YS1rZXktdHdvLWRhdGEta2V5LXR3by1kYXRhLWtleS0yMg"


async def api_key(
    database_url: str | URL, role: KeyRole | None = "admin", *, scopes: list[Scope] | None = None
) -> str:
    """A key with `role`, or restricted to `scopes` when they are given."""
    settings = load_settings(database_url=database_url)
    database = Database(settings)
    new = ApiKeyCreate(name=f"test {role or scopes}", role=None if scopes else role, scopes=scopes)
    try:
        async with database.transaction() as session:
            _, secret = await settled(
                session, service.create_api_key(session, new, audit.CLI), settings
            )
    finally:
        await database.dispose()
    return secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}
