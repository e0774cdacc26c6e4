"""Draws say how many chunks of the pool were decided again: on a Dask cluster a lost worker or
engine costs a retry of its chunk (docs/scaling.md), and the record keeps the count. Draws held
before have 0: they ran on one machine, where a crash is handled inside the batch.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Adding a column with a default rewrites no row, so the append-only triggers of the draw
    # tables (0002) do not fire. batch_alter_table: SQLite's ALTER is limited.
    with op.batch_alter_table("draws", recreate="never") as batch:
        batch.add_column(sa.Column("retried_chunks", sa.Integer(), nullable=False,
                                   server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("draws", recreate="never") as batch:
        batch.drop_column("retried_chunks")
