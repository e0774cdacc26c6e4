"""The databases the decision-log tests run on: a SQLite file, and a real PostgreSQL server in a
schema of its own made for each test (dropped afterwards).

PostgreSQL is looked for at TEST_DATABASE_URL, else 127.0.0.1:5432 database `test` as user
postgres, then root (trust auth). When none answers the PostgreSQL tests are skipped with the
reason, except under CI=true, where they fail: CI must prove the log works on PostgreSQL.
"""

from __future__ import annotations

import functools
import os
import uuid

import pytest

CANDIDATE_URLS = ("postgresql://postgres@127.0.0.1:5432/test",
                  "postgresql://root@127.0.0.1:5432/test")
DATABASES = ["sqlite", "postgresql"]


@functools.cache
def postgres_base_url() -> tuple[str | None, str]:
    """(a URL that connects, or None; what was tried and why it failed)."""
    import psycopg

    urls = [os.environ["TEST_DATABASE_URL"]] if os.environ.get("TEST_DATABASE_URL") \
        else CANDIDATE_URLS
    failures = []
    for url in urls:
        try:
            with psycopg.connect(url, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            return url, ""
        except psycopg.Error as exc:
            failures.append(f"{url}: {str(exc).strip().splitlines()[0]}")
    return None, "; ".join(failures)


def require_postgres() -> str:
    url, why = postgres_base_url()
    if url is None:
        message = f"no PostgreSQL server reachable ({why})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}: under CI=true the PostgreSQL tests must run")
        pytest.skip(message)
    return url


def fresh_postgres_schema() -> tuple[str, callable]:
    """A URL whose connections use a new, empty schema, and a function that drops it."""
    import psycopg

    base = require_postgres()
    schema = f"test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")

    def drop() -> None:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")

    return f"{base}?options=-csearch_path%3D{schema}", drop


@pytest.fixture(params=DATABASES)
def database_url(request, tmp_path):
    """A fresh, empty database URL: SQLite file, then PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'decisions.db'}"
        return
    url, drop = fresh_postgres_schema()
    try:
        yield url
    finally:
        drop()


def _synthetic_version() -> dict:
    from service.store import canonical_json, content_sha256

    content = canonical_json({"id": "oinp.hcp.tech-draw", "version": "2019-07-11",
                              "rules": {"synthetic": {"require": "age >= 18"}}})
    return {"sha256": content_sha256(content), "ruleset_id": "oinp.hcp.tech-draw",
            "version": "2019-07-11", "content": content}


# The ruleset version every synthetic decision names: the log keeps it, as it keeps the versions
# of real decisions (the ``store`` fixture keeps it up front; Store.append takes it too).
SYNTHETIC_VERSION = _synthetic_version()


@pytest.fixture
def store(database_url):
    from service.store import Store

    store = Store(database_url)
    store.upgrade()
    store.keep_versions([SYNTHETIC_VERSION])
    try:
        yield store
    finally:
        store.close()


def synthetic_decision(n: int, ruleset: str = "oinp.hcp.tech-draw", outcome: str = "eligible",
                       decided_at: str | None = None) -> dict:
    """A decision shaped like ``decide``'s, without running the engine (cheap in subprocesses)."""
    import datetime as dt

    return {
        "decision_id": uuid.uuid4().hex, "ruleset": ruleset, "as_of": "2019-07-15",
        "decided_at": decided_at or dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        "outcome": outcome, "outcome_title": {"en": outcome, "fr": outcome},
        "title": {"en": "Test", "fr": "Essai"},
        "rulesets": [{"id": SYNTHETIC_VERSION["ruleset_id"],
                      "version": SYNTHETIC_VERSION["version"],
                      "sha256": SYNTHETIC_VERSION["sha256"],
                      "as": "x", "outcome": outcome, "met": True}],
        "scores": {"crs": {"total": n}}, "score_details": {}, "derived": {}, "fired": [],
        "requirements": []}


def synthetic_entry(n: int, **kwargs):
    from service.store import NewDecision

    return NewDecision(synthetic_decision(n, **kwargs), {"candidate_id": f"C-{n:06d}", "age": 30},
                       request_id=f"req-{n}", caller="tests")


def tamper(store, *statements: str, table: str = "decision_log") -> None:
    """Run SQL as an attacker would: first switch off ``table``'s append-only triggers."""
    with store.engine.begin() as conn:
        if store.dialect == "postgresql":
            conn.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only")
        else:
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_update")
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        for statement in statements:
            conn.exec_driver_sql(statement)
