"""The decision log: one hash-chained record per decision, append-only.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

REFUSAL = "the decision log is append-only: UPDATE and DELETE are refused"


def upgrade() -> None:
    op.create_table(
        "decision_log",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  primary_key=True, autoincrement=False),
        sa.Column("decision_id", sa.String(64), nullable=False, unique=True),
        sa.Column("decided_at", sa.String(32), nullable=False),
        sa.Column("ruleset_id", sa.String(200), nullable=False),
        sa.Column("ruleset_version", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(64), nullable=False),
        sa.Column("candidate_id", sa.String(200)),
        sa.Column("as_of", sa.String(10), nullable=False),
        sa.Column("request_id", sa.String(200)),
        sa.Column("caller", sa.String(64)),
        sa.Column("facts", sa.Text(), nullable=False),
        sa.Column("rulesets", sa.Text(), nullable=False),
        sa.Column("decision", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("record_hash", sa.String(64), nullable=False, unique=True),
    )
    op.create_index("ix_decision_log_decided_at", "decision_log", ["decided_at"])
    op.create_index("ix_decision_log_outcome", "decision_log", ["outcome"])
    op.create_index("ix_decision_log_candidate_id", "decision_log", ["candidate_id"])
    op.create_index("ix_decision_log_ruleset", "decision_log", ["ruleset_id", "ruleset_version"])

    # The application has no update or delete path; these make the database refuse them too,
    # so that changing a record takes a deliberate act (dropping the trigger), not a mistake.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION decision_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION '{REFUSAL}'; END $$""")
        op.execute("""
            CREATE TRIGGER decision_log_append_only
            BEFORE UPDATE OR DELETE OR TRUNCATE ON decision_log
            FOR EACH STATEMENT EXECUTE FUNCTION decision_log_append_only()""")
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(f"""
                CREATE TRIGGER decision_log_no_{action.lower()} BEFORE {action} ON decision_log
                BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END""")


def downgrade() -> None:
    raise RuntimeError("the decision log is evidence: no migration drops it; archive it first "
                       "(`decisions export-log`), then drop it by hand if you must")
