"""Someone with write access to the database changes the log behind the service's back: each kind
of tampering is found by verify(), at the right record, on SQLite and on PostgreSQL."""

from __future__ import annotations

import subprocess
import sys

import pytest

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


def test_verify_log_command_reports_the_first_broken_record(log):
    url = log.url
    ok = subprocess.run([sys.executable, "-m", "service.cli", "verify-log", "--database-url",
                         url], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "ok: 6 records, chain intact" in ok.stdout
    tamper(log, "UPDATE decision_log SET caller = 'someone else' WHERE seq = 4")
    broken = subprocess.run([sys.executable, "-m", "service.cli", "verify-log",
                             "--database-url", url], capture_output=True, text=True)
    assert broken.returncode == 1
    assert "BROKEN at record 4" in broken.stdout and "altered" in broken.stdout
