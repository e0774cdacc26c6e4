"""Someone with write access to the database changes the log behind the service's back: each kind
of tampering is found by verify(), at the right record, on SQLite and on PostgreSQL."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest
import sqlalchemy as sa

from service.store import Store, record_hash
from tests.databases import synthetic_entry, tamper


@pytest.fixture
def log(store):
    store.append([synthetic_entry(i) for i in range(1, 7)])  # records 1..6
    assert store.verify().intact
    return store


def finding(store: Store, anchor=None):
    result = store.verify(anchor)
    assert not result.intact, "tampering went unnoticed"
    return result.finding


def test_an_altered_outcome_is_found(log):
    tamper(log, "UPDATE decision_log SET outcome = 'eligible_after_all' WHERE seq = 3")
    found = finding(log)
    assert (found.kind, found.seq) == ("altered", 3)


def test_altered_facts_are_found(log):
    tamper(log, "UPDATE decision_log SET facts = REPLACE(facts, '30', '31') WHERE seq = 5")
    assert (finding(log).kind, finding(log).seq) == ("altered", 5)


def test_a_removed_record_is_found(log):
    tamper(log, "DELETE FROM decision_log WHERE seq = 3")
    found = finding(log)
    assert (found.kind, found.seq) == ("removed", 4)
    assert "records 3 to 3 are missing" in found.detail


def test_a_removed_first_record_is_found(log):
    tamper(log, "DELETE FROM decision_log WHERE seq = 1")
    assert (finding(log).kind, finding(log).seq) == ("removed", 2)


def test_a_removed_record_with_the_gap_closed_is_found(log):
    tamper(log, "DELETE FROM decision_log WHERE seq = 3",
           "UPDATE decision_log SET seq = seq - 1 WHERE seq > 3")
    assert (finding(log).kind, finding(log).seq) == ("removed", 3)


def test_two_swapped_records_are_found(log):
    tamper(log, "UPDATE decision_log SET seq = -3 WHERE seq = 3",
           "UPDATE decision_log SET seq = 3 WHERE seq = 4",
           "UPDATE decision_log SET seq = 4 WHERE seq = -3")
    found = finding(log)
    assert (found.kind, found.seq) == ("reordered", 3)


def test_removed_last_records_are_found_with_an_anchor(log):
    head = log.verify()
    tamper(log, "DELETE FROM decision_log WHERE seq >= 5")
    assert log.verify().intact  # the chain alone cannot tell: nothing follows the cut
    found = finding(log, anchor=(head.head_seq, head.head_hash))
    assert (found.kind, found.seq) == ("removed", 6)


def test_a_rewritten_chain_is_found_with_an_anchor(log):
    anchor = (6, log.verify().head_hash)
    # Alter record 2, then recompute every hash from there on: the chain holds again.
    tamper(log, "UPDATE decision_log SET outcome = 'forged' WHERE seq = 2")
    rows = list(log.scan())
    updates, prev = [], rows[0].record_hash
    for record in rows[1:]:
        row = {**vars(record), "prev_hash": prev}
        prev = record_hash(row)
        updates.append(f"UPDATE decision_log SET prev_hash = '{row['prev_hash']}', "
                       f"record_hash = '{prev}' WHERE seq = {record.seq}")
    tamper(log, *updates)
    assert log.verify().intact
    found = finding(log, anchor=anchor)
    assert (found.kind, found.seq) == ("altered", 6)


def test_verify_log_command_reports_the_first_broken_record(log, tmp_path):
    url = log.url
    # This store signs nothing: verify with no key (checkpoints are test_checkpoints' part),
    # whatever key another test of the run may have made at the default place.
    no_key = ["--log-key", str(tmp_path / "none")]
    ok = subprocess.run([sys.executable, "-m", "service.cli", "verify-log", "--database-url",
                         url, *no_key], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "ok: 6 records, chain intact" in ok.stdout
    tamper(log, "UPDATE decision_log SET caller = 'someone else' WHERE seq = 4")
    broken = subprocess.run([sys.executable, "-m", "service.cli", "verify-log",
                             "--database-url", url, *no_key], capture_output=True, text=True)
    assert broken.returncode == 1
    assert "BROKEN at record 4" in broken.stdout and "altered" in broken.stdout


# ------------------------------------------------------------------- rewriting by re-inserting
def _forged_chain(log: Store, from_seq: int) -> list[dict]:
    """Record ``from_seq`` altered and every record after it re-hashed: a chain that holds."""
    rows, prev = [], None
    for record in log.scan():
        row = vars(record).copy()
        if record.seq == from_seq:
            row["outcome"] = "forged"
        if record.seq >= from_seq:
            row["prev_hash"] = prev
            row["record_hash"] = record_hash(row)
            rows.append(row)
        prev = row["record_hash"]
    return rows


def test_a_record_cannot_be_rewritten_by_inserting_it_again(log):
    """SQLite's REPLACE deletes the row in the way without firing the DELETE trigger: the
    append-only triggers alone let a record be rewritten and the chain re-hashed. PostgreSQL
    has no REPLACE, and its upsert fires the UPDATE trigger."""
    if log.dialect == "postgresql":
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), log.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO decision_log SELECT * FROM decision_log WHERE seq = 3 "
                "ON CONFLICT (seq) DO UPDATE SET outcome = 'forged'")
        assert log.verify().intact
        return
    import sqlite3

    forged = _forged_chain(log, 3)
    columns = ", ".join(forged[0])
    marks = ", ".join("?" * len(forged[0]))
    raw = sqlite3.connect(log.sqlite_path)  # the attacker's own connection, not the service's
    try:
        for verb in ("INSERT OR REPLACE", "REPLACE"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                with raw:
                    raw.executemany(f"{verb} INTO decision_log ({columns}) VALUES ({marks})",
                                    [tuple(row.values()) for row in forged])
        with pytest.raises(sqlite3.IntegrityError, match="append-only"), raw:
            raw.execute("INSERT INTO decision_log (seq, decision_id, decided_at, ruleset_id, "
                        "ruleset_version, outcome, as_of, facts, rulesets, decision, prev_hash, "
                        "record_hash) SELECT seq, decision_id, decided_at, ruleset_id, "
                        "ruleset_version, 'forged', as_of, facts, rulesets, decision, prev_hash, "
                        "record_hash FROM decision_log WHERE seq = 3 "
                        "ON CONFLICT DO UPDATE SET outcome = excluded.outcome")
        # the kept ruleset versions and the draws cannot be replaced either
        kept = hashlib.sha256(b"kept").hexdigest()
        raw.execute("INSERT INTO ruleset_versions VALUES (?, 'r', '1', 'kept', 't')", (kept,))
        raw.commit()
        with raw:
            raw.execute("INSERT OR REPLACE INTO ruleset_versions VALUES "
                        "(?, 'r', '1', 'forged', 't')", (kept,))
        assert raw.execute("SELECT content FROM ruleset_versions WHERE sha256 = ?",
                           (kept,)).fetchall() == [("kept",)]
        draw = ("d1", "r", "1", kept, "2019-07-12", "t", None, None, 1, "p", "q", "{}", 0)
        with raw:
            raw.execute(f"INSERT INTO draws VALUES ({', '.join('?' * len(draw))})", draw)
        with pytest.raises(sqlite3.IntegrityError, match="append-only"), raw:
            raw.execute(f"REPLACE INTO draws VALUES ({', '.join('?' * len(draw))})",
                        (*draw[:-2], '{"forged": true}', 0))
    finally:
        raw.close()
    assert [r.outcome for r in log.scan()] == ["eligible"] * 6
    assert log.verify().intact

