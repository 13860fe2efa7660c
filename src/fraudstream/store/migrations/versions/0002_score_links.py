"""scores carry merchant, device and IP (the dashboard's graph links)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

Transactions only the stream saw (no ``payments`` row) had nothing but their
card in the store, so the dashboard's neighbourhood could not link them by
merchant, device or IP. The ``scored_transaction`` record carries all three; the
sink now stores them. Nullable: rows written before this revision stay valid.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

_COLUMNS = (("merchant_id", 64), ("device_id", 64), ("ip_address", 45))


def upgrade() -> None:
    with op.batch_alter_table("scores", schema=None) as batch_op:
        for name, length in _COLUMNS:
            batch_op.add_column(sa.Column(name, sa.String(length=length), nullable=True))
            batch_op.create_index(batch_op.f(f"ix_scores_{name}"), [name], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("scores", schema=None) as batch_op:
        for name, _ in reversed(_COLUMNS):
            batch_op.drop_index(batch_op.f(f"ix_scores_{name}"))
            batch_op.drop_column(name)
