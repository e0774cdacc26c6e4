"""The decision log: append-only, hash-chained, on SQLAlchemy Core (SQLite by default, PostgreSQL
by URL), with its schema managed by the Alembic migrations in ``service/store/migrations``.

Each record holds what an auditor needs months later: the facts as the caller sent them, the
as-of date, the ruleset ids, versions and hashes, the explanation (what each rule matched and
did, each requirement and why not, in both languages; rules named by key), the outcome, the
time, the request id and the caller's token name. Its ``record_hash`` covers all of that and the
previous record's hash, so changing, removing or reordering any record breaks the chain at that
point (``verify``).

Appends are serialised across threads and processes so that the chain stays linear: SQLite takes
its write lock up front (``BEGIN IMMEDIATE``), PostgreSQL a transaction-scoped advisory lock. The
sequence number is assigned under that lock, so it has no gaps: a gap means a removed record.

The log also keeps, in ``ruleset_versions``, every ruleset version its records used, exactly: the
canonical JSON whose sha256 the records name. A record names its rules by key; their titles,
references and conditions are read from that content when the record is shown, so a record can
be explained after the ruleset files changed. That table is append-only like the log, and
``verify`` checks each kept content against its sha256.

There is no update or delete in this module, and the migrations add triggers that make the
database itself refuse UPDATE and DELETE on the log and on the kept ruleset versions, and on
SQLite an insert that would replace a row (INSERT OR REPLACE deletes without DELETE triggers).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import itertools
import math
import os
import re
import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url

from ..errors import DecisionError
from .checkpoints import LogKey, LogKeyError, read_key, read_or_create_key
from .tables import decision_log, idempotency_keys, log_checkpoints, ruleset_versions

GENESIS = "0" * 64  # the "previous hash" of the first record
MIGRATIONS = Path(__file__).parent / "migrations"
# Keys of PostgreSQL advisory locks ("decision log append", "decision log migrate"): any two
# fixed 64-bit numbers would do, as long as nothing else in the database uses them.
APPEND_LOCK = 0x6465_6369_6C6F_6701
MIGRATE_LOCK = 0x6465_6369_6C6F_6702
# The longest any one wait on the database may last (a connection, a lock, a statement), unless
# the Store is given another: well below gunicorn's worker timeout (60 s), so that a client whose
# request cannot be logged gets 503 problem+json, not a worker killed mid-request.
DATABASE_TIMEOUT = 10.0
SCAN_BATCH = 500
IN_CHUNK = 500  # values per SQL IN list
VERSION_BATCH = 20  # ruleset versions read per transaction by verify (each up to a few 100 KB)
CHECKPOINT_BATCH = 2000  # checkpoints read per transaction by verify

HASHED = ("decision_id", "decided_at", "ruleset_id", "ruleset_version", "outcome",
          "candidate_id", "as_of", "request_id", "caller", "facts", "rulesets", "decision",
          "prev_hash")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class StoreUnavailableError(DecisionError):
    """The log could not be written or read; the decision was not given (retry later)."""

    status = 503
    title = "Decision log unavailable"


# SQLSTATEs that mean the log's schema is not there (a database recreated, a search_path
# pointing elsewhere): undefined table, undefined function (the triggers), invalid schema.
MISSING_SCHEMA_STATES = ("42P01", "42883", "3F000")
PERMISSION_STATE = "42501"
SQLITE_FILE_GONE = ("the SQLite log file cannot be opened (deleted or moved while the service "
                    "ran?): put it back; the service does not start a new, empty log in its "
                    "place")
SCHEMA_MISSING = ("the decision log's tables are missing (was the database recreated?): run "
                  "`decisions db upgrade`")


def unavailable(exc: sa.exc.SQLAlchemyError) -> StoreUnavailableError | None:
    """The StoreUnavailableError (503) a database failure stands for, or None for a failure that
    is a bug here (a constraint broken by the code, bad SQL), which stays a 500.

    503 when the database cannot be reached or is too slow (a connection, lock or statement
    timeout: its waits are bounded, see DATABASE_TIMEOUT), and when its schema is missing or
    the service may not write to it: in every case no decision is given unless it is logged,
    and the condition can be mended without changing the code."""
    orig = getattr(exc, "orig", None)
    state = getattr(orig, "sqlstate", None)
    message = str(orig or exc)
    if state in MISSING_SCHEMA_STATES or "no such table" in message:
        return StoreUnavailableError(SCHEMA_MISSING)
    if "unable to open database file" in message:
        return StoreUnavailableError(SQLITE_FILE_GONE)
    if state == PERMISSION_STATE:
        return StoreUnavailableError("the database refuses the service's writes or reads "
                                     "(permission denied): see docs/operations.md for the "
                                     "grants the service needs")
    if isinstance(exc, sa.exc.TimeoutError):
        return StoreUnavailableError("the decision log did not answer in time: every "
                                     "connection to it is busy")
    if isinstance(exc, sa.exc.OperationalError):
        if state in ("55P03", "57014"):  # lock_timeout, statement_timeout
            return StoreUnavailableError("the decision log did not answer in time: it is busy "
                                         f"or locked ({type(orig).__name__})")
        return StoreUnavailableError(f"the decision log cannot be reached: "
                                     f"{type(orig).__name__}")
    return None


@contextmanager
def database_errors() -> Iterator[None]:
    """Turn the database failures that are not bugs into StoreUnavailableError (``unavailable``)."""
    try:
        yield
    except (sa.exc.DBAPIError, sa.exc.TimeoutError) as exc:
        mapped = unavailable(exc)
        if mapped is None:
            raise
        raise mapped from exc


class RulesetVersionMismatchError(DecisionError):
    """A ruleset version handed to the log whose content does not hash to its sha256 (a bug in
    the caller: the log would keep a version no record can be checked against)."""

    title = "Ruleset version does not match its sha256"


class RulesetVersionMissingError(DecisionError):
    """Decisions handed to the log name a ruleset version it does not keep and whose content
    was not handed over with them (a bug in the caller: such a record could not be explained
    or checked later)."""

    title = "Ruleset version not kept"


@dataclass(frozen=True)
class IdempotencyKey:
    """A caller's ``Idempotency-Key`` and the sha256 of the request it came with."""

    caller: str
    key: str
    request_sha256: str


class IdempotencyKeyTaken(Exception):
    """Raised by ``append`` when the key was written first by another transaction (two sends
    of one request at once): nothing was written; the decision given first is ``decision_id``."""

    def __init__(self, decision_id: str, request_sha256: str):
        super().__init__(decision_id)
        self.decision_id, self.request_sha256 = decision_id, request_sha256


# ------------------------------------------------------------------------------------- records
@dataclass(frozen=True)
class NewDecision:
    """What a view hands to the log: the decision as ``decide`` made it and who asked."""

    decision: Mapping[str, Any]
    facts: Any
    request_id: str | None = None
    caller: str | None = None


@dataclass(frozen=True)
class Record:
    seq: int
    decision_id: str
    decided_at: str
    ruleset_id: str
    ruleset_version: str
    outcome: str
    candidate_id: str | None
    as_of: str
    request_id: str | None
    caller: str | None
    facts: str
    rulesets: str
    decision: str
    prev_hash: str
    record_hash: str

    def as_dict(self) -> dict[str, Any]:
        """The record with its JSON columns parsed (hashes still verifiable from ``export``)."""
        return {"seq": self.seq, "decision_id": self.decision_id, "decided_at": self.decided_at,
                "ruleset": self.ruleset_id, "version": self.ruleset_version,
                "outcome": self.outcome, "candidate_id": self.candidate_id, "as_of": self.as_of,
                "request_id": self.request_id, "caller": self.caller,
                "facts": orjson.loads(self.facts), "rulesets": orjson.loads(self.rulesets),
                "decision": orjson.loads(self.decision), "prev_hash": self.prev_hash,
                "record_hash": self.record_hash}


def record_hash(row: Mapping[str, Any]) -> str:
    """sha256 over the canonical JSON of every hashed column, the previous hash included."""
    return hashlib.sha256(orjson.dumps({k: row[k] for k in HASHED},
                                       option=orjson.OPT_SORT_KEYS)).hexdigest()


def canonical_json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def content_sha256(content: str) -> str:
    """The sha256 a ruleset version is known by: that of its canonical JSON, in UTF-8."""
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def _candidate_id(facts: Any) -> str | None:
    value = facts.get("candidate_id") if isinstance(facts, Mapping) else None
    # An index column, not evidence (the facts column keeps the value as sent): skip values
    # that PostgreSQL text cannot hold (NUL) or that would not be searched for anyway.
    if isinstance(value, str) and 0 < len(value) <= 200 and not _CONTROL.search(value):
        return value
    return None


def _row(entry: NewDecision) -> dict[str, Any]:
    d = entry.decision
    top = next((r for r in d["rulesets"] if r["id"] == d["ruleset"]), d["rulesets"][-1])
    return {"decision_id": d["decision_id"], "decided_at": d["decided_at"],
            "ruleset_id": d["ruleset"], "ruleset_version": top["version"],
            "outcome": d["outcome"], "candidate_id": _candidate_id(entry.facts),
            "as_of": d["as_of"], "request_id": entry.request_id, "caller": entry.caller,
            "facts": canonical_json(entry.facts),
            "rulesets": canonical_json([{k: r[k] for k in ("id", "version", "sha256")}
                                        for r in d["rulesets"]]),
            "decision": canonical_json(d)}


def _version_values(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Kept-version rows by sha256, each checked against its sha256, in key order: two
    transactions inserting the same keys then wait on each other in the same order, never in a
    cycle (PostgreSQL would report a deadlock)."""
    stored_at = timestamp(dt.datetime.now(dt.UTC))
    values: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["sha256"] in values:
            continue
        if content_sha256(row["content"]) != row["sha256"]:
            raise RulesetVersionMismatchError(
                f"ruleset {row['ruleset_id']} version {row['version']}: its content does "
                f"not hash to its sha256 {row['sha256']}")
        values[row["sha256"]] = {"sha256": row["sha256"], "ruleset_id": row["ruleset_id"],
                                 "version": row["version"], "content": row["content"],
                                 "stored_at": stored_at}
    return {key: values[key] for key in sorted(values)}


# ------------------------------------------------------------------------------------- queries
@dataclass(frozen=True)
class Filters:
    ruleset: str | None = None
    version: str | None = None
    outcome: str | None = None
    candidate_id: str | None = None
    decided_from: dt.datetime | None = None  # inclusive
    decided_to: dt.datetime | None = None  # exclusive

    def where(self) -> list[Any]:
        c = decision_log.c
        clauses = []
        for column, value in ((c.ruleset_id, self.ruleset), (c.ruleset_version, self.version),
                              (c.outcome, self.outcome), (c.candidate_id, self.candidate_id)):
            if value is not None:
                clauses.append(column == value)
        if self.decided_from is not None:
            clauses.append(c.decided_at >= timestamp(self.decided_from))
        if self.decided_to is not None:
            clauses.append(c.decided_at < timestamp(self.decided_to))
        return clauses


def timestamp(moment: dt.datetime) -> str:
    """A datetime in the stored ``decided_at`` form (naive means UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds")


# The largest position a cursor may carry, by kind: what the column holding it can hold (a
# larger number would fail in the database instead of being refused here).
CURSOR_LIMITS = {"seq": 2 ** 63 - 1, "rank": 2 ** 31 - 1}


def encode_cursor(position: int, kind: str = "seq") -> str:
    """An opaque cursor for paging: the position after which the next page starts (a log
    sequence number, or a draw's rank)."""
    return base64.urlsafe_b64encode(f"{kind}:{position}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str = "seq") -> int:
    """The position a cursor stands for; ValueError when it is not one this service made."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise ValueError("not a cursor from this service") from None
    found, _, number = text.partition(":")
    if found != kind or not number.isdigit() or int(number) > CURSOR_LIMITS[kind]:
        raise ValueError("not a cursor from this service")
    return int(number)


# ----------------------------------------------------------------------------------- verifying
@dataclass(frozen=True)
class Finding:
    """The first place where the log does not hold.

    ``kind`` is altered, removed or reordered for a record of the chain (at ``seq``);
    version_missing for a record that names a ruleset version the log does not keep (deleted,
    or never kept), or version_altered when the log keeps that sha256 under another ruleset id
    or version (at ``seq`` too); or version_altered for a kept ruleset version whose content no
    longer matches its sha256 (no record: ``seq`` and ``decision_id`` are None, the detail names
    the ruleset id, version and sha256)."""

    kind: str
    seq: int | None
    decision_id: str | None
    detail: str


@dataclass(frozen=True)
class Verification:
    checked: int
    head_seq: int | None
    head_hash: str | None
    finding: Finding | None
    versions: int = 0  # kept ruleset versions checked (only when the chain holds)
    checkpoints: int = 0  # signed checkpoints that hold
    # Why the checkpoints were not checked (no key); None when they were.
    unchecked: str | None = None
    # Records older than every checkpoint (logged before 0005, or by a store without a key):
    # the chain covers them, no signature does.
    unsigned_before: int = 0

    @property
    def intact(self) -> bool:
        return self.finding is None


class _KeptIndex:
    """(ruleset id, version) of each kept ruleset version by sha256, for verify: read whole
    at the start (ids only, not contents), then asked again for a sha256 it does not have,
    which a service appending during the walk may have kept since."""

    def __init__(self, store: Store):
        self.store = store
        c = ruleset_versions.c
        with store._errors(), store.engine.connect() as conn:
            self.known = {row.sha256: (row.ruleset_id, row.version) for row in
                          conn.execute(sa.select(c.sha256, c.ruleset_id, c.version))}
        self.asked: set[str] = set()

    def get(self, sha256: str) -> tuple[str, str] | None:
        if sha256 not in self.known and sha256 not in self.asked:
            self.asked.add(sha256)
            c = ruleset_versions.c
            with self.store._errors(), self.store.engine.connect() as conn:
                row = conn.execute(sa.select(c.ruleset_id, c.version)
                                   .where(c.sha256 == sha256)).first()
            if row is not None:
                self.known[sha256] = (row.ruleset_id, row.version)
        return self.known.get(sha256)


class _CheckpointWalk:
    """verify's walk through the signed checkpoints, in step with the records (both in log
    order): each record a checkpoint ends at is checked against it, and the checkpoints must
    follow each other without a gap from the first record they cover."""

    def __init__(self, store: Store, key: LogKey):
        self.store, self.key = store, key
        self.pages = store.checkpoint_pages()
        self.next: dict[str, Any] | None = next(self.pages, None)
        self.since = self.next["since_seq"] if self.next else None
        self.covered = (self.since or 1) - 1  # the last record a checked checkpoint covers
        self.checked = 0
        self.asked_again = False

    def unsigned_before(self) -> int:
        return (self.since or 1) - 1

    def _invalid(self, checkpoint: Mapping[str, Any]) -> str | None:
        if checkpoint["key_id"] != self.key.key_id:
            return (f"it was signed with another key (key id {checkpoint['key_id']}; this key "
                    f"is {self.key.key_id})")
        if not self.key.signed(checkpoint):
            return "its signature does not match what it says: forged or altered"
        if checkpoint["since_seq"] != self.since:
            return (f"it says checkpoints start at record {checkpoint['since_seq']}, the "
                    f"first one at {self.since}: checkpoints were removed or forged")
        return None

    def at(self, record: Record) -> Finding | None:
        """The finding at ``record`` when a checkpoint ends there and does not hold."""
        if self.next is None and record.seq > self.covered and not self.asked_again:
            # Read to the end already, but the log went on: records and their checkpoint are
            # committed together, so the checkpoints of records appended since are there now.
            self.pages = self.store.checkpoint_pages(after=self.covered)
            self.next, self.asked_again = next(self.pages, None), True
        cp = self.next
        if cp is None or cp["last_seq"] > record.seq:
            return None
        if cp["last_seq"] < record.seq:  # below the first record: no record to check it with
            return Finding("checkpoint_invalid", cp["last_seq"], None,
                           f"a checkpoint covers record {cp['last_seq']}, which cannot exist")
        invalid = self._invalid(cp)
        if invalid:
            return Finding("checkpoint_invalid", record.seq, record.decision_id,
                           f"the checkpoint that ends at this record: {invalid}")
        if cp["first_seq"] != self.covered + 1:
            if cp["first_seq"] > self.covered + 1:
                return Finding("unsigned", self.covered + 1, None, (
                    f"records {self.covered + 1} to {cp['first_seq'] - 1} are covered by no "
                    "signed checkpoint: appended by someone without the log's key (forged), "
                    "or their checkpoints were removed"))
            return Finding("checkpoint_invalid", record.seq, record.decision_id,
                           f"the checkpoint that ends at this record overlaps the one before "
                           f"(it starts at {cp['first_seq']})")
        if cp["record_hash"] != record.record_hash:
            return Finding("altered", record.seq, record.decision_id,
                           "its hash differs from the one its signed checkpoint holds: the "
                           "chain was rewritten")
        self.covered, self.checked = record.seq, self.checked + 1
        self.next, self.asked_again = next(self.pages, None), False
        return None

    def end(self, head: Record | None) -> Finding | None:
        """After the last record: records no checkpoint covers, or a checkpoint past the end."""
        last = head.seq if head else 0
        cp = self.next
        if cp is not None:
            if self.store._record_at(cp["last_seq"]) is not None:
                return None  # appended while the walk went on: the log grew, nothing lost
            invalid = self._invalid(cp)
            if invalid:
                return Finding("checkpoint_invalid", cp["last_seq"], None,
                               f"a checkpoint past the end of the log: {invalid}")
            return Finding("removed", cp["last_seq"], None, (
                f"the log ends at record {last}, but a signed checkpoint covers records up to "
                f"{cp['last_seq']}: records at its end were removed"))
        if last > self.covered:
            return Finding("unsigned", self.covered + 1, None, (
                f"records {self.covered + 1} to {last} are covered by no signed checkpoint: "
                "appended by someone without the log's key (forged), or by a store given no "
                "key"))
        return None


def _holds_its_texts(record: Record) -> bool:
    """Whether a record holds its rules' titles itself, as records logged before the log kept
    ruleset versions (migration 0003) do (decisions.with_texts leaves those as they are)."""
    decision = orjson.loads(record.decision)
    return any("title" in entry for part in ("fired", "requirements")
               for entry in decision.get(part) or ())


# --------------------------------------------------------------------------------------- store
def normalize_url(url: str) -> str:
    """Accept the usual spellings of a PostgreSQL URL and use the psycopg 3 driver we ship."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def make_engine(url: str, timeout: float = DATABASE_TIMEOUT) -> Engine:
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            raise DecisionError("the decision log needs a SQLite file (sqlite:///path/to.db); "
                                "an in-memory database would lose every decision")
        path = Path(database).absolute()
        path.parent.mkdir(parents=True, exist_ok=True)
        # The log holds candidates' personal facts: readable by the service's user only. SQLite
        # gives its -wal and -shm files the same permissions as the database file.
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        # Opened with mode=rw, never "create": a log file deleted while the service runs must
        # fail the requests (503), not be replaced by an empty file that takes their decisions.
        opened = parsed.set(database=f"file:{quote(str(path))}",
                            query={"mode": "rw", "uri": "true"})
        engine = sa.create_engine(opened, connect_args={"timeout": timeout},
                                  hide_parameters=True)
        event.listen(engine, "connect", functools.partial(_sqlite_connect, path, timeout))
        event.listen(engine, "checkout", functools.partial(_sqlite_checkout, path))
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.get_backend_name() != "postgresql":
        raise DecisionError(f"unsupported database {parsed.get_backend_name()!r}: use a "
                            "sqlite:/// file or a postgresql:// URL")
    # hide_parameters: a failed statement's error (which reaches the logs) must not carry its
    # bound values, candidates' ids and facts among them.
    engine = sa.create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=5,
                              pool_timeout=timeout, hide_parameters=True,
                              connect_args={"connect_timeout": max(1, math.ceil(timeout))})
    event.listen(engine, "connect", functools.partial(_postgresql_connect, timeout))
    return engine


def _postgresql_connect(timeout: float, dbapi_connection, _record) -> None:
    # Every statement and every lock wait (the append lock above all) ends after ``timeout``
    # with an error the store reports as 503, instead of waiting until gunicorn kills the
    # worker. Committed at once: a SET inside a transaction rolled back later would be undone.
    milliseconds = max(1, round(timeout * 1000))
    with dbapi_connection.cursor() as cursor:
        cursor.execute(f"SET statement_timeout = {milliseconds}")
        cursor.execute(f"SET lock_timeout = {milliseconds}")
    dbapi_connection.commit()


def file_id(path: Path) -> tuple[int, int] | None:
    """What tells one file from another at the same path (None when there is none)."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino


def _sqlite_connect(path: Path, timeout: float, dbapi_connection, record) -> None:
    # The file this connection has open: if it is deleted or replaced later, the connection
    # would go on writing to the old one, which nobody will ever read (see _sqlite_checkout).
    record.info["file_id"] = file_id(path)
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own BEGIN is DEFERRED and
    # cannot be made IMMEDIATE per transaction).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer, nor it them
    # FULL: a commit is on disk before the response, even if the machine loses power after.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute(f"PRAGMA busy_timeout={max(1, round(timeout * 1000))}")
    cursor.close()


def _sqlite_checkout(path: Path, _dbapi_connection, record, _proxy) -> None:
    # A pooled connection to a file no longer at ``path`` (deleted, or replaced by a restored
    # copy) is thrown away; the pool then opens the path afresh, which fails when it is gone.
    if record.info.get("file_id") != file_id(path):
        raise sa.exc.DisconnectionError(f"the SQLite log file {path} was deleted or replaced")


def _sqlite_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


def _alembic_config():
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


@functools.cache
def _head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


class Store:
    def __init__(self, url: str, timeout: float = DATABASE_TIMEOUT,
                 key_file: str | Path | None = None):
        """``timeout``: the longest wait for a connection, a lock or a statement, in seconds.
        ``key_file``: the key that signs the log's checkpoints (``checkpoints``), made on the
        first append when there is none; verify reads it and never makes one. Without it,
        appends are not signed: tools and tests only, the service always has one."""
        self.url = normalize_url(url)
        self.timeout = timeout
        self.key_file = Path(key_file) if key_file else None
        self._key: LogKey | None = None
        self.engine = make_engine(self.url, timeout)
        self.dialect = self.engine.dialect.name
        self.sqlite_path = Path(make_url(self.url).database).absolute() \
            if self.dialect == "sqlite" else None

    # -- schema
    def upgrade(self) -> None:
        """Apply pending migrations; one process at a time, the others wait and find nothing
        left to do."""
        from alembic import command

        with self._guarded(self._write_connection, MIGRATE_LOCK, bounded=False) as conn:
            before = self._revision(conn)
            config = self._alembic_config()
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
            # A log that had records before it had checkpoints: signed by this migration.
            if before is not None and before < "0005" and self.key_file is not None:
                self._sign_existing(conn, self._signing_key())

    def _sign_existing(self, conn: Connection, key: LogKey) -> None:
        """The records a log held when it got checkpoints (0005), signed once, by the migration
        that made them: only then, so that a later start never signs what someone without the
        key appended."""
        if self.dialect == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(APPEND_LOCK)))
        if conn.execute(sa.select(log_checkpoints.c.last_seq).limit(1)).first() is not None:
            return  # another process migrated and signed first
        c = decision_log.c
        last = conn.execute(sa.select(c.seq, c.record_hash)
                            .order_by(c.seq.desc()).limit(1)).first()
        if last is not None:
            conn.execute(log_checkpoints.insert(), [key.checkpoint(
                1, 1, last.seq, last.record_hash, timestamp(dt.datetime.now(dt.UTC)))])

    def _signing_key(self) -> LogKey | None:
        if self._key is None and self.key_file is not None:
            self._key = read_or_create_key(self.key_file)
        return self._key

    def revision(self) -> str | None:
        """The schema revision the database is at (None before the first migration)."""
        with self._errors(), self.engine.connect() as conn:
            return self._revision(conn)

    @staticmethod
    def _revision(conn: Connection) -> str | None:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()

    @staticmethod
    def head_revision() -> str:
        """The revision the code expects: the last migration shipped with it."""
        return _head_revision()

    def _alembic_config(self):
        return _alembic_config()

    def close(self) -> None:
        self.engine.dispose()

    # -- writing
    def append(self, entries: Sequence[NewDecision],
               versions: Iterable[Mapping[str, Any]] = (),
               idempotency: IdempotencyKey | None = None) -> list[tuple[int, str]]:
        """Write decisions as consecutive records, all in one transaction, committed when this
        returns. Returns (seq, record_hash) of each, in order.

        The log holds no record whose ruleset versions it does not keep: in the same
        transaction, every version the decisions name that is not kept yet is kept from
        ``versions`` (rows as for ``keep_versions``), and a version neither kept nor given
        raises RulesetVersionMissingError with nothing written. The database is asked each
        time, never a memory of it: a database recreated under a running service has lost the
        versions it kept before.

        With ``idempotency`` (one decision only), the key is written in the same transaction,
        naming the decision; a key written first by another transaction raises
        IdempotencyKeyTaken, with nothing written."""
        rows = [_row(e) for e in entries]  # serialise outside the lock: keep it short
        if not rows:
            return []
        if idempotency is not None and len(rows) != 1:
            raise ValueError("an idempotency key names one decision")
        named = {r["sha256"]: r for e in entries for r in e.decision["rulesets"]}
        given = {row["sha256"]: row for row in versions}
        key = self._signing_key()
        c = decision_log.c
        with self._guarded(self._write_connection, APPEND_LOCK) as conn:
            if idempotency is not None:
                # Under the append lock: of two sends of one request at once, the second sees
                # the first's key here, once the first has committed.
                first = self._idempotent(conn, idempotency.caller, idempotency.key)
                if first is not None:
                    raise IdempotencyKeyTaken(*first)
            self._keep_named(conn, named, given)
            last = conn.execute(sa.select(c.seq, c.record_hash)
                                .order_by(c.seq.desc()).limit(1)).first()
            seq, prev = (last.seq, last.record_hash) if last else (0, GENESIS)
            for row in rows:
                seq += 1
                row["seq"], row["prev_hash"] = seq, prev
                row["record_hash"] = prev = record_hash(row)
            conn.execute(decision_log.insert(), rows)
            if key is not None:
                self._checkpoint(conn, key, rows[0]["seq"], rows[-1])
            if idempotency is not None:
                conn.execute(idempotency_keys.insert(), [{
                    "caller": idempotency.caller, "idempotency_key": idempotency.key,
                    "request_sha256": idempotency.request_sha256,
                    "decision_id": rows[0]["decision_id"], "created_at": rows[0]["decided_at"]}])
        return [(r["seq"], r["record_hash"]) for r in rows]

    def idempotent(self, caller: str, key: str) -> tuple[str, str] | None:
        """(decision_id, request_sha256) of the decision given for this caller's key, or None
        when the key was never used."""
        with self._errors(), self.engine.connect() as conn:
            return self._idempotent(conn, caller, key)

    @staticmethod
    def _idempotent(conn: Connection, caller: str, key: str) -> tuple[str, str] | None:
        c = idempotency_keys.c
        row = conn.execute(sa.select(c.decision_id, c.request_sha256)
                           .where(c.caller == caller, c.idempotency_key == key)).first()
        return (row.decision_id, row.request_sha256) if row else None

    @staticmethod
    def _checkpoint(conn: Connection, key: LogKey, first_seq: int,
                    last: Mapping[str, Any]) -> None:
        """Sign the records just written, in their transaction: they and their checkpoint are
        committed together or not at all."""
        k = log_checkpoints.c
        latest = conn.execute(sa.select(k.since_seq).order_by(k.last_seq.desc())
                              .limit(1)).first()
        since = latest.since_seq if latest else first_seq
        conn.execute(log_checkpoints.insert(), [key.checkpoint(
            since, first_seq, last["seq"], last["record_hash"],
            timestamp(dt.datetime.now(dt.UTC)))])

    def _keep_named(self, conn: Connection, named: Mapping[str, Mapping[str, Any]],
                    given: Mapping[str, Mapping[str, Any]]) -> None:
        c = ruleset_versions.c
        kept = set(conn.execute(sa.select(c.sha256).where(c.sha256.in_(sorted(named))))
                   .scalars())
        missing = [sha for sha in sorted(named) if sha not in kept]
        if not missing:
            return
        absent = [named[sha] for sha in missing if sha not in given]
        if absent:
            raise RulesetVersionMissingError(
                "the log keeps no content for " + ", ".join(
                    f"ruleset {r['id']} version {r['version']} (sha256 {r['sha256']})"
                    for r in absent) + ": a decision made with it is not logged")
        conn.execute(self._version_insert(), list(_version_values(
            given[sha] for sha in missing).values()))

    def keep_versions(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Keep the ruleset versions not kept yet, in one transaction; returns how many were new.

        Each row has sha256, ruleset_id, version, content (the canonical JSON, whose UTF-8 sha256
        must be ``sha256``). Safe when several processes keep the same versions at once: a
        version already there is left as it is."""
        values = _version_values(rows)
        if not values:
            return 0
        with self._errors(), self._write_connection() as conn, conn.begin():
            return len(conn.execute(self._version_insert(), list(values.values())).all())

    def _version_insert(self):
        dialect = postgresql if self.dialect == "postgresql" else sqlite
        return (dialect.insert(ruleset_versions).on_conflict_do_nothing()
                .returning(ruleset_versions.c.sha256))

    def _write_connection(self) -> Connection:
        conn = self.engine.connect()
        if self.dialect == "sqlite":
            # Take the write lock when the transaction starts, not at the first write: two
            # appenders can then never both read the same last record.
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        return conn

    @contextmanager
    def _guarded(self, connect, lock_key: int, bounded: bool = True) -> Iterator[Connection]:
        """A transaction that holds ``lock_key`` (PostgreSQL; SQLite's BEGIN IMMEDIATE is the
        lock). ``bounded=False`` lifts the statement and lock timeouts for this transaction
        only: migrations are run by an operator or at start, not for a waiting client, and may
        wait for another process's migration or build an index for longer."""
        with self._errors(), connect() as conn, conn.begin():
            if self.dialect == "postgresql":
                if not bounded:
                    conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
                    conn.exec_driver_sql("SET LOCAL lock_timeout = 0")
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(lock_key)))
            yield conn
            self._check_file(conn)

    def _check_file(self, conn: Connection) -> None:
        """Before a SQLite write commits: the file it went to must still be the log's file. A
        connection opened before the file was deleted (or replaced) would commit into a file
        nobody reads again, and the client would be told its decision was logged. (The pool
        throws the connection away at its next checkout, _sqlite_checkout.)"""
        if self.sqlite_path is not None and \
                conn.connection.info.get("file_id") != file_id(self.sqlite_path):
            raise StoreUnavailableError(SQLITE_FILE_GONE)

    def check_writable(self) -> None:
        """Raise StoreUnavailableError unless a record could be written now: what readiness
        asks. A record is inserted in a transaction that is rolled back, so the check runs
        into whatever a real append would (a read-only file or role, a deleted file, a lock
        held too long) without leaving anything behind."""
        if self.sqlite_path is not None:
            if file_id(self.sqlite_path) is None:
                raise StoreUnavailableError(SQLITE_FILE_GONE)
            if not os.access(self.sqlite_path, os.R_OK | os.W_OK):
                raise StoreUnavailableError(f"the SQLite log file {self.sqlite_path} is not "
                                            "writable by the service")
        probe = secrets.token_hex(32)
        row = {"seq": -secrets.randbelow(2 ** 31) - 1, "decision_id": f"probe-{probe[:32]}",
               "decided_at": "", "ruleset_id": "", "ruleset_version": "", "outcome": "",
               "as_of": "", "facts": "", "rulesets": "", "decision": "", "prev_hash": "",
               "record_hash": probe}
        with self._errors(), self.engine.connect() as conn:
            transaction = conn.begin()
            try:
                conn.execute(decision_log.insert(), [row])
                self._check_file(conn)
            finally:
                transaction.rollback()

    def _errors(self):
        return database_errors()

    # -- reading
    def get(self, decision_id: str) -> Record | None:
        with self._errors(), self.engine.connect() as conn:
            row = conn.execute(sa.select(decision_log)
                               .where(decision_log.c.decision_id == decision_id)).first()
        return Record(**row._mapping) if row else None

    def page(self, filters: Filters, after: int | None = None, limit: int = 50,
             newest_first: bool = False) -> tuple[list[Record], int | None]:
        """One page of records in log order (or newest first) and the seq to continue after."""
        c = decision_log.c
        query = sa.select(decision_log).where(*filters.where())
        if after is not None:
            query = query.where(c.seq < after if newest_first else c.seq > after)
        query = query.order_by(c.seq.desc() if newest_first else c.seq).limit(limit + 1)
        with self._errors(), self.engine.connect() as conn:
            rows = [Record(**r._mapping) for r in conn.execute(query)]
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, (rows[-1].seq if more else None)

    def scan(self, filters: Filters | None = None) -> Iterator[Record]:
        """Every matching record in log order, read in short transactions of SCAN_BATCH."""
        filters = filters or Filters()
        after = None
        while True:
            rows, after = self.page(filters, after, SCAN_BATCH)
            yield from rows
            if after is None:
                return

    def export(self, filters: Filters | None = None) -> Iterator[bytes]:
        """The matching records as JSON Lines: one whole record a line, in log order, each
        line's hash checkable offline (docs/operations.md). The first batch is read before this
        returns, so an unreachable database raises here and not halfway through a download."""
        records = self.scan(filters)
        first = next(records, None)
        head = () if first is None else (first,)
        return (orjson.dumps(record.as_dict()) + b"\n" for record in itertools.chain(head, records))

    def version_contents(self, sha256s: Iterable[str]) -> dict[str, str]:
        """The canonical content of each kept ruleset version asked for; those not kept are
        absent from the result."""
        keys = sorted(set(sha256s))
        c = ruleset_versions.c
        contents: dict[str, str] = {}
        with self._errors(), self.engine.connect() as conn:
            for start in range(0, len(keys), IN_CHUNK):
                chunk = keys[start:start + IN_CHUNK]
                for row in conn.execute(sa.select(c.sha256, c.content)
                                        .where(c.sha256.in_(chunk))):
                    contents[row.sha256] = row.content
        return contents

    def version_content(self, sha256: str) -> dict[str, str] | None:
        """A kept ruleset version as it was used (sha256, ruleset_id, version, content,
        stored_at), or None when it is not kept."""
        c = ruleset_versions.c
        with self._errors(), self.engine.connect() as conn:
            row = conn.execute(sa.select(c.sha256, c.ruleset_id, c.version, c.content,
                                         c.stored_at).where(c.sha256 == sha256)).first()
        return dict(row._mapping) if row else None

    def kept_versions(self) -> list[tuple[str, str]]:
        """(ruleset id, version) of every kept ruleset version, sorted: the versions the log's
        decisions used, whether or not the rulesets loaded now still have them (the log's
        filters offer them)."""
        c = ruleset_versions.c
        with self._errors(), self.engine.connect() as conn:
            return [(row.ruleset_id, row.version) for row in conn.execute(
                sa.select(c.ruleset_id, c.version).distinct().order_by(c.ruleset_id, c.version))]

    def count(self) -> int:
        with self._errors(), self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(decision_log)).scalar()

    # -- verifying
    def verify(self, anchor: tuple[int, str] | None = None) -> Verification:
        """Walk the chain from the first record; report the first one that does not hold. With
        the key (``key_file``), check the signed checkpoints along the way: every record covered
        by one, each one's hash the record's, none past the end. When the chain holds, check
        every kept ruleset version against its sha256 too.

        Without the key, a record appended with a correct hash, or records cut from the end,
        leave no trace: ``anchor`` (seq, hash), noted from an earlier run and kept elsewhere,
        catches the second and a rewritten chain."""
        expected_seq, expected_prev = 1, GENESIS
        checked, head = 0, None
        kept = _KeptIndex(self)
        key, unchecked = self._verifying_key()
        signed = _CheckpointWalk(self, key) if key is not None else None

        def found(finding: Finding | None, versions: int = 0) -> Verification:
            return Verification(
                checked, head.seq if head else None, head.record_hash if head else None,
                finding, versions, signed.checked if signed else 0, unchecked,
                signed.unsigned_before() if signed else 0)

        for record in self.scan():
            row = vars(record)
            if record_hash(row) != record.record_hash:
                return found(Finding("altered", record.seq, record.decision_id,
                                     "its content no longer matches its hash"))
            if record.prev_hash != expected_prev:
                return found(self._broken_link(record, expected_seq))
            if record.seq != expected_seq:  # linked right, numbered wrong: renumbered records
                return found(Finding(
                    "reordered", record.seq, record.decision_id,
                    f"it follows record {expected_seq - 1} but is numbered {record.seq}"))
            unkept = self._unkept_version(record, kept)
            if unkept:
                return found(Finding(unkept[0], record.seq, record.decision_id, unkept[1]))
            if signed is not None and (finding := signed.at(record)):
                return found(finding)
            checked += 1
            head = record
            expected_seq, expected_prev = record.seq + 1, record.record_hash
            if anchor and record.seq == anchor[0] and record.record_hash != anchor[1]:
                return found(Finding(
                    "altered", record.seq, record.decision_id,
                    "its hash differs from the anchor noted earlier: the chain was rewritten"))
        if signed is not None and (finding := signed.end(head)):
            return found(finding)
        if anchor and (head is None or head.seq < anchor[0]):
            return found(Finding(
                "removed", anchor[0], "",
                f"the log ends at record {head.seq if head else 0}, before the anchor "
                f"{anchor[0]}: records at its end were removed"))
        versions, finding = self._verify_versions()
        return found(finding, versions)

    def _verifying_key(self) -> tuple[LogKey | None, str | None]:
        """(the key, None), or (None, why the checkpoints cannot be checked)."""
        if self.key_file is None:
            return None, "no key given: the signed checkpoints were not checked"
        try:
            return read_key(self.key_file), None
        except FileNotFoundError:
            return None, (f"no key at {self.key_file}: the signed checkpoints were not checked, "
                          "so records appended, or cut from the end, by someone who can write "
                          "to the database would go unnoticed")
        except (OSError, LogKeyError) as exc:
            return None, (f"the key {self.key_file} cannot be read "
                          f"({getattr(exc, 'detail', None) or exc}): the signed checkpoints "
                          "were not checked")

    def checkpoint_pages(self, after: int = 0) -> Iterator[dict[str, Any]]:
        """Every checkpoint in order of the last record it covers, read in short
        transactions of CHECKPOINT_BATCH."""
        k = log_checkpoints.c
        while True:
            with self._errors(), self.engine.connect() as conn:
                rows = [dict(r._mapping) for r in conn.execute(
                    sa.select(log_checkpoints).where(k.last_seq > after)
                    .order_by(k.last_seq).limit(CHECKPOINT_BATCH))]
            yield from rows
            if len(rows) < CHECKPOINT_BATCH:
                return
            after = rows[-1]["last_seq"]

    def _record_at(self, seq: int) -> Record | None:
        with self._errors(), self.engine.connect() as conn:
            row = conn.execute(sa.select(decision_log).where(decision_log.c.seq == seq)).first()
        return Record(**row._mapping) if row else None

    @staticmethod
    def _unkept_version(record: Record, kept: _KeptIndex) -> tuple[str, str] | None:
        """(kind, detail) when the record names a ruleset version the log does not keep as
        named. A record that holds its rule texts itself (logged before migration 0003, when
        no version was kept) needs none."""
        for ref in orjson.loads(record.rulesets):
            name = f"ruleset {ref['id']} version {ref['version']} (sha256 {ref['sha256']})"
            found = kept.get(ref["sha256"])
            if found is None:
                if _holds_its_texts(record):
                    return None
                return ("version_missing", f"it names {name}, which the log does not keep "
                                           "(deleted, or never kept)")
            if found != (ref["id"], ref["version"]):
                return ("version_altered", f"it names {name}, but the log keeps that sha256 as "
                                           f"ruleset {found[0]} version {found[1]}")
        return None

    def _verify_versions(self) -> tuple[int, Finding | None]:
        """(versions that hold, the first kept version whose content does not match its sha256),
        read in short transactions of VERSION_BATCH in key order."""
        c = ruleset_versions.c
        checked, after = 0, None
        while True:
            query = sa.select(c.sha256, c.ruleset_id, c.version, c.content) \
                .order_by(c.sha256).limit(VERSION_BATCH)
            if after is not None:
                query = query.where(c.sha256 > after)
            with self._errors(), self.engine.connect() as conn:
                rows = conn.execute(query).all()
            for row in rows:
                if content_sha256(row.content) != row.sha256:
                    return checked, Finding(
                        "version_altered", None, None,
                        f"ruleset {row.ruleset_id} version {row.version} (sha256 {row.sha256}): "
                        "its kept content no longer matches its sha256")
                checked += 1
            if len(rows) < VERSION_BATCH:
                return checked, None
            after = rows[-1].sha256

    def _broken_link(self, record: Record, expected_seq: int) -> Finding:
        with self.engine.connect() as conn:
            predecessor = conn.execute(
                sa.select(decision_log.c.seq, decision_log.c.decision_id)
                .where(decision_log.c.record_hash == record.prev_hash)).first()
        if predecessor is not None:
            return Finding("reordered", record.seq, record.decision_id,
                           f"it was written right after record {predecessor.decision_id}, which "
                           f"now stands at {predecessor.seq}")
        missing = (f"records {expected_seq} to {record.seq - 1} are missing"
                   if record.seq > expected_seq else "the record written before it is missing")
        return Finding("removed", record.seq, record.decision_id,
                       f"{missing} (removed, or altered and re-hashed)")
