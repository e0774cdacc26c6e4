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


# The policy workbench (migration 0008, ``service.workbench``). A draft is one new version of a
# ruleset being written in the browser: its whole YAML text and the whole text of the ruleset's
# case file, the version in force it started from (and the texts it had then, to bring the draft
# up to date by a three-way merge when that version changes), and where it stands in review. A
# draft is edited: its row changes; what happened to it is in ``draft_trail``.
drafts = sa.Table(
    "drafts", metadata,
    sa.Column("draft_id", sa.String(32), primary_key=True),
    sa.Column("ruleset_id", sa.String(200), nullable=False, index=True),
    sa.Column("version", sa.String(64), nullable=False),  # the version the draft will publish
    sa.Column("path", sa.String(400), nullable=False),  # its file, relative to the folder
    sa.Column("effective_from", sa.String(10), nullable=False),
    sa.Column("content", sa.Text(), nullable=False),
    sa.Column("cases_path", sa.String(400)),
    sa.Column("cases_content", sa.Text()),
    sa.Column("base_version", sa.String(64)),  # None: started from scratch
    sa.Column("base_sha256", sa.String(64)),  # of the base version (RulesetVersion.sha256)
    # of every (version, sha256) of the ruleset when the draft started: any version
    # published since, by anyone, means the draft must be brought up to date first
    sa.Column("ruleset_sha256", sa.String(64), nullable=False),
    sa.Column("base_content", sa.Text()),
    sa.Column("base_cases_sha256", sa.String(64)),  # of the case file's bytes when it started
    sa.Column("base_cases_content", sa.Text()),
    sa.Column("author", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("checked_ok", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("check", sa.Text(), nullable=False, server_default="{}"),  # the last check, JSON
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("updated_at", sa.String(32), nullable=False),
)
# What happened to every draft, append-only and hash-chained like the decision log: who, when,
# what, why, and the sha256 of the draft's texts at that moment (``draft_contents`` keeps them).
draft_trail = sa.Table(
    "draft_trail", metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
              autoincrement=False),
    sa.Column("draft_id", sa.String(32), nullable=False, index=True),
    sa.Column("at", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # the draft's state after the action
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("ruleset_id", sa.String(200), nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("content_sha256", sa.String(64), nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("record_hash", sa.String(64), nullable=False, unique=True),
)
# Every text a trail record names by sha256, kept exactly: append-only, a text kept once.
draft_contents = sa.Table(
    "draft_contents", metadata,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("content", sa.Text(), nullable=False),
)
# Impact runs of a draft against the version in force: progress while they run, so that a long
# run can be left and come back to; the report when done.
draft_impacts = sa.Table(
    "draft_impacts", metadata,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("draft_id", sa.String(32), nullable=False, index=True),
    sa.Column("content_sha256", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # running, done, failed
    sa.Column("done", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("total", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("started_at", sa.String(32), nullable=False),
    sa.Column("updated_at", sa.String(32), nullable=False),
    sa.Column("started_by", sa.String(64), nullable=False),
    sa.Column("report", sa.Text()),
    sa.Column("problem", sa.Text()),
)
