"""Idempotency keys: a decision sent again with the same ``Idempotency-Key`` header (after a
503, a timeout, a lost answer) gets the first answer instead of a second record. Each key names
the decision it was given for, is written in the same transaction as that decision's record,
and is append-only like the log.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

REFUSAL = "idempotency keys are append-only: UPDATE and DELETE are refused"


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("caller", sa.String(64), primary_key=True),
        sa.Column("idempotency_key", sa.String(255), primary_key=True),
        sa.Column("request_sha256", sa.String(64), nullable=False),
        sa.Column("decision_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION idempotency_keys_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION '{REFUSAL}'; END $$""")
        op.execute("""
            CREATE TRIGGER idempotency_keys_append_only
            BEFORE UPDATE OR DELETE OR TRUNCATE ON idempotency_keys
            FOR EACH STATEMENT EXECUTE FUNCTION idempotency_keys_append_only()""")
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(f"""
                CREATE TRIGGER idempotency_keys_no_{action.lower()}
                BEFORE {action} ON idempotency_keys
                BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END""")
        # INSERT OR REPLACE deletes without firing the DELETE trigger (see 0004)
        op.execute(f"""
            CREATE TRIGGER idempotency_keys_no_replace BEFORE INSERT ON idempotency_keys
            WHEN EXISTS (SELECT 1 FROM idempotency_keys WHERE caller = NEW.caller
                         AND idempotency_key = NEW.idempotency_key)
            BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END""")


def downgrade() -> None:
    raise RuntimeError("idempotency keys name logged decisions: no migration drops them")
