"""The policy workbench: drafts of ruleset versions written in the browser, their trail (who
created, saved, submitted, reviewed, published or was refused what, when and why: append-only
and hash-chained like the decision log, checked by `decisions verify-log`), the texts the trail
names, and impact runs with their progress.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

REFUSAL = "{table} is append-only: UPDATE and DELETE are refused"


def upgrade() -> None:
    op.create_table(
        "drafts",
        sa.Column("draft_id", sa.String(32), primary_key=True),
        sa.Column("ruleset_id", sa.String(200), nullable=False, index=True),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("path", sa.String(400), nullable=False),
        sa.Column("effective_from", sa.String(10), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("cases_path", sa.String(400)),
        sa.Column("cases_content", sa.Text()),
        sa.Column("base_version", sa.String(64)),
        sa.Column("base_sha256", sa.String(64)),
        # of every (version, sha256) of the ruleset when the draft started: any version
        # published since, by anyone, means the draft must be brought up to date first
        sa.Column("ruleset_sha256", sa.String(64), nullable=False),
        sa.Column("base_content", sa.Text()),
        sa.Column("base_cases_sha256", sa.String(64)),
        sa.Column("base_cases_content", sa.Text()),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        sa.Column("checked_ok", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("check", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "draft_trail",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=False),
        sa.Column("draft_id", sa.String(32), nullable=False, index=True),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("ruleset_id", sa.String(200), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("record_hash", sa.String(64), nullable=False, unique=True),
    )
    op.create_table(
        "draft_contents",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("content", sa.Text(), nullable=False),
    )
    op.create_table(
        "draft_impacts",
        sa.Column("run_id", sa.String(32), primary_key=True),
        sa.Column("draft_id", sa.String(32), nullable=False, index=True),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("total", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("started_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.Column("started_by", sa.String(64), nullable=False),
        sa.Column("report", sa.Text()),
        sa.Column("problem", sa.Text()),
    )
    # The trail and the texts it names are evidence, like the log (0001-0006).
    for table in ("draft_trail", "draft_contents"):
        refusal = REFUSAL.format(table=table)
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"""
                CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION '{refusal}'; END $$""")
            op.execute(f"""
                CREATE TRIGGER {table}_append_only
                BEFORE UPDATE OR DELETE OR TRUNCATE ON {table}
                FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()""")
        else:
            for action in ("UPDATE", "DELETE"):
                op.execute(f"""
                    CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table}
                    BEGIN SELECT RAISE(ABORT, '{refusal}'); END""")
    if op.get_bind().dialect.name == "sqlite":
        # INSERT OR REPLACE deletes without firing the DELETE trigger (see 0004)
        op.execute(f"""
            CREATE TRIGGER draft_trail_no_replace BEFORE INSERT ON draft_trail
            WHEN EXISTS (SELECT 1 FROM draft_trail WHERE seq = NEW.seq
                         OR record_hash = NEW.record_hash)
            BEGIN SELECT RAISE(ABORT, '{REFUSAL.format(table="draft_trail")}'); END""")
        op.execute("""
            CREATE TRIGGER draft_contents_no_replace BEFORE INSERT ON draft_contents
            WHEN EXISTS (SELECT 1 FROM draft_contents WHERE sha256 = NEW.sha256)
            BEGIN SELECT RAISE(IGNORE); END""")


def downgrade() -> None:
    raise RuntimeError("the workbench's trail is evidence: no migration drops it")
