"""The decision log on SQLite and on PostgreSQL: what is written, how it is read, its schema."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from service.decisions import decide
from service.store import (
    GENESIS,
    Filters,
    NewDecision,
    Store,
    decode_cursor,
    encode_cursor,
    metadata,
    record_hash,
)
from tests.conftest import PROFILE
from tests.databases import SYNTHETIC_VERSION, synthetic_entry


def test_a_real_decision_is_logged_whole(store, catalog, engine):
    decision = decide(catalog, engine, "oinp.hcp.tech-draw", PROFILE, dt.date(2019, 7, 15))
    [(seq, digest)] = store.append([NewDecision(decision, PROFILE, "req-1", "caller-a")],
                                   [v.kept() for v in catalog.all_versions()])

    record = store.get(decision["decision_id"])
    assert (record.seq, record.record_hash, record.prev_hash) == (seq, digest, GENESIS)
    assert orjson.loads(record.decision) == orjson.loads(orjson.dumps(decision))
    assert orjson.loads(record.facts) == PROFILE
    assert orjson.loads(record.rulesets) == [
        {"id": r["id"], "version": r["version"], "sha256": r["sha256"]}
        for r in decision["rulesets"]]
    assert (record.ruleset_id, record.ruleset_version, record.outcome) == (
        "oinp.hcp.tech-draw", "2019-07-11", decision["outcome"])
    assert (record.as_of, record.candidate_id, record.request_id, record.caller) == (
        "2019-07-15", PROFILE["candidate_id"], "req-1", "caller-a")
    assert record.decided_at == decision["decided_at"]
    assert record_hash(vars(record)) == record.record_hash


def test_records_chain_in_order(store):
    acknowledged = store.append([synthetic_entry(i) for i in range(3)])
    acknowledged += store.append([synthetic_entry(3)])
    records = list(store.scan())
    assert [r.seq for r in records] == [1, 2, 3, 4]
    assert [(r.seq, r.record_hash) for r in records] == acknowledged
    assert [r.prev_hash for r in records] == [GENESIS] + [r.record_hash for r in records[:-1]]
    assert store.verify().intact and store.verify().checked == 4


def test_the_database_refuses_update_and_delete(store):
    store.append([synthetic_entry(1)])
    for statement in ("UPDATE decision_log SET outcome = 'x'", "DELETE FROM decision_log"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), store.engine.begin() as c:
            c.exec_driver_sql(statement)
    assert store.count() == 1


def test_filters_select_by_each_field(store):
    store.append([
        synthetic_entry(1, ruleset="a.one", outcome="eligible",
                        decided_at="2026-01-01T10:00:00.000+00:00"),
        synthetic_entry(2, ruleset="a.one", outcome="not_eligible",
                        decided_at="2026-01-02T10:00:00.000+00:00"),
        synthetic_entry(3, ruleset="b.two", outcome="eligible",
                        decided_at="2026-01-03T10:00:00.000+00:00"),
    ])

    def seqs(**kwargs) -> list[int]:
        return [r.seq for r in store.scan(Filters(**kwargs))]

    assert seqs(ruleset="a.one") == [1, 2]
    assert seqs(outcome="eligible") == [1, 3]
    assert seqs(ruleset="a.one", outcome="eligible") == [1]
    assert seqs(version="2019-07-11") == [1, 2, 3]
    assert seqs(version="1999") == []
    assert seqs(candidate_id="C-000002") == [2]
    day2 = dt.datetime(2026, 1, 2, 10, tzinfo=dt.UTC)
    assert seqs(decided_from=day2) == [2, 3]  # inclusive
    assert seqs(decided_to=day2) == [1]  # exclusive
    # another offset, same instant: 2026-01-02T05:00-05:00 is 10:00 UTC
    eastern = dt.datetime(2026, 1, 2, 5, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    assert seqs(decided_from=eastern, decided_to=day2 + dt.timedelta(days=1)) == [2]


def test_pages_follow_each_other_without_gap_or_repeat(store):
    store.append([synthetic_entry(i) for i in range(7)])
    seen, after = [], None
    while True:
        rows, after = store.page(Filters(), after, limit=3)
        seen += [r.seq for r in rows]
        if after is None:
            break
    assert seen == [1, 2, 3, 4, 5, 6, 7]
    newest, after = store.page(Filters(), None, limit=3, newest_first=True)
    assert [r.seq for r in newest] == [7, 6, 5] and after == 5
    rest, after = store.page(Filters(), after, limit=10, newest_first=True)
    assert [r.seq for r in rest] == [4, 3, 2, 1] and after is None


def test_cursors_round_trip_and_reject_forgeries():
    assert decode_cursor(encode_cursor(12345)) == 12345
    for forged in ("", "abc", encode_cursor(1)[:-1] + "!", "c2VxOi0x"):  # last: "seq:-1"
        with pytest.raises(ValueError):
            decode_cursor(forged)


def test_an_unsafe_candidate_id_is_not_indexed_but_kept_in_the_facts(store):
    entry = NewDecision(synthetic_entry(1).decision, {"candidate_id": "bad\x00id"})
    store.append([entry])
    record = store.get(entry.decision["decision_id"])
    assert record.candidate_id is None
    assert orjson.loads(record.facts) == {"candidate_id": "bad\x00id"}


def test_migrations_build_exactly_the_schema_the_code_uses(store):
    assert store.revision() == store.head_revision()
    with store.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []


def test_migrating_twice_changes_nothing(store):
    store.append([synthetic_entry(1)])
    store.upgrade()
    assert store.count() == 1 and store.verify().intact


def test_an_in_memory_sqlite_log_is_refused():
    from service.errors import DecisionError

    with pytest.raises(DecisionError, match="SQLite file"):
        Store("sqlite://")


def test_a_new_sqlite_log_is_readable_by_its_owner_only(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'var' / 'log.db'}")
    store.upgrade()
    store.append([synthetic_entry(1)], [SYNTHETIC_VERSION])
    for name in ("log.db", "log.db-wal"):
        assert (tmp_path / "var" / name).stat().st_mode & 0o077 == 0, name
    store.close()


def test_a_failed_statement_never_carries_its_values_into_an_error(tmp_path):
    """Errors reach the logs: a candidate's id or facts bound into a failing statement must not
    (SQLAlchemy prints bound parameters in its errors unless told not to)."""
    import sqlalchemy as sa

    from service.store.log import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'log.db'}")
    with pytest.raises(sa.exc.OperationalError) as err, engine.connect() as conn:
        conn.execute(sa.text("SELECT * FROM no_such_table WHERE candidate_id = :c"),
                     {"c": "C-SECRET-42"})
    assert "C-SECRET-42" not in str(err.value) and "no_such_table" in str(err.value)
