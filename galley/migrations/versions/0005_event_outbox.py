"""the event outbox, its stream position and consumers' positions and inboxes

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from galley.db import UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("number", _ID, autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=60), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=True),
        sa.Column("published_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_events")),
        sa.UniqueConstraint("id", name=op.f("uq_events_id")),
    )
    op.create_index("ix_events_position", "events", ["position"], unique=True)
    op.create_index(
        "ix_events_unpublished",
        "events",
        ["number"],
        sqlite_where=sa.text("position IS NULL"),
        postgresql_where=sa.text("position IS NULL"),
    )
    stream = op.create_table(
        "event_stream",
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_event_stream")),
    )
    op.bulk_insert(stream, [{"name": "outbox", "position": 0}])
    op.create_table(
        "consumer_positions",
        sa.Column("consumer", sa.String(length=60), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("consumer", name=op.f("pk_consumer_positions")),
    )
    op.create_table(
        "consumed_events",
        sa.Column("consumer", sa.String(length=60), nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("consumed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id", name=op.f("pk_consumed_events")),
    )


def downgrade() -> None:
    op.drop_table("consumed_events")
    op.drop_table("consumer_positions")
    op.drop_table("event_stream")
    op.drop_index("ix_events_unpublished", table_name="events")
    op.drop_index("ix_events_position", table_name="events")
    op.drop_table("events")
