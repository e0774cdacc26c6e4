"""JSON log lines that never carry candidate facts: only the fields in LOGGED_FIELDS are written,
whatever a caller passes in ``extra``. Kept apart from the metrics so that the gunicorn master can
use it without importing prometheus_client before its multiprocess directory is set."""

from __future__ import annotations

import datetime as dt
import logging
import sys

import orjson

LOGGED_FIELDS = ("request_id", "method", "route", "status", "duration_ms", "caller", "error",
                 "decisions", "ruleset", "outcome", "worker")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the allowed extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": dt.datetime.fromtimestamp(record.created, dt.UTC)
                 .isoformat(timespec="milliseconds"),
                 "level": record.levelname, "logger": record.name,
                 "message": record.getMessage()}
        for name in LOGGED_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr for the whole process (once, however many apps are created)."""
    root = logging.getLogger()
    if not any(getattr(h, "decisions_json", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        handler.decisions_json = True
        root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # one line per plugin
