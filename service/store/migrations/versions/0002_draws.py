"""Draws (issue 7): each draw held, its invitations, the outcome of every candidate of its pool;
and stored pools of candidate profiles that a draw can be run over.

The draw tables are append-only like the decision log: a draw is evidence of who was invited and
why the others were not. Stored pools are input data and can be removed.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

APPEND_ONLY = ("draws", "draw_invitations", "draw_candidates")
REFUSAL = "draws are append-only: UPDATE and DELETE are refused"


def upgrade() -> None:
    op.create_table(
        "draws",
        sa.Column("draw_id", sa.String(128), primary_key=True),
        sa.Column("ruleset_id", sa.String(200), nullable=False),
        sa.Column("ruleset_version", sa.String(64), nullable=False),
        sa.Column("ruleset_sha256", sa.String(64), nullable=False),
        sa.Column("draw_date", sa.String(10), nullable=False),
        sa.Column("held_at", sa.String(32), nullable=False),
        sa.Column("caller", sa.String(64)),
        sa.Column("request_id", sa.String(200)),
        sa.Column("pool_size", sa.Integer(), nullable=False),
        sa.Column("pool_sha256", sa.String(64), nullable=False),
        sa.Column("results_sha256", sa.String(64), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
    )
    op.create_index("ix_draws_ruleset", "draws", ["ruleset_id", "ruleset_version"])
    op.create_table(
        "draw_invitations",
        sa.Column("draw_id", sa.String(128), sa.ForeignKey("draws.draw_id"), primary_key=True),
        sa.Column("rank", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("candidate_id", sa.String(200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("profile_submitted_at", sa.String(40)),
        sa.Column("expires_on", sa.String(10), nullable=False),
        sa.Column("decision_id", sa.String(64), nullable=False),
        sa.Column("log_seq", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "draw_candidates",
        sa.Column("draw_id", sa.String(128), sa.ForeignKey("draws.draw_id"), primary_key=True),
        sa.Column("position", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("candidate_id", sa.String(200)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("score", sa.Integer()),
        sa.Column("rank", sa.Integer()),
        sa.Column("profile_submitted_at", sa.String(40)),
        sa.Column("detail", sa.Text(), nullable=False),
    )
    op.create_index("ix_draw_candidates_candidate", "draw_candidates",
                    ["draw_id", "candidate_id"])
    op.create_table(
        "pools",
        sa.Column("pool_id", sa.String(128), primary_key=True),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("source", sa.String(200)),
    )
    op.create_table(
        "pool_candidates",
        sa.Column("pool_id", sa.String(128), sa.ForeignKey("pools.pool_id"), primary_key=True),
        sa.Column("position", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("facts", sa.Text(), nullable=False),
    )

    # The application has no update or delete path for draws; the database refuses them too.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION draws_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION '{REFUSAL}'; END $$""")
        for table in APPEND_ONLY:
            op.execute(f"""
                CREATE TRIGGER {table}_append_only
                BEFORE UPDATE OR DELETE OR TRUNCATE ON {table}
                FOR EACH STATEMENT EXECUTE FUNCTION draws_append_only()""")
    else:
        for table in APPEND_ONLY:
            for action in ("UPDATE", "DELETE"):
                op.execute(f"""
                    CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table}
                    BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END""")


def downgrade() -> None:
    raise RuntimeError("draws are evidence: no migration drops them; export them first")
