"""Label descriptions: ``label.description``, optional text that says what the label means.

The text towers encode a label's description instead of its name when it has one (PLOT-TAL's
"verbose" class text, zero-shot proposals); ELAN controlled vocabularies and Label Studio label
hints carry it through import and export. Nullable: existing labels have none.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("label", schema=None) as batch_op:
        batch_op.add_column(sa.Column("description", sa.Text(), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("label", schema=None) as batch_op:
        batch_op.drop_column("description")
