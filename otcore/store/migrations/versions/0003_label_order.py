"""Management: label order and soft deletion of labels and videos.

``label.position`` orders a project's labels (the order sets the timeline's 1-9 keys); existing
labels keep their creation order (``position = id``). ``label.deleted_at`` and
``video.deleted_at`` mark a label or a video deleted from the app while its segments stay in the
edit log, so the deletion can be undone. Both nullable: rows that were never deleted carry none.

Timestamps are naive UTC, like the others (``UTCDateTime`` adds the zone when reading).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("label", schema=None) as batch_op:
        batch_op.add_column(sa.Column("position", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("deleted_at", sa.DateTime(), nullable=True))
    op.execute("UPDATE label SET position = id")
    with op.batch_alter_table("video", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deleted_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("video", schema=None) as batch_op:
        batch_op.drop_column("deleted_at")
    with op.batch_alter_table("label", schema=None) as batch_op:
        batch_op.drop_column("deleted_at")
        batch_op.drop_column("position")
