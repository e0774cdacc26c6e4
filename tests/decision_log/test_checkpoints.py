"""Signed checkpoints (migration 0005, service/store/checkpoints.py): every append signs the
records it wrote with a key kept apart from the database, and verify finds what the unkeyed
chain alone cannot: a record appended with a correct hash, records cut from the end, a chain
rewritten from some record on. On SQLite and on PostgreSQL."""

from __future__ import annotations

import subprocess
import sys

import pytest
import sqlalchemy as sa

from service.store import Store, decision_log, log_checkpoints, record_hash
from service.store.log import _row
from tests.databases import SYNTHETIC_VERSION, synthetic_entry, tamper


@pytest.fixture
def key_file(tmp_path):
    return tmp_path / "keys" / "log-key"


@pytest.fixture
def signed(database_url, key_file):
    """A log of six records, appended one by one by a store that holds the key."""
    store = Store(database_url, key_file=key_file)
    store.upgrade()
    for n in range(1, 7):
        store.append([synthetic_entry(n)], [SYNTHETIC_VERSION])
    try:
        yield store
    finally:
        store.close()


def checkpoints(store: Store) -> list[tuple[int, int, int]]:
    c = log_checkpoints.c
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            sa.select(c.since_seq, c.first_seq, c.last_seq).order_by(c.last_seq))]


def finding(store: Store):
    result = store.verify()
    assert not result.intact, "tampering went unnoticed"
    return result.finding


def forge(store: Store, n: int = 99) -> None:
    """What someone who can write to the database, but has not the key, can do: append a
    record whose hash and link are right."""
    last = list(store.scan())[-1]
    row = {**_row(synthetic_entry(n)), "seq": last.seq + 1, "prev_hash": last.record_hash}
    row["record_hash"] = record_hash(row)
    with store.engine.begin() as conn:
        conn.execute(decision_log.insert(), [row])


# -------------------------------------------------------------------------------- signing
def test_each_append_signs_the_records_it_wrote(database_url, key_file):
    store = Store(database_url, key_file=key_file)
    store.upgrade()
    try:
        assert not key_file.exists()  # made on the first append, not before
        store.append([synthetic_entry(1)], [SYNTHETIC_VERSION])
        store.append([synthetic_entry(2), synthetic_entry(3)])
        store.append([synthetic_entry(4)])
        assert checkpoints(store) == [(1, 1, 1), (1, 2, 3), (1, 4, 4)]
        result = store.verify()
        assert result.intact and (result.checked, result.checkpoints) == (4, 3)
        assert result.unchecked is None and result.unsigned_before == 0
        assert key_file.stat().st_mode & 0o777 == 0o600
    finally:
        store.close()


def test_without_the_key_verify_says_it_cannot_check_the_checkpoints(signed, tmp_path):
    missing = tmp_path / "elsewhere" / "log-key"
    result = Store(signed.url, key_file=missing).verify()
    assert result.intact and result.checkpoints == 0
    assert f"no key at {missing}" in result.unchecked
    assert not missing.exists()  # verify never makes a key
    assert "no key given" in Store(signed.url).verify().unchecked


# ------------------------------------------------------------------------------- tampering
def test_a_forged_record_appended_at_the_end_is_found(signed):
    forge(signed)
    assert Store(signed.url).verify().intact  # the chain alone cannot tell
    found = finding(signed)
    assert (found.kind, found.seq) == ("unsigned", 7)
    assert "records 7 to 7 are covered by no signed checkpoint" in found.detail


def test_a_forged_record_the_service_appended_after_is_found(signed):
    """The service's next checkpoint covers its own records, not the forged one before them."""
    forge(signed)
    signed.append([synthetic_entry(8)])
    found = finding(signed)
    assert (found.kind, found.seq) == ("unsigned", 7)


def test_records_cut_from_the_end_are_found(signed):
    tamper(signed, "DELETE FROM decision_log WHERE seq >= 5")
    assert Store(signed.url).verify().intact  # the chain alone cannot tell
    found = finding(signed)
    assert (found.kind, found.seq) == ("removed", 5)
    assert "the log ends at record 4" in found.detail


def test_a_rewritten_chain_is_found_without_an_anchor(signed):
    rows = list(signed.scan())
    updates, prev = [], rows[0].record_hash
    for record in rows[1:]:
        row = {**vars(record), "prev_hash": prev}
        if record.seq == 2:
            row["outcome"] = "forged"
        prev = record_hash(row)
        updates.append(f"UPDATE decision_log SET outcome = '{row['outcome']}', prev_hash = "
                       f"'{row['prev_hash']}', record_hash = '{prev}' WHERE seq = {record.seq}")
    tamper(signed, *updates)
    assert Store(signed.url).verify().intact  # the chain alone cannot tell
    found = finding(signed)
    assert (found.kind, found.seq) == ("altered", 2)
    assert "signed checkpoint" in found.detail


def test_a_forged_checkpoint_is_found(signed):
    forge(signed)
    last = list(signed.scan())[-1]
    with signed.engine.begin() as conn:
        conn.execute(log_checkpoints.insert(), [{
            "last_seq": 7, "first_seq": 7, "since_seq": 1, "record_hash": last.record_hash,
            "signed_at": "2026-12-02T00:00:00.000+00:00", "key_id": signed._signing_key().key_id,
            "mac": "0" * 64}])
    found = finding(signed)
    assert (found.kind, found.seq) == ("checkpoint_invalid", 7)
    assert "signature does not match" in found.detail


def test_removed_first_checkpoints_are_found(signed):
    tamper(signed, "DELETE FROM log_checkpoints WHERE last_seq <= 2", table="log_checkpoints")
    found = finding(signed)
    assert (found.kind, found.seq) == ("unsigned", 1)


def test_checkpoints_signed_with_another_key_are_found(signed, tmp_path):
    other = Store(signed.url, key_file=tmp_path / "other-key")
    other._signing_key()  # makes it
    found = other.verify().finding
    assert (found.kind, found.seq) == ("checkpoint_invalid", 1)
    assert "another key" in found.detail
    other.close()


def test_cutting_records_and_their_checkpoints_needs_the_anchor(signed):
    """The limit, as docs/operations.md says: removing records and their checkpoints from the
    end leaves a shorter log that holds; an anchor noted elsewhere catches it."""
    head = signed.verify()
    tamper(signed, "DELETE FROM log_checkpoints WHERE last_seq >= 5", table="log_checkpoints")
    tamper(signed, "DELETE FROM decision_log WHERE seq >= 5")
    assert signed.verify().intact
    found = signed.verify((head.head_seq, head.head_hash)).finding
    assert (found.kind, found.seq) == ("removed", 6)


def test_the_database_refuses_to_change_a_checkpoint(signed):
    for statement in ("UPDATE log_checkpoints SET mac = 'x'", "DELETE FROM log_checkpoints"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), signed.engine.begin() as c:
            c.exec_driver_sql(statement)
    if signed.dialect == "sqlite":
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), signed.engine.begin() as c:
            c.exec_driver_sql("INSERT OR REPLACE INTO log_checkpoints SELECT * FROM "
                              "log_checkpoints WHERE last_seq = 6")
    assert len(checkpoints(signed)) == 6


# ---------------------------------------------------------------------------- older logs
def test_a_log_older_than_checkpoints_is_signed_by_the_migration(database_url, key_file):
    from alembic import command

    from service.store.log import MIGRATE_LOCK

    store = Store(database_url)  # no key: as the service was before 0005
    try:
        with store._guarded(store._write_connection, MIGRATE_LOCK) as conn:
            config = store._alembic_config()
            config.attributes["connection"] = conn
            command.upgrade(config, "0004")
        store.keep_versions([SYNTHETIC_VERSION])
        store.append([synthetic_entry(n) for n in range(1, 4)])
    finally:
        store.close()
    store = Store(database_url, key_file=key_file)
    try:
        store.upgrade()
        assert checkpoints(store) == [(1, 1, 3)]
        store.upgrade()  # again: nothing more is signed
        store.append([synthetic_entry(4)])
        assert checkpoints(store) == [(1, 1, 3), (1, 4, 4)]
        result = store.verify()
        assert result.intact and result.checkpoints == 2
    finally:
        store.close()


def test_records_from_a_store_without_a_key_come_before_the_checkpoints(database_url, key_file):
    store = Store(database_url)
    store.upgrade()
    store.keep_versions([SYNTHETIC_VERSION])
    store.append([synthetic_entry(n) for n in range(1, 4)])
    store.close()
    store = Store(database_url, key_file=key_file)
    try:
        store.append([synthetic_entry(4)])
        result = store.verify()
        assert result.intact and result.unsigned_before == 3 and result.checkpoints == 1
        assert checkpoints(store) == [(4, 4, 4)]
    finally:
        store.close()


# ------------------------------------------------------------------------------------ CLI
def verify_log(url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "service.cli", "verify-log", "--database-url",
                           url, *args], capture_output=True, text=True)


def test_verify_log_checks_the_checkpoints_with_the_key_and_says_when_it_cannot(
        signed, key_file, tmp_path):
    ok = verify_log(signed.url, "--log-key", str(key_file))
    assert ok.returncode == 0, ok.stderr
    assert "6 signed checkpoints hold" in ok.stdout
    plain = verify_log(signed.url, "--log-key", str(tmp_path / "missing"))
    assert plain.returncode == 0
    assert "CHECKPOINTS NOT CHECKED: no key at" in plain.stdout
    forge(signed)
    broken = verify_log(signed.url, "--log-key", str(key_file))
    assert broken.returncode == 1
    assert "BROKEN at record 7" in broken.stdout and "unsigned" in broken.stdout


def test_an_empty_log_with_the_key_is_intact(database_url, key_file):
    store = Store(database_url, key_file=key_file)
    store.upgrade()
    try:
        result = store.verify()
        assert result.intact and result.head_hash is None and result.checkpoints == 0
    finally:
        store.close()
