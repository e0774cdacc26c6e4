"""Signed checkpoints of the decision log (``service/store/checkpoints.py``): each append writes
one, an HMAC over the records it wrote and the last one's hash, with a key kept apart from the
database. Append-only, like the log.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

REFUSAL = "checkpoints of the decision log are append-only: UPDATE and DELETE are refused"


def upgrade() -> None:
    op.create_table(
        "log_checkpoints",
        sa.Column("last_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  primary_key=True, autoincrement=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("since_seq", sa.BigInteger(), nullable=False),
        sa.Column("record_hash", sa.String(64), nullable=False),
        sa.Column("signed_at", sa.String(32), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("mac", sa.String(64), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION log_checkpoints_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION '{REFUSAL}'; END $$""")
        op.execute("""
            CREATE TRIGGER log_checkpoints_append_only
            BEFORE UPDATE OR DELETE OR TRUNCATE ON log_checkpoints
            FOR EACH STATEMENT EXECUTE FUNCTION log_checkpoints_append_only()""")
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(f"""
                CREATE TRIGGER log_checkpoints_no_{action.lower()}
                BEFORE {action} ON log_checkpoints
                BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END""")
        # INSERT OR REPLACE deletes without firing the DELETE trigger (see 0004)
        op.execute(f"""
            CREATE TRIGGER log_checkpoints_no_replace BEFORE INSERT ON log_checkpoints
            WHEN EXISTS (SELECT 1 FROM log_checkpoints WHERE last_seq = NEW.last_seq)
            BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END""")


def downgrade() -> None:
    raise RuntimeError("the log's checkpoints are evidence: no migration drops them")
