"""The PostgreSQL backup docs/operations.md documents restores everything: the commands are read
from that page and run for real (pg_dump, then pg_restore into a new database), and the restored
log must hold every table, verify clean with the key and still refuse UPDATE.

The PostgreSQL 15 client tools must be on the PATH; outside CI the test is skipped with the
reason when they, or a server where databases can be created, are missing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid

import pytest
import sqlalchemy as sa

from service.store import IdempotencyKey, NewDecision, Store, metadata, workbench
from service.store.draws import record_draw, save_pool
from tests.apps import ROOT
from tests.databases import SYNTHETIC_VERSION, require_postgres, synthetic_entry

APPEND_ONLY = ("decision_log", "ruleset_versions", "log_checkpoints", "idempotency_keys",
               "draws", "draw_invitations", "draw_candidates", "draft_trail", "draft_contents")


def documented_commands() -> list[str]:
    """The backup and restore commands of docs/operations.md, in order."""
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    section = text.split("#### Backup and restore", 1)[1].split("\n#", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def _require(tool: str) -> None:
    if shutil.which(tool) is None:
        message = f"{tool} is not installed (the PostgreSQL client tools)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}: under CI=true the backup round trip must run")
        pytest.skip(message)


@pytest.fixture
def databases():
    """Two new, empty databases on the test server: the one backed up, the one restored to."""
    import psycopg

    base = require_postgres()
    names = [f"decisions_{role}_{uuid.uuid4().hex[:10]}" for role in ("source", "restored")]
    try:
        with psycopg.connect(base, autocommit=True) as conn:
            for name in names:
                conn.execute(f"CREATE DATABASE {name}")
    except psycopg.errors.InsufficientPrivilege as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"the test server does not let this role create databases: {exc}")
    urls = [sa.engine.make_url(base).set(database=name).render_as_string(hide_password=False)
            for name in names]
    try:
        yield urls
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            for name in names:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def fill(url: str, key_file) -> None:
    """A log with all there is to lose: records, kept versions, checkpoints, an idempotency
    key, a stored pool, a draw, and a workbench draft with its trail and an impact run."""
    store = Store(url, key_file=key_file)
    store.upgrade()
    try:
        store.append([synthetic_entry(1), synthetic_entry(2)], [SYNTHETIC_VERSION])
        store.append([synthetic_entry(3)], [], IdempotencyKey("tests", "key-1", "ab" * 32))
        save_pool(store, "pool-1", [b'{"candidate_id": "A"}', b'{"candidate_id": "B"}'],
                  "cd" * 32, "pool.jsonl")
        invited = synthetic_entry(4)
        record_draw(store, {
            "draw_id": "draw-1", "ruleset": {"id": "oinp.hcp.tech-draw", "version": "2019-07-11",
                                             "sha256": SYNTHETIC_VERSION["sha256"]},
            "draw_date": "2019-07-12", "held_at": "2026-12-02T10:00:00.000+00:00",
            "pool": {"size": 2, "sha256": "cd" * 32}, "results_sha256": "ef" * 32},
            [NewDecision(invited.decision, invited.facts)],
            [{"rank": 1, "candidate_id": "A", "position": 1, "score": 480,
              "profile_submitted_at": None, "expires_on": "2019-09-10",
              "decision_id": invited.decision["decision_id"]}],
            [{"position": 1, "candidate_id": "A", "status": "invited", "score": 480, "rank": 1},
             {"position": 2, "candidate_id": "B", "status": "below_cutoff", "score": 400}])
        draft = {"draft_id": "d-1", "ruleset_id": "test.min-age", "version": "2027-01-01",
                 "path": "test/min-age-2027-01-01.yaml", "effective_from": "2027-01-01",
                 "content": "id: test.min-age\n", "author": "ann", "state": "draft",
                 "ruleset_sha256": "ab" * 32, "created_at": "2026-12-04T10:00:00.000+00:00",
                 "updated_at": "2026-12-04T10:00:00.000+00:00"}
        workbench.insert_draft(store, draft, workbench.TrailEntry("ann", "created", "",
                                                                  draft["content"]))
        workbench.start_impact(store, {
            "run_id": "i-1", "draft_id": "d-1", "content_sha256": "ab" * 32, "state": "done",
            "started_at": draft["created_at"], "updated_at": draft["created_at"],
            "started_by": "ann"})
    finally:
        store.close()


def counts(url: str) -> dict[str, int]:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return {table: conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()
                    for table in [*metadata.tables, "alembic_version"]}
    finally:
        engine.dispose()


def test_the_documented_backup_restores_everything(databases, tmp_path):
    _require("pg_dump")
    _require("pg_restore")
    source, restored = databases
    key_file = tmp_path / "log-key"
    fill(source, key_file)
    before = counts(source)
    assert all(before.values()), before  # every table has something to lose

    commands = documented_commands()
    assert [c.split()[0] for c in commands] == ["pg_dump", "pg_restore", "decisions"], commands
    env = {**os.environ, "DATABASE_URL": source, "RESTORE_URL": restored,
           "PYTHONPATH": str(ROOT)}
    for command in commands:
        command = command.replace("/path/to/log-key", str(key_file))
        if command.startswith("decisions "):
            command = f"{sys.executable} -m service.cli " + command.removeprefix("decisions ")
        done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    # the last command was verify-log on the restored database, with the key
    assert "ok: 4 records, chain intact" in done.stdout
    assert "signed checkpoints hold" in done.stdout
    assert "workbench trail: 1 records, chain intact" in done.stdout

    assert counts(restored) == before
    store = Store(restored)
    try:
        assert store.revision() == store.head_revision()
        for table in APPEND_ONLY:
            with pytest.raises(sa.exc.DBAPIError, match="append-only"), \
                    store.engine.begin() as conn:
                conn.exec_driver_sql(f"UPDATE {table} SET {_a_column(table)} = "
                                     f"{_a_column(table)}")
        assert store.idempotent("tests", "key-1") is not None
    finally:
        store.close()


def _a_column(table: str) -> str:
    return next(iter(metadata.tables[table].columns)).name
