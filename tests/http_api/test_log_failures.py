"""When the decision log cannot take a decision, the client gets the documented 503 problem+json
(StoreUnavailableError), soon, and no decision: a lock held by another session, a database
recreated without its schema. On a real PostgreSQL server (and SQLite where it applies)."""

from __future__ import annotations

import sqlite3
import time

import pytest
import sqlalchemy as sa

from service.store.log import APPEND_LOCK
from tests.apps import bearer
from tests.conftest import PROFILE
from tests.databases import fresh_postgres_schema

REQUEST = {"ruleset": "oinp.hcp.tech-draw", "facts": PROFILE, "as_of": "2019-07-15"}
PROBLEM_JSON = "application/problem+json"


def decide(client):
    return client.post("/v1/decisions", json=REQUEST, headers=bearer("decider"))


def assert_unavailable(response, detail: str) -> None:
    assert response.status_code == 503, response.data[:500]
    assert response.mimetype == PROBLEM_JSON
    body = response.get_json()
    assert body["type"] == "urn:decisions:problem:storeunavailable"
    assert detail in body["detail"], body["detail"]


@pytest.fixture
def postgres_url():
    url, drop = fresh_postgres_schema()
    try:
        yield url
    finally:
        drop()


def test_a_held_log_lock_gives_503_within_the_bound(make_app, postgres_url):
    import psycopg

    app = make_app(database_url=postgres_url, database_timeout=1)
    client = app.test_client()
    assert decide(client).status_code == 201
    store = app.extensions["decisions"].store
    with psycopg.connect(postgres_url) as holder:  # another session takes the append lock
        holder.execute("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK,))
        started = time.monotonic()
        response = decide(client)
        waited = time.monotonic() - started
        assert_unavailable(response, "did not answer in time")
        assert waited < 4, f"the request waited {waited:.1f} s for a 1 s bound"
        assert store.count() == 1  # nothing was logged for the refused decision
    assert decide(client).status_code == 201  # the lock released, the service goes on
    assert store.count() == 2 and store.verify().intact


def test_a_slow_statement_is_cut_at_the_bound(postgres_url):
    from service.store import Store, StoreUnavailableError

    store = Store(postgres_url, timeout=0.5)
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError, match="did not answer in time"), \
                store._errors(), store.engine.connect() as conn:
            conn.exec_driver_sql("SELECT pg_sleep(5)")
        assert time.monotonic() - started < 3
    finally:
        store.close()


def test_migrations_are_not_cut_by_the_bound(postgres_url):
    from service.store import Store

    store = Store(postgres_url, timeout=0.001)  # far too short for any migration
    try:
        store.upgrade()
        assert store.revision() == store.head_revision()
    finally:
        store.close()


def _recreate_without_schema(url: str) -> None:
    """What an operator does by mistake: the database emptied and made again, not migrated."""
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        with sqlite3.connect(path) as raw:
            tables = [name for (name,) in raw.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")]
            for name in tables:
                raw.execute(f"DROP TABLE {name}")
        return
    import psycopg

    schema = url.rsplit("%3D", 1)[1]
    with psycopg.connect(url.split("?")[0], autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
        conn.execute(f"CREATE SCHEMA {schema}")


def test_a_database_recreated_without_its_schema_gives_503(make_app, database_url):
    app = make_app(database_url=database_url)
    client = app.test_client()
    assert decide(client).status_code == 201
    _recreate_without_schema(database_url)
    assert_unavailable(decide(client), "run `decisions db upgrade`")
    listed = client.get("/v1/decisions", headers=bearer("auditor"))
    assert_unavailable(listed, "run `decisions db upgrade`")
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.mimetype == PROBLEM_JSON


# ------------------------------------------------------------------------------ readiness
def test_a_sqlite_log_deleted_while_serving_is_an_error_not_a_new_file(make_app, tmp_path):
    path = tmp_path / "log" / "decisions.db"
    app = make_app(database_url=f"sqlite:///{path}")
    client = app.test_client()
    assert decide(client).status_code == 201
    assert client.get("/readyz").status_code == 200
    for leftover in path.parent.iterdir():  # the file and its -wal, -shm
        leftover.unlink()

    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.mimetype == PROBLEM_JSON
    assert "SQLite log file cannot be opened" in ready.get_json()["checks"]["database"]
    for _ in range(3):  # not once by luck: every pooled connection knows the file is gone
        assert_unavailable(decide(client), "SQLite log file cannot be opened")
    assert not path.exists(), "a new, empty log was made in place of the deleted one"


def test_a_write_into_a_log_file_deleted_mid_transaction_is_refused(tmp_path):
    """The window the pool's check cannot see: the file goes after the connection was taken."""
    from service.store import Store, StoreUnavailableError

    path = tmp_path / "decisions.db"
    store = Store(f"sqlite:///{path}")
    store.upgrade()
    try:
        with pytest.raises(StoreUnavailableError, match="SQLite log file cannot be opened"), \
                store._guarded(store._write_connection, 0) as conn:
            path.unlink()
            conn.execute(sa.text("SELECT 1"))
        assert not path.exists()
    finally:
        store.close()


def test_readiness_fails_when_the_service_may_not_write_the_log(make_app, postgres_url):
    """The tester's case on PostgreSQL: the service's role can read the log but not write it
    (readiness used to answer ready while every decision failed)."""
    import uuid

    import psycopg

    app = make_app(database_url=postgres_url)  # migrated by the owner
    schema = postgres_url.rsplit("%3D", 1)[1]
    role = f"reader_{uuid.uuid4().hex[:12]}"
    base = postgres_url.split("?")[0]
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
        conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}")
    reader_url = postgres_url.replace("://postgres@", f"://{role}@").replace(
        "://root@", f"://{role}@")
    try:
        reader = make_app(database_url=reader_url, migrate_on_start=False)
        client = reader.test_client()
        ready = client.get("/readyz")
        assert ready.status_code == 503, ready.get_json()
        assert "permission denied" in ready.get_json()["checks"]["database"]
        assert_unavailable(decide(client), "permission denied")
        assert app.test_client().get("/readyz").status_code == 200  # the owner still can
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            # The reader app's pooled sessions must end before its role can go.
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE usename = %s", (role,))
            conn.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {role}")
            conn.execute(f"REVOKE ALL ON SCHEMA {schema} FROM {role}")
            conn.execute(f"DROP ROLE {role}")


def test_a_database_recreated_under_the_service_gets_its_versions_kept_again(
        make_app, database_url):
    """The tester's case: the database recreated and migrated while the service ran. The
    service had noted that it kept its versions, and logged decisions naming versions the new
    database did not keep; verify-log said ok."""
    from service.store import Store

    app = make_app(database_url=database_url)
    client = app.test_client()
    assert decide(client).status_code == 201
    _recreate_without_schema(database_url)
    fresh = Store(database_url)
    fresh.upgrade()
    try:
        response = decide(client)
        assert response.status_code == 201
        named = [r["sha256"] for r in response.get_json()["rulesets"]]
        assert all(fresh.version_content(sha) for sha in named), "versions were not kept"
        result = fresh.verify()
        assert result.intact, result.finding
    finally:
        fresh.close()


def test_serve_refuses_a_database_bound_too_close_to_the_worker_timeout(monkeypatch, capsys):
    """Two waits at the bound (a connection, then the lock) must end before gunicorn kills the
    worker, or the client gets no problem+json at all."""
    from service.cli import main

    monkeypatch.setenv("DECISIONS_DATABASE_TIMEOUT", "30")
    assert main(["serve", "--timeout", "60"]) == 2
    assert "DECISIONS_DATABASE_TIMEOUT (30 s) must be under half of --timeout (60 s)" in \
        capsys.readouterr().err
