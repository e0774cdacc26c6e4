"""Ruleset versions: every ruleset version a logged decision used, kept exactly (its canonical
JSON, whose sha256 is the key; the texts a logged decision shows of its rules are read from it),
append-only like the log.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

REFUSAL = "ruleset versions are append-only: UPDATE and DELETE are refused"


def upgrade() -> None:
    op.create_table(
        "ruleset_versions",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("ruleset_id", sa.String(200), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("stored_at", sa.String(32), nullable=False),
    )

    # The application has no update or delete path; the database refuses them too, so that
    # changing a kept version takes a deliberate act (dropping the trigger), not a mistake.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION ruleset_versions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION '{REFUSAL}'; END $$""")
        op.execute("""
            CREATE TRIGGER ruleset_versions_append_only
            BEFORE UPDATE OR DELETE OR TRUNCATE ON ruleset_versions
            FOR EACH STATEMENT EXECUTE FUNCTION ruleset_versions_append_only()""")
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(f"""
                CREATE TRIGGER ruleset_versions_no_{action.lower()}
                BEFORE {action} ON ruleset_versions
                BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END""")


def downgrade() -> None:
    raise RuntimeError("the kept ruleset versions are evidence (the logged decisions name their "
                       "rules by key; what the rules say is here): no migration drops them")
