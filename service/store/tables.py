"""Every table of the decision log's database, declared once on one ``metadata``: the log, the
ruleset versions it keeps, draws and pools. The Alembic migrations create them; the code reads and
writes them through these declarations."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
decision_log = sa.Table(
    "decision_log", metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
              autoincrement=False),
    sa.Column("decision_id", sa.String(64), nullable=False, unique=True),
    # ISO 8601 in UTC at millisecond precision, always the same width: text order is time order
    # on every database, and the hash covers exactly the text that is stored.
    sa.Column("decided_at", sa.String(32), nullable=False, index=True),
    sa.Column("ruleset_id", sa.String(200), nullable=False),
    sa.Column("ruleset_version", sa.String(64), nullable=False),
    sa.Column("outcome", sa.String(64), nullable=False, index=True),
    sa.Column("candidate_id", sa.String(200), index=True),
    sa.Column("as_of", sa.String(10), nullable=False),
    sa.Column("request_id", sa.String(200)),
    sa.Column("caller", sa.String(64)),
    # JSON kept as text (not JSONB), byte for byte what was hashed.
    sa.Column("facts", sa.Text(), nullable=False),
    sa.Column("rulesets", sa.Text(), nullable=False),
    sa.Column("decision", sa.Text(), nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("record_hash", sa.String(64), nullable=False, unique=True),
    sa.Index("ix_decision_log_ruleset", "ruleset_id", "ruleset_version"),
)


# Every ruleset version a logged decision used, kept exactly (migration 0003): append-only.
ruleset_versions = sa.Table(
    "ruleset_versions", metadata,
    sa.Column("sha256", sa.String(64), primary_key=True),  # sha256 of ``content`` (UTF-8)
    sa.Column("ruleset_id", sa.String(200), nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("content", sa.Text(), nullable=False),  # the version's canonical JSON
    sa.Column("stored_at", sa.String(32), nullable=False),  # same form as decided_at
)


draws = sa.Table(
    "draws", metadata,
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
    # chunks run again after a lost worker or engine on a Dask cluster (migration 0007)
    sa.Column("retried_chunks", sa.Integer(), nullable=False, server_default="0"),
    sa.Index("ix_draws_ruleset", "ruleset_id", "ruleset_version"),
)
draw_invitations = sa.Table(
    "draw_invitations", metadata,
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
draw_candidates = sa.Table(
    "draw_candidates", metadata,
    sa.Column("draw_id", sa.String(128), sa.ForeignKey("draws.draw_id"), primary_key=True),
    sa.Column("position", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("candidate_id", sa.String(200)),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("score", sa.Integer()),
    sa.Column("rank", sa.Integer()),
    sa.Column("profile_submitted_at", sa.String(40)),
    sa.Column("detail", sa.Text(), nullable=False),
    sa.Index("ix_draw_candidates_candidate", "draw_id", "candidate_id"),
)
pools = sa.Table(
    "pools", metadata,
    sa.Column("pool_id", sa.String(128), primary_key=True),
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("size", sa.Integer(), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("source", sa.String(200)),
)
pool_candidates = sa.Table(
    "pool_candidates", metadata,
    sa.Column("pool_id", sa.String(128), sa.ForeignKey("pools.pool_id"), primary_key=True),
    sa.Column("position", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("facts", sa.Text(), nullable=False),
)


# Signed checkpoints of the log (migration 0005, ``checkpoints``): one per append, written in its
# transaction; append-only like the log.
log_checkpoints = sa.Table(
    "log_checkpoints", metadata,
    sa.Column("last_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
              autoincrement=False),
    sa.Column("first_seq", sa.BigInteger(), nullable=False),
    sa.Column("since_seq", sa.BigInteger(), nullable=False),  # the first record any covers
    sa.Column("record_hash", sa.String(64), nullable=False),  # that of record last_seq
    sa.Column("signed_at", sa.String(32), nullable=False),
    sa.Column("key_id", sa.String(16), nullable=False),
    sa.Column("mac", sa.String(64), nullable=False),
)


# Idempotency keys of POST /v1/decisions (migration 0006): a caller's key names the one decision
# it was given for, written in the transaction of that decision's append; append-only.
idempotency_keys = sa.Table(
    "idempotency_keys", metadata,
    sa.Column("caller", sa.String(64), primary_key=True),
    sa.Column("idempotency_key", sa.String(255), primary_key=True),
    sa.Column("request_sha256", sa.String(64), nullable=False),  # of the request it came with
    sa.Column("decision_id", sa.String(64), nullable=False),
    sa.Column("created_at", sa.String(32), nullable=False),
)
