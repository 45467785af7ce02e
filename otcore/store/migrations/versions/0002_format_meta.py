"""Format metadata: a JSON ``meta`` column on project, video, label and segment.

What an annotation file carries that the store has no column for (ActivityNet ``subset`` and
extra fields, Label Studio task data and ids, ELAN tiers and attributes, WebVTT cue settings)
is kept here, keyed by format name, so that import then export in the same format returns the
same content. Nullable: rows made in the app carry none.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("project", "video", "label", "segment")


def upgrade() -> None:
    """Apply this revision."""
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("meta", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    for table in reversed(_TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("meta")
