"""answers kept for idempotent replay are sealed

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from galley.http.idempotency import BODY
from galley.privacy.keys import data_keys

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Answers stored before this are sealed, so a replay can open them."""
    answers = sa.table("idempotency_keys", sa.column("id"), sa.column("response_body"))
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(answers.c.id, answers.c.response_body).where(answers.c.response_body.is_not(None))
    ).all()
    if not rows:
        return
    settings = context.config.attributes.get("settings")
    if settings is None or not settings.data_keys:
        raise RuntimeError(
            f"{len(rows)} stored answers are to be sealed: set GALLEY_DATA_KEYS and migrate again"
        )
    keys = data_keys(settings.data_keys)
    for answer_id, body in rows:
        bind.execute(
            answers.update()
            .where(answers.c.id == answer_id)
            .values(response_body=keys.seal(body, BODY))
        )


def downgrade() -> None:
    """Sealed answers are dropped rather than kept unreadable: they only serve replays."""
    op.execute("DELETE FROM idempotency_keys")
