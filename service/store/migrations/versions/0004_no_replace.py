"""SQLite: no INSERT OR REPLACE into the append-only tables.

SQLite carries out ``INSERT OR REPLACE`` (and ``REPLACE INTO``) by deleting the row in the way
and inserting the new one, and that delete fires no DELETE trigger (unless recursive_triggers is
on, which an attacker's connection leaves off): a logged record could be rewritten, its chain
re-hashed, and verify-log found nothing. A BEFORE INSERT trigger on each append-only table now
refuses an insert whose key (or unique column) is already taken, before any conflict handling
runs. The kept ruleset versions, which the service inserts with ON CONFLICT DO NOTHING, have the
insert skipped instead: a version is kept once, by its sha256, and never replaced.

PostgreSQL needs nothing: its upsert (ON CONFLICT DO UPDATE) fires the UPDATE triggers of 0001-0003,
and it has no REPLACE.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

REFUSAL = "{table} is append-only: a row is never replaced"
# table: the columns, each unique on its own or together, an insert must not share with a row
UNIQUE = {
    "decision_log": (("seq",), ("decision_id",), ("record_hash",)),
    "draws": (("draw_id",),),
    "draw_invitations": (("draw_id", "rank"),),
    "draw_candidates": (("draw_id", "position"),),
}


def taken(table: str, keys: tuple[tuple[str, ...], ...]) -> str:
    """The WHEN clause: some row already has one of the new row's unique keys."""
    matches = " OR ".join("(" + " AND ".join(f"{column} = NEW.{column}" for column in key) + ")"
                          for key in keys)
    return f"EXISTS (SELECT 1 FROM {table} WHERE {matches})"


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, keys in UNIQUE.items():
        op.execute(f"""
            CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table}
            WHEN {taken(table, keys)}
            BEGIN SELECT RAISE(ABORT, '{REFUSAL.format(table=table)}'); END""")
    op.execute(f"""
        CREATE TRIGGER ruleset_versions_no_replace BEFORE INSERT ON ruleset_versions
        WHEN {taken("ruleset_versions", (("sha256",),))}
        BEGIN SELECT RAISE(IGNORE); END""")


def downgrade() -> None:
    raise RuntimeError("the log is evidence: its protections are not taken away by a migration")
