"""Service settings: defaults, then environment variables, then explicit overrides.

No Flask here: the CLI, the gunicorn hooks and the tests build a Config without a web app.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

DEFAULT_DATABASE_URL = "sqlite:///var/decisions.db"
DEFAULT_TOKENS_FILE = "var/tokens"
# Seconds the engine process may take over one call (a decision, a batch, a batch of a draw)
# before it is killed and replaced: well below gunicorn's worker timeout (60 s, service.serve),
# so that a hung engine costs the request a 503, not the worker its life.
DEFAULT_ENGINE_TIMEOUT = 30.0
# The Dask scheduler that `decisions draw`, `diff` and `replay` run on when it is set
# (tcp://HOST:PORT, or "local"); unset, they decide on this machine (docs/scaling.md).
DASK_SCHEDULER_ENV = "DECISIONS_DASK_SCHEDULER"


@dataclass(frozen=True)
class Config:
    rulesets_dir: str = "rulesets"
    database_url: str = DEFAULT_DATABASE_URL
    tokens_file: str = DEFAULT_TOKENS_FILE
    # A batch of 1,000 candidate profiles is about 700 KB of JSON; 2 MiB leaves room for long
    # optional fields without letting one request hold a worker's memory hostage.
    max_body_bytes: int = 2 * 1024 * 1024
    # Apply pending migrations when the app starts. `decisions serve` migrates once before it
    # forks, so the workers find the schema current; tests and embedded uses rely on this.
    migrate_on_start: bool = True
    # Decide in a supervised engine process (``service.decisions.deciders``), so that an engine
    # crash costs one request (503) and not the worker. Off only where speed of start matters
    # more (tests).
    isolate_engine: bool = True
    # The deadline of each call to the engine process (DEFAULT_ENGINE_TIMEOUT).
    engine_timeout: float = DEFAULT_ENGINE_TIMEOUT
    # Set by `decisions serve`: workers load the current checked snapshot of rulesets_dir from
    # here instead of the folder itself (``service.rulesets.snapshots``).
    rulesets_snapshots: str | None = None
    log_level: str = "INFO"
    # Seconds any one wait on the database may last: a connection, the log's lock, a statement
    # (PostgreSQL statement_timeout and lock_timeout, SQLite busy_timeout). Past it the request
    # gets 503. `decisions serve` keeps it under half of gunicorn's worker timeout, so that a
    # waiting request is answered before its worker would be killed.
    database_timeout: int = 10
    # The key that signs the decision log's checkpoints (service.store.checkpoints): kept apart
    # from the database, made on first use. None: ``log-key`` beside the tokens file.
    log_key_file: str | None = None
    # The bounds of one "what would change the outcome" answer (service.decisions
    # .what_would_change, docs/what-would-change.md): engine decisions and milliseconds. Past
    # either, the search stops and the answer says so.
    what_would_change_decisions: int = 200
    what_would_change_ms: int = 2000

    @property
    def log_key_path(self) -> str:
        return self.log_key_file or str(Path(self.tokens_file).parent / "log-key")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Config:
        """Defaults < environment (DECISIONS_*, DATABASE_URL) < keyword overrides (None ignored)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        names = {
            "rulesets_dir": "DECISIONS_RULESETS",
            "database_url": "DATABASE_URL",
            "tokens_file": "DECISIONS_TOKENS_FILE",
            "max_body_bytes": "DECISIONS_MAX_BODY_BYTES",
            "migrate_on_start": "DECISIONS_MIGRATE_ON_START",
            "isolate_engine": "DECISIONS_ISOLATE_ENGINE",
            "engine_timeout": "DECISIONS_ENGINE_TIMEOUT",
            "rulesets_snapshots": "DECISIONS_RULESETS_SNAPSHOTS",
            "log_level": "DECISIONS_LOG_LEVEL",
            "database_timeout": "DECISIONS_DATABASE_TIMEOUT",
            "log_key_file": "DECISIONS_LOG_KEY_FILE",
            "what_would_change_decisions": "DECISIONS_WHAT_WOULD_CHANGE_DECISIONS",
            "what_would_change_ms": "DECISIONS_WHAT_WOULD_CHANGE_MS",
        }
        types = {f.name: f.type for f in fields(cls)}
        for name, variable in names.items():
            raw = env.get(variable)
            if raw is None or raw == "":
                continue
            values[name] = _parse(types[name], raw, variable)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return replace(cls(), **values)


def _parse(kind: str, raw: str, variable: str) -> Any:
    if kind == "int":
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"{variable} must be a whole number, not {raw!r}") from None
        if value <= 0:
            raise ValueError(f"{variable} must be above zero, not {value}")
        return value
    if kind == "float":
        try:
            number = float(raw)
        except ValueError:
            raise ValueError(f"{variable} must be a number of seconds, not {raw!r}") from None
        if not 0 < number < float("inf"):
            raise ValueError(f"{variable} must be a number of seconds above zero, not {raw}")
        return number
    if kind == "bool":
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{variable} must be true or false, not {raw!r}")
    return raw
