"""API keys are never customers: a staff role or above, or scopes

A key with the customer role was held to no customer's own orders, so it saw and
cancelled everyone's. Such keys become restricted keys that may read the catalogue and
place orders — what a shop front end used them for — and nothing else.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FRONT_END_SCOPES = ["catalog:read", "orders:place"]


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_constraint(op.f("ck_api_keys_known_role"), type_="check")
        batch.add_column(sa.Column("scopes", sa.JSON(), nullable=True))
        batch.alter_column("role", existing_type=sa.String(length=20), nullable=True)
    op.execute(
        sa.text(
            "UPDATE api_keys SET role = NULL, scopes = :scopes WHERE role = 'customer'"
        ).bindparams(sa.bindparam("scopes", FRONT_END_SCOPES, type_=sa.JSON()))
    )
    with op.batch_alter_table("api_keys") as batch:
        batch.create_check_constraint(
            op.f("ck_api_keys_role_or_scopes"),
            "(role IN ('staff', 'manager', 'admin') AND scopes IS NULL)"
            " OR (role IS NULL AND scopes IS NOT NULL)",
        )


def downgrade() -> None:
    # A restricted key has no role to go back to: it is revoked rather than widened.
    op.execute(
        sa.text(
            "UPDATE api_keys SET role = 'staff', revoked_at = CURRENT_TIMESTAMP"
            " WHERE role IS NULL AND revoked_at IS NULL"
        )
    )
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_constraint(op.f("ck_api_keys_role_or_scopes"), type_="check")
        batch.drop_column("scopes")
        batch.alter_column("role", existing_type=sa.String(length=20), nullable=False)
        batch.create_check_constraint(
            op.f("ck_api_keys_known_role"), "role IN ('customer', 'staff', 'manager', 'admin')"
        )
