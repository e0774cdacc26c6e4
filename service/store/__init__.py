"""Store: the decision log's database. Every table (``tables``), the append-only hash-chained log
and the ruleset versions it keeps (``log``), its signed checkpoints and their key
(``checkpoints``), draws and pools (``draws``), and the Alembic
migrations that build the schema. Imports only the kernel."""

from .checkpoints import LogKey, LogKeyError, read_key, read_or_create_key
from .log import (
    GENESIS,
    SCAN_BATCH,
    Filters,
    Finding,
    IdempotencyKey,
    IdempotencyKeyTaken,
    NewDecision,
    Record,
    RulesetVersionMismatchError,
    RulesetVersionMissingError,
    Store,
    StoreUnavailableError,
    Verification,
    canonical_json,
    content_sha256,
    decode_cursor,
    encode_cursor,
    record_hash,
)
from .tables import decision_log, idempotency_keys, log_checkpoints, metadata, ruleset_versions

__all__ = ["GENESIS", "SCAN_BATCH", "Filters", "Finding", "IdempotencyKey", "IdempotencyKeyTaken",
           "LogKey", "LogKeyError", "NewDecision", "Record", "RulesetVersionMismatchError",
           "RulesetVersionMissingError", "Store", "StoreUnavailableError", "Verification",
           "canonical_json", "content_sha256", "decision_log", "decode_cursor", "encode_cursor",
           "idempotency_keys", "log_checkpoints", "metadata", "read_key", "read_or_create_key",
           "record_hash", "ruleset_versions"]
