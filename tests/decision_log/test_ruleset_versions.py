"""The ruleset versions the log keeps (migration 0003): each kept once, exactly, whatever the
number of processes keeping it at once; append-only in the database; checked by verify(); on
SQLite and on PostgreSQL."""

from __future__ import annotations

import hashlib
import multiprocessing
import re
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from service.store import RulesetVersionMismatchError, Store, canonical_json
from service.store.log import MIGRATE_LOCK
from tests.databases import synthetic_entry
from tests.databases import tamper as tamper_with

PROCESSES = 4
THREADS = 6


def version_row(n: int, ruleset: str = "oinp.hcp.tech-draw") -> dict:
    """A kept-version row as the service would hand it over: canonical content and its
    sha256."""
    content = canonical_json({"id": ruleset, "version": f"2019-07-{n:02d}",
                              "rules": {"age": {"when": f"age >= {18 + n}"}}})
    return {"sha256": hashlib.sha256(content.encode("utf-8")).hexdigest(),
            "ruleset_id": ruleset, "version": f"2019-07-{n:02d}", "content": content}


def kept(store: Store) -> list[str]:
    with store.engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT sha256 FROM ruleset_versions ORDER BY sha256"))
                    .scalars())


def tamper(store: Store, *statements: str) -> None:
    tamper_with(store, *statements, table="ruleset_versions")


# ----------------------------------------------------------------------------------- keeping
def test_a_version_is_kept_once(store):
    rows = [version_row(1), version_row(2)]
    assert store.keep_versions(rows) == 2
    assert store.keep_versions(rows) == 0
    assert store.keep_versions([rows[0], version_row(3), version_row(3)]) == 1
    assert store.keep_versions([]) == 0
    assert kept(store) == sorted(r["sha256"] for r in (*rows, version_row(3)))


def test_a_version_is_kept_exactly(store):
    row = version_row(1)
    store.keep_versions([row])
    version = store.version_content(row["sha256"])
    stored_at = version.pop("stored_at")
    assert version == {k: row[k] for k in ("sha256", "ruleset_id", "version", "content")}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", stored_at)
    assert store.version_content("0" * 64) is None


def test_a_version_whose_content_does_not_match_its_sha256_is_refused(store):
    good, bad = version_row(1), {**version_row(2), "content": version_row(3)["content"]}
    with pytest.raises(RulesetVersionMismatchError,
                       match="ruleset oinp.hcp.tech-draw version 2019-07-02"):
        store.keep_versions([good, bad])
    assert kept(store) == []  # nothing of that call is kept


def test_version_contents_are_those_of_kept_versions_only(store):
    rows = [version_row(n) for n in range(1, 4)]
    store.keep_versions(rows[:2])
    asked = [r["sha256"] for r in rows] + ["f" * 64]
    assert store.version_contents(asked) == {r["sha256"]: r["content"] for r in rows[:2]}
    assert store.version_contents([]) == {}


def test_version_contents_reads_more_than_one_in_list(store):
    rows = [version_row(n) for n in range(1, 8)]
    store.keep_versions(rows)
    asked = [r["sha256"] for r in rows] + [f"{i:064x}" for i in range(1200)]
    assert store.version_contents(asked) == {r["sha256"]: r["content"] for r in rows}


# ------------------------------------------------------------------------------- append-only
def test_the_database_refuses_update_and_delete_of_a_version(store):
    store.keep_versions([version_row(1)])
    for statement in ("UPDATE ruleset_versions SET content = 'x'",
                      "DELETE FROM ruleset_versions"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), store.engine.begin() as c:
            c.exec_driver_sql(statement)
    assert len(kept(store)) == 1
    assert store.version_content(version_row(1)["sha256"])["content"] == \
        version_row(1)["content"]


# --------------------------------------------------------------------------------- verifying
def test_verify_checks_the_kept_versions(store):
    store.append([synthetic_entry(i) for i in range(1, 4)])
    store.keep_versions([version_row(n) for n in range(1, 4)])
    result = store.verify()
    assert result.intact and (result.checked, result.versions) == (3, 3)


def test_an_altered_version_is_found(store):
    store.append([synthetic_entry(i) for i in range(1, 4)])
    rows = [version_row(n) for n in range(1, 4)]
    store.keep_versions(rows)
    target = rows[1]
    tamper(store, "UPDATE ruleset_versions SET content = REPLACE(content, '>= 20', '>= 21') "
                  f"WHERE sha256 = '{target['sha256']}'")
    result = store.verify()
    assert not result.intact, "tampering went unnoticed"
    found = result.finding
    assert (found.kind, found.seq, found.decision_id) == ("version_altered", None, None)
    assert target["ruleset_id"] in found.detail and target["version"] in found.detail
    assert target["sha256"] in found.detail
    assert result.checked == 3  # the chain itself holds


def test_a_broken_chain_is_reported_before_an_altered_version(store):
    store.append([synthetic_entry(i) for i in range(1, 4)])
    store.keep_versions([version_row(1)])
    tamper(store, "UPDATE ruleset_versions SET content = 'forged'")
    assert store.verify().finding.kind == "version_altered"
    tamper_with(store, "UPDATE decision_log SET outcome = 'forged' WHERE seq = 2")
    found = store.verify().finding
    assert (found.kind, found.seq) == ("altered", 2)


def test_verify_log_command_reports_an_altered_version(store):
    store.append([synthetic_entry(1)])
    store.keep_versions([version_row(1)])
    tamper(store, "UPDATE ruleset_versions SET content = 'forged'")
    broken = subprocess.run([sys.executable, "-m", "service.cli", "verify-log",
                             "--database-url", store.url], capture_output=True, text=True)
    assert broken.returncode == 1, broken.stderr
    assert "version_altered" in broken.stdout and "2019-07-01" in broken.stdout


# ------------------------------------------------------------------------------- concurrency
def test_threads_keep_the_same_versions_at_once(store):
    rows = [version_row(n) for n in range(1, 21)]
    start = threading.Barrier(THREADS)
    stores = [Store(store.url) for _ in range(THREADS)]  # separate engines, as workers have

    def keep(i: int) -> int:
        start.wait()
        # Half of them hand the rows over in reverse: the store must not deadlock on the keys.
        return stores[i].keep_versions(rows[::-1] if i % 2 else rows)

    try:
        with ThreadPoolExecutor(THREADS) as pool:
            new = list(pool.map(keep, range(THREADS)))
    finally:
        for own in stores:
            own.close()
    assert sum(new) == len(rows)
    assert kept(store) == sorted(r["sha256"] for r in rows)


def _process_keeper(url: str, start, results) -> None:
    store = Store(url)  # its own engine and connections, as a gunicorn worker has
    rows = [version_row(n) for n in range(1, 21)]
    start.wait()
    results.put(store.keep_versions(rows))
    store.close()


def test_processes_keep_the_same_versions_at_once(store):
    context = multiprocessing.get_context("spawn")  # no inherited connections or locks
    start = context.Barrier(PROCESSES)
    results = context.Queue()
    processes = [context.Process(target=_process_keeper, args=(store.url, start, results))
                 for _ in range(PROCESSES)]
    for process in processes:
        process.start()
    new = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    assert sum(new) == 20
    assert kept(store) == sorted(version_row(n)["sha256"] for n in range(1, 21))


# -------------------------------------------------------------------------------- migrations
def test_the_head_revision_is_0004():
    assert Store.head_revision() == "0004"


def test_a_0002_database_is_upgraded(database_url):
    from alembic import command

    store = Store(database_url)
    try:
        with store._guarded(store._write_connection, MIGRATE_LOCK) as conn:
            config = store._alembic_config()
            config.attributes["connection"] = conn
            command.upgrade(config, "0002")
        assert store.revision() == "0002"
        store.append([synthetic_entry(i) for i in range(1, 4)])
        with store.engine.connect() as conn:
            assert not sa.inspect(conn).has_table("ruleset_versions")

        store.upgrade()
        assert store.revision() == store.head_revision()
        assert store.count() == 3 and store.verify().intact
        assert store.keep_versions([version_row(1)]) == 1
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), store.engine.begin() as c:
            c.exec_driver_sql("DELETE FROM ruleset_versions")
    finally:
        store.close()
