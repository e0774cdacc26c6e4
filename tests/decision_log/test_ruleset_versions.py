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

from service.store import (
    RulesetVersionMismatchError,
    RulesetVersionMissingError,
    Store,
    canonical_json,
)
from service.store.log import MIGRATE_LOCK
from tests.databases import SYNTHETIC_VERSION, synthetic_entry
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
    """The versions kept, but the one the ``store`` fixture keeps for synthetic decisions."""
    with store.engine.connect() as conn:
        return [sha for sha in conn.execute(sa.text(
            "SELECT sha256 FROM ruleset_versions ORDER BY sha256")).scalars()
            if sha != SYNTHETIC_VERSION["sha256"]]


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


def test_kept_versions_name_each_ruleset_version_once_sorted(store):
    """What the log's filters offer beside the loaded rulesets (the pages' decision log)."""
    content = canonical_json({"id": "oinp.hcp.tech-draw", "version": "2019-07-01", "edit": 1})
    edited = {"sha256": hashlib.sha256(content.encode("utf-8")).hexdigest(),
              "ruleset_id": "oinp.hcp.tech-draw", "version": "2019-07-01", "content": content}
    store.keep_versions([version_row(2), version_row(1), edited,
                         version_row(1, "express-entry.crs")])
    synthetic = (SYNTHETIC_VERSION["ruleset_id"], SYNTHETIC_VERSION["version"])
    assert [v for v in store.kept_versions() if v != synthetic] == [
        ("express-entry.crs", "2019-07-01"), ("oinp.hcp.tech-draw", "2019-07-01"),
        ("oinp.hcp.tech-draw", "2019-07-02")]


def test_version_contents_reads_more_than_one_in_list(store):
    rows = [version_row(n) for n in range(1, 8)]
    store.keep_versions(rows)
    asked = [r["sha256"] for r in rows] + [f"{i:064x}" for i in range(1200)]
    assert store.version_contents(asked) == {r["sha256"]: r["content"] for r in rows}


def naming(n: int, *more: int):
    """A synthetic decision that names the kept-version rows ``n`` (and ``more``)."""
    entry = synthetic_entry(n)
    entry.decision["rulesets"] = [{"id": row["ruleset_id"], "version": row["version"],
                                   "sha256": row["sha256"], "as": "x", "outcome": "eligible",
                                   "met": True} for row in map(version_row, (n, *more))]
    return entry


def test_an_append_keeps_the_versions_it_names_with_it(store):
    store.append([naming(1), naming(2, 3)], [version_row(n) for n in range(1, 6)])
    assert kept(store) == sorted(version_row(n)["sha256"] for n in (1, 2, 3))  # not 4, 5
    store.append([naming(1)], [])  # kept already: nothing to hand over
    assert store.count() == 3 and store.verify().intact


def test_an_append_naming_a_version_not_kept_nor_given_writes_nothing(store):
    with pytest.raises(RulesetVersionMissingError, match="ruleset oinp.hcp.tech-draw version "
                                                         "2019-07-02"):
        store.append([naming(1), naming(2)], [version_row(1)])
    assert store.count() == 0 and kept(store) == []  # the whole transaction is undone
    bad = {**version_row(2), "content": version_row(3)["content"]}
    with pytest.raises(RulesetVersionMismatchError):
        store.append([naming(2)], [bad])
    assert store.count() == 0


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
    assert result.intact and (result.checked, result.versions) == (3, 4)  # and the synthetic


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


def test_a_deleted_version_that_records_name_is_found(store):
    store.append([naming(1), naming(2), naming(3)], [version_row(n) for n in (1, 2, 3)])
    tamper(store, f"DELETE FROM ruleset_versions WHERE sha256 = '{version_row(2)['sha256']}'")
    result = store.verify()
    assert not result.intact, "a deleted kept version went unnoticed"
    assert (result.finding.kind, result.finding.seq) == ("version_missing", 2)
    assert "2019-07-02" in result.finding.detail and "does not keep" in result.finding.detail
    assert result.checked == 1


def test_a_replaced_version_that_records_name_is_found(store):
    """Replaced by other content under the other content's own sha256: every kept version
    still hashes to its key, but the record's version is gone."""
    store.append([naming(1), naming(2)], [version_row(1), version_row(2)])
    other = version_row(7)
    tamper(store, f"UPDATE ruleset_versions SET sha256 = '{other['sha256']}', content = "
                  f"'{other['content']}' WHERE sha256 = '{version_row(2)['sha256']}'")
    assert (store.verify().finding.kind, store.verify().finding.seq) == ("version_missing", 2)


def test_a_version_relabelled_under_another_ruleset_is_found(store):
    store.append([naming(1)], [version_row(1)])
    tamper(store, "UPDATE ruleset_versions SET version = '2020-01-01' "
                  f"WHERE sha256 = '{version_row(1)['sha256']}'")
    found = store.verify().finding
    assert (found.kind, found.seq) == ("version_altered", 1) and "2020-01-01" in found.detail


def test_a_broken_chain_is_reported_before_an_altered_version(store):
    store.append([synthetic_entry(i) for i in range(1, 4)])
    store.keep_versions([version_row(1)])
    tamper(store, "UPDATE ruleset_versions SET content = 'forged'")
    assert store.verify().finding.kind == "version_altered"
    tamper_with(store, "UPDATE decision_log SET outcome = 'forged' WHERE seq = 2")
    found = store.verify().finding
    assert (found.kind, found.seq) == ("altered", 2)


def test_verify_log_command_reports_an_altered_version(store, tmp_path):
    store.append([synthetic_entry(1)])
    store.keep_versions([version_row(1)])
    tamper(store, "UPDATE ruleset_versions SET content = 'forged'")
    # This store signs nothing: verify with no key (checkpoints are test_checkpoints' part),
    # whatever key another test of the run may have made at the default place.
    broken = subprocess.run([sys.executable, "-m", "service.cli", "verify-log",
                             "--database-url", store.url, "--log-key", str(tmp_path / "none")],
                            capture_output=True, text=True)
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
def test_the_head_revision_is_0008():
    assert Store.head_revision() == "0008"  # the workbench's drafts and trail


def append_as_before_0003(store: Store, entries) -> None:
    """What the service wrote before the log kept ruleset versions: records that hold their
    rules' texts (here a fired rule with its title), and no version kept."""
    from service.store import GENESIS, decision_log, record_hash
    from service.store.log import _row

    rows, prev = [], GENESIS
    for seq, entry in enumerate(entries, 1):
        entry.decision["fired"] = [{"rule": "adult", "ruleset": "oinp.hcp.tech-draw",
                                    "title": {"en": "Is an adult", "fr": "Est majeur"}}]
        row = {**_row(entry), "seq": seq, "prev_hash": prev}
        row["record_hash"] = prev = record_hash(row)
        rows.append(row)
    with store.engine.begin() as conn:
        conn.execute(decision_log.insert(), rows)


def test_a_0002_database_is_upgraded(database_url):
    from alembic import command

    store = Store(database_url)
    try:
        with store._guarded(store._write_connection, MIGRATE_LOCK) as conn:
            config = store._alembic_config()
            config.attributes["connection"] = conn
            command.upgrade(config, "0002")
        assert store.revision() == "0002"
        append_as_before_0003(store, [synthetic_entry(i) for i in range(1, 4)])
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
