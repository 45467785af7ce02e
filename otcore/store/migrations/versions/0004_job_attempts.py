"""Job attempts: ``attempts`` (claims so far) and ``max_attempts`` on the job table.

A job whose worker died (process gone, or no heartbeat) is queued again for another worker while
``attempts < max_attempts``; existing rows get 0 and 3.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("max_attempts", sa.Integer(), nullable=False, server_default="3"))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.drop_column("max_attempts")
        batch_op.drop_column("attempts")
