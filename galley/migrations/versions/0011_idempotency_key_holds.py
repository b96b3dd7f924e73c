"""an Idempotency-Key is claimed by any statement of its request: a function that holds it

`galley_hold_key` takes the key's transaction-scoped advisory lock, or fails the statement
that calls it with SQLSTATE GK409 while another transaction holds it, so the claim can
ride in whichever statement of the request goes first (`galley.http.idempotency`).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE OR REPLACE FUNCTION galley_hold_key(k bigint) RETURNS boolean "
        "LANGUAGE plpgsql VOLATILE AS $$ BEGIN "
        "IF pg_try_advisory_xact_lock(k) THEN RETURN true; END IF; "
        "RAISE EXCEPTION 'the Idempotency-Key is held by another request' "
        "USING ERRCODE = 'GK409'; END $$"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS galley_hold_key(bigint)")
