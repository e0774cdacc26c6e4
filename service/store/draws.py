"""Where draws are recorded: the draw tables beside the decision log (migration 0002), and
stored pools. No Flask here.

Recording a draw goes through one function, ``record_draw``: the invited candidates' decisions
are appended to the hash-chained decision log (``Store.append``, so each invitation's explanation
is a logged, replayable decision), then the draw, its invitations (with the log record of each)
and the outcome of every candidate are written in one transaction. The draw tables are
append-only; a draw id is written once. A second ``record_draw`` with the same id writes nothing
and returns the first draw (idempotency; a concurrent duplicate loses the race and gets the
winner's draw).

The tables are declared with the others in ``tables``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from .log import NewDecision, Store, canonical_json, database_errors
from .tables import draw_candidates, draw_invitations, draws, pool_candidates, pools

INSERT_CHUNK = 2000
LOG_CHUNK = 100  # invited decisions appended to the log per transaction (~150 KB each in memory)


def _chunks(rows: Iterable[dict], size: int = INSERT_CHUNK) -> Iterator[list[dict]]:
    chunk: list[dict] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# ------------------------------------------------------------------------------------ recording
def record_draw(store: Store, summary: Mapping[str, Any], invited: Iterable[NewDecision],
                invitations: Sequence[Mapping[str, Any]],
                candidates: Iterable[Mapping[str, Any]]) -> tuple[dict, bool]:
    """Record one draw: the invited decisions in the decision log (LOG_CHUNK per transaction),
    then the draw, its invitations and every candidate's outcome in one transaction.

    The i-th of ``invited`` is the decision of ``invitations[i]``. Returns (the stored summary,
    True) or, when a draw with this id was recorded first, (that draw's summary, False). If
    recording fails half-way, decisions tagged ``draw:ID/RANK`` may be in the log without a
    draw; holding the draw again logs them again."""
    draw_id = summary["draw_id"]
    first = load_draw(store, draw_id)
    if first is not None:
        return first, False
    logged: list[tuple[int, str]] = []
    chunk: list[NewDecision] = []
    for entry in invited:
        chunk.append(entry)
        if len(chunk) >= LOG_CHUNK:
            logged.extend(store.append(chunk))
            chunk = []
    logged.extend(store.append(chunk))
    try:
        with database_errors(), store.engine.connect() as conn, conn.begin():
            conn.execute(draws.insert(), [{
                "draw_id": draw_id, "ruleset_id": summary["ruleset"]["id"],
                "ruleset_version": summary["ruleset"]["version"],
                "ruleset_sha256": summary["ruleset"]["sha256"],
                "draw_date": summary["draw_date"], "held_at": summary["held_at"],
                "caller": summary.get("caller"), "request_id": summary.get("request_id"),
                "pool_size": summary["pool"]["size"], "pool_sha256": summary["pool"]["sha256"],
                "results_sha256": summary["results_sha256"],
                "retried_chunks": summary.get("retried_chunks", 0),
                "summary": canonical_json(summary)}])
            rows = [{**{k: inv[k] for k in ("rank", "candidate_id", "position", "score",
                                              "profile_submitted_at", "expires_on",
                                              "decision_id")},
                     "draw_id": draw_id, "log_seq": seq}
                    for inv, (seq, _hash) in zip(invitations, logged, strict=True)]
            for chunk in _chunks(rows):
                conn.execute(draw_invitations.insert(), chunk)
            for chunk in _chunks({"draw_id": draw_id, "position": c["position"],
                                  "candidate_id": c.get("candidate_id"), "status": c["status"],
                                  "score": c.get("score"), "rank": c.get("rank"),
                                  "profile_submitted_at": c.get("profile_submitted_at"),
                                  "detail": canonical_json(c.get("detail") or {})}
                                 for c in candidates):
                conn.execute(draw_candidates.insert(), chunk)
    except sa.exc.IntegrityError:
        first = load_draw(store, draw_id)  # another process recorded this draw id first
        if first is None:
            raise
        return first, False
    return dict(summary), True


# -------------------------------------------------------------------------------------- reading
def load_draw(store: Store, draw_id: str) -> dict | None:
    """The summary of a recorded draw (counts, cutoff, pool...), or None."""
    with database_errors():
        with store.engine.connect() as conn:
            row = conn.execute(sa.select(draws.c.summary)
                               .where(draws.c.draw_id == draw_id)).first()
    return orjson.loads(row.summary) if row else None


def invitations_page(store: Store, draw_id: str, after_rank: int | None = None,
                     limit: int = 100) -> tuple[list[dict], int | None]:
    """One page of invitations by rank and the rank to continue after (None on the last)."""
    c = draw_invitations.c
    query = sa.select(draw_invitations).where(c.draw_id == draw_id)
    if after_rank is not None:
        query = query.where(c.rank > after_rank)
    query = query.order_by(c.rank).limit(limit + 1)
    with database_errors():
        with store.engine.connect() as conn:
            rows = [{str(k): v for k, v in r._mapping.items()} for r in conn.execute(query)]
    more = len(rows) > limit
    rows = rows[:limit]
    for row in rows:
        row.pop("draw_id")
    return rows, (rows[-1]["rank"] if more else None)


def all_invitations(store: Store, draw_id: str) -> list[dict]:
    out, after = [], None
    while True:
        rows, after = invitations_page(store, draw_id, after, 1000)
        out.extend(rows)
        if after is None:
            return out


def candidate_outcomes(store: Store, draw_id: str, candidate_id: str) -> list[dict]:
    """Every pool entry of a draw with this candidate id (normally one)."""
    c = draw_candidates.c
    with database_errors():
        with store.engine.connect() as conn:
            rows = [{str(k): v for k, v in r._mapping.items()} for r in conn.execute(
                sa.select(draw_candidates).where(c.draw_id == draw_id,
                                                 c.candidate_id == candidate_id)
                .order_by(c.position))]
    for row in rows:
        row.pop("draw_id")
        row["detail"] = orjson.loads(row["detail"])
    return rows


# ------------------------------------------------------------------------------- stored pools
def save_pool(store: Store, pool_id: str, facts_lines: Iterable[bytes], sha256: str,
              source: str | None = None) -> int:
    """Store a pool (one JSON object per line, as given) under ``pool_id``; returns its size.
    A pool id is written once: storing it again is an error (IntegrityError)."""
    created = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    size = 0
    with database_errors():
        with store.engine.connect() as conn, conn.begin():
            conn.execute(pools.insert(), [{"pool_id": pool_id, "created_at": created, "size": 0,
                                           "sha256": sha256, "source": source}])

            def rows() -> Iterator[dict]:
                nonlocal size
                for line in facts_lines:
                    size += 1
                    yield {"pool_id": pool_id, "position": size,
                           "facts": line.decode("utf-8") if isinstance(line, bytes) else line}

            for chunk in _chunks(rows()):
                conn.execute(pool_candidates.insert(), chunk)
            conn.execute(pools.update().where(pools.c.pool_id == pool_id).values(size=size))
    return size


def pool_info(store: Store, pool_id: str) -> dict | None:
    with database_errors():
        with store.engine.connect() as conn:
            row = conn.execute(sa.select(pools).where(pools.c.pool_id == pool_id)).first()
    return {str(k): v for k, v in row._mapping.items()} if row else None


def iter_pool(store: Store, pool_id: str, batch: int = 2000) -> Iterator[tuple[int, str]]:
    """(position, facts JSON text) of a stored pool, in order, read in short transactions."""
    c = pool_candidates.c
    after = 0
    while True:
        with database_errors():
            with store.engine.connect() as conn:
                rows = conn.execute(sa.select(c.position, c.facts)
                                    .where(c.pool_id == pool_id, c.position > after)
                                    .order_by(c.position).limit(batch)).all()
        if not rows:
            return
        yield from ((r.position, r.facts) for r in rows)
        after = rows[-1].position


def draw_score_counts(store: Store, draw_id: str) -> list[tuple[int, str, int]]:
    """(score, status, how many) over the draw's candidates that have a score."""
    c = draw_candidates.c
    query = (sa.select(c.score, c.status, sa.func.count())
             .where(c.draw_id == draw_id, c.score.is_not(None))
             .group_by(c.score, c.status))
    with database_errors(), store.engine.connect() as conn:
        return [(int(score), status, int(n)) for score, status, n in conn.execute(query)]


def recent_draws(store: Store, limit: int = 100) -> list[dict]:
    """The latest draws held, newest first: what the draws page lists."""
    c = draws.c
    query = (sa.select(c.draw_id, c.ruleset_id, c.ruleset_version, c.draw_date, c.held_at,
                       c.pool_size).order_by(c.held_at.desc()).limit(limit))
    with database_errors(), store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]
