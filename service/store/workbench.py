"""Where the policy workbench keeps its drafts (migration 0008): the draft rows, their trail and
the texts it names, and impact runs. Plain rows in, plain dicts out; what a draft means (checks,
roles, publishing) is ``service.workbench``'s. No Flask here.

The trail is append-only and hash-chained like the decision log: each record's ``record_hash``
covers every column and the previous record's hash, so a record altered, removed or reordered
breaks the chain (``verify_trail``, run by `decisions verify-log`), and the migration's triggers
make the database refuse UPDATE and DELETE on it. Appends take the log's kind of lock (SQLite's
BEGIN IMMEDIATE, a PostgreSQL advisory lock of their own), so the chain stays linear; a trail
record is written in the transaction of the draft change it records.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from .log import GENESIS, Store, database_errors, timestamp
from .tables import draft_contents, draft_impacts, draft_trail, drafts

TRAIL_LOCK = 0x6465_6369_6C6F_6703  # "decision log" + 3: the trail's appends
TRAIL_HASHED = ("seq", "draft_id", "at", "actor", "action", "state", "reason", "ruleset_id",
                "version", "content_sha256", "prev_hash")


def now() -> str:
    return timestamp(dt.datetime.now(dt.UTC))


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def trail_hash(row: Mapping[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps({k: row[k] for k in TRAIL_HASHED},
                                       option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True)
class TrailEntry:
    """One thing that happened to a draft, as the trail records it."""

    actor: str
    action: str  # created, saved, submitted, approved, returned, published, refused, ...
    reason: str
    content: str  # the draft's texts at that moment (their sha256 is recorded, the text kept)


@contextmanager
def _appending(store: Store) -> Iterator[Connection]:
    """A write transaction that holds the trail's lock (``Store._guarded``)."""
    with store._guarded(store._write_connection, TRAIL_LOCK) as conn:
        yield conn


def _append_trail(store: Store, conn: Connection, draft: Mapping[str, Any],
                  entry: TrailEntry) -> dict:
    sha = text_sha256(entry.content)
    dialect = postgresql if store.dialect == "postgresql" else sqlite
    conn.execute(dialect.insert(draft_contents).on_conflict_do_nothing(),
                 [{"sha256": sha, "content": entry.content}])
    c = draft_trail.c
    last = conn.execute(sa.select(c.seq, c.record_hash).order_by(c.seq.desc()).limit(1)).first()
    seq, prev = (last.seq, last.record_hash) if last else (0, GENESIS)
    row = {"seq": seq + 1, "draft_id": draft["draft_id"], "at": now(), "actor": entry.actor,
           "action": entry.action, "state": draft["state"], "reason": entry.reason,
           "ruleset_id": draft["ruleset_id"], "version": draft["version"],
           "content_sha256": sha, "prev_hash": prev}
    row["record_hash"] = trail_hash(row)
    conn.execute(draft_trail.insert(), [row])
    return row


# ----------------------------------------------------------------------------------- drafts
def insert_draft(store: Store, row: Mapping[str, Any], entry: TrailEntry) -> dict:
    """A new draft and the trail record of its creation, in one transaction."""
    with database_errors(), _appending(store) as conn:
        conn.execute(drafts.insert(), [dict(row)])
        _append_trail(store, conn, row, entry)
    return dict(row)


def update_draft(store: Store, draft_id: str, changes: Mapping[str, Any],
                 entry: TrailEntry | None, expected_state: str | tuple[str, ...] | None = None
                 ) -> dict | None:
    """Change a draft and record why, in one transaction. With ``expected_state``, only while
    the draft is still in that state (two reviewers at once: the second finds it moved on);
    None when it is not."""
    states = (expected_state,) if isinstance(expected_state, str) else expected_state
    with database_errors(), _appending(store) as conn:
        query = sa.select(drafts).where(drafts.c.draft_id == draft_id)
        current = conn.execute(query).first()
        if current is None or (states is not None and current.state not in states):
            return None
        row = {**current._mapping, **changes, "updated_at": now()}
        conn.execute(drafts.update().where(drafts.c.draft_id == draft_id)
                     .values(**{k: v for k, v in row.items() if k != "draft_id"}))
        if entry is not None:
            _append_trail(store, conn, row, entry)
    return row


def record(store: Store, draft: Mapping[str, Any], entry: TrailEntry) -> dict:
    """A trail record that changes nothing of the draft (a refused publication)."""
    with database_errors(), _appending(store) as conn:
        return _append_trail(store, conn, draft, entry)


def get_draft(store: Store, draft_id: str) -> dict | None:
    with database_errors(), store.engine.connect() as conn:
        row = conn.execute(sa.select(drafts).where(drafts.c.draft_id == draft_id)).first()
    return dict(row._mapping) if row else None


def list_drafts(store: Store, states: tuple[str, ...] | None = None,
                limit: int = 200) -> list[dict]:
    """The drafts, the latest changed first, without their texts."""
    c = drafts.c
    query = sa.select(c.draft_id, c.ruleset_id, c.version, c.effective_from, c.base_version,
                      c.author, c.state, c.checked_ok, c.created_at, c.updated_at) \
        .order_by(c.updated_at.desc()).limit(limit)
    if states:
        query = query.where(c.state.in_(states))
    with database_errors(), store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


# ------------------------------------------------------------------------------------ trail
def trail(store: Store, draft_id: str | None = None, limit: int = 500) -> list[dict]:
    """Trail records in order (of one draft, or the latest ``limit`` of all)."""
    c = draft_trail.c
    query = sa.select(draft_trail)
    if draft_id is not None:
        query = query.where(c.draft_id == draft_id).order_by(c.seq)
    else:
        query = query.order_by(c.seq.desc()).limit(limit)
    with database_errors(), store.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    return rows if draft_id is not None else rows[::-1]


def content(store: Store, sha256: str) -> str | None:
    with database_errors(), store.engine.connect() as conn:
        return conn.execute(sa.select(draft_contents.c.content)
                            .where(draft_contents.c.sha256 == sha256)).scalar()


@dataclass(frozen=True)
class TrailVerification:
    checked: int
    head_seq: int | None
    problem: str | None  # the first record that does not hold, in words; None: intact

    @property
    def intact(self) -> bool:
        return self.problem is None


def verify_trail(store: Store, batch: int = 500) -> TrailVerification:
    """Walk the trail from the first record: each hash, each link, each number, and the text
    each record names (kept, and hashing to its sha256). The first that does not hold is
    reported."""
    c = draft_trail.c
    expected_seq, prev, after, checked, head = 1, GENESIS, 0, 0, None
    while True:
        with database_errors(), store.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(
                sa.select(draft_trail).where(c.seq > after).order_by(c.seq).limit(batch))]
            shas = {r["content_sha256"] for r in rows}
            kept = {r.sha256: r.content for r in conn.execute(
                sa.select(draft_contents).where(draft_contents.c.sha256.in_(sorted(shas))))}
        for row in rows:
            where = f"trail record {row['seq']} ({row['action']} of draft {row['draft_id']})"
            if trail_hash(row) != row["record_hash"]:
                return TrailVerification(checked, head, f"{where}: its content no longer "
                                                        "matches its hash")
            if row["prev_hash"] != prev:
                return TrailVerification(checked, head, f"{where}: the record before it is "
                                                        "missing, altered or reordered")
            if row["seq"] != expected_seq:
                return TrailVerification(checked, head, f"{where}: numbered {row['seq']}, "
                                                        f"expected {expected_seq}")
            text = kept.get(row["content_sha256"])
            if text is None or text_sha256(text) != row["content_sha256"]:
                return TrailVerification(checked, head, f"{where}: the draft text it names "
                                                        "is missing or altered")
            checked, head = checked + 1, row["seq"]
            expected_seq, prev = row["seq"] + 1, row["record_hash"]
        if len(rows) < batch:
            return TrailVerification(checked, head, None)
        after = rows[-1]["seq"]


# ----------------------------------------------------------------------------- impact runs
def start_impact(store: Store, row: Mapping[str, Any]) -> None:
    with database_errors(), store.engine.connect() as conn, conn.begin():
        conn.execute(draft_impacts.insert(), [dict(row)])


def progress_impact(store: Store, run_id: str, **changes: Any) -> None:
    with database_errors(), store.engine.connect() as conn, conn.begin():
        conn.execute(draft_impacts.update().where(draft_impacts.c.run_id == run_id)
                     .values(**changes, updated_at=now()))


def impact_runs(store: Store, draft_id: str) -> list[dict]:
    """The draft's impact runs, the latest first."""
    c = draft_impacts.c
    with database_errors(), store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            sa.select(draft_impacts).where(c.draft_id == draft_id)
            .order_by(c.started_at.desc()))]


def get_impact(store: Store, run_id: str) -> dict | None:
    with database_errors(), store.engine.connect() as conn:
        row = conn.execute(sa.select(draft_impacts)
                           .where(draft_impacts.c.run_id == run_id)).first()
    return dict(row._mapping) if row else None
