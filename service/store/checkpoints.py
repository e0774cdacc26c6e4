"""Signed checkpoints of the decision log, and the key that signs them.

The hash chain proves that nothing changed *inside* the log, but it is unkeyed: whoever can
write to the database can append a record with a correct hash, or cut records off the end,
and the chain still holds. So every append also writes, in the same transaction, a checkpoint:
the records it wrote (``first_seq`` to ``last_seq``), the hash of the last one, and an
HMAC-SHA256 over them with a key kept apart from the database (a file, 0600, made on first
use). ``verify`` then checks that the checkpoints tile the log without a gap from the first
record they cover (``since_seq``, signed into every checkpoint so that removing the earliest
ones shows), that each one's hash is the record's, and that none covers a record the log no
longer has. A record no checkpoint covers was not written by a process holding the key.

What stays out of reach without more: someone who holds the key (it signs whatever they like),
and someone who removes records *and* their checkpoints from the end (the log then looks
shorter but whole): note a checkpoint outside the database from time to time and verify
against it (``decisions verify-log --anchor``). docs/operations.md says what catches what.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DecisionError
from ..keyfile import read_or_create

KEY_BYTES = 32
MAC_CONTEXT = "decisions-log-checkpoint/1"


class LogKeyError(DecisionError):
    """The log's signing key cannot be read or made: the log cannot be written signed."""

    status = 503
    title = "Decision log key unavailable"


@dataclass(frozen=True)
class LogKey:
    secret: bytes

    @property
    def key_id(self) -> str:
        """Names the key without revealing it: which key signed a checkpoint."""
        return hashlib.sha256(b"key-id:" + self.secret).hexdigest()[:16]

    def mac(self, since_seq: int, first_seq: int, last_seq: int, record_hash: str,
            signed_at: str) -> str:
        message = f"{MAC_CONTEXT}|{since_seq}|{first_seq}|{last_seq}|{record_hash}|{signed_at}"
        return hmac.new(self.secret, message.encode("ascii"), hashlib.sha256).hexdigest()

    def checkpoint(self, since_seq: int, first_seq: int, last_seq: int, record_hash: str,
                   signed_at: str) -> dict[str, Any]:
        return {"last_seq": last_seq, "first_seq": first_seq, "since_seq": since_seq,
                "record_hash": record_hash, "signed_at": signed_at, "key_id": self.key_id,
                "mac": self.mac(since_seq, first_seq, last_seq, record_hash, signed_at)}

    def signed(self, row: Mapping[str, Any]) -> bool:
        """Whether a stored checkpoint carries this key's signature over what it says."""
        expected = self.mac(row["since_seq"], row["first_seq"], row["last_seq"],
                            row["record_hash"], row["signed_at"])
        return hmac.compare_digest(expected, row["mac"])


def read_key(path: str | Path) -> LogKey:
    """The key in ``path``; FileNotFoundError when there is none, LogKeyError when the file
    is not a key."""
    return _parse(Path(path), Path(path).read_text(encoding="ascii").strip())


def _parse(path: Path, text: str) -> LogKey:
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        secret = b""
    if len(secret) < KEY_BYTES:
        raise LogKeyError(f"{path} does not hold a decision log key ({KEY_BYTES * 2} hex "
                          "characters)")
    return LogKey(secret)


def read_or_create_key(path: str | Path) -> LogKey:
    """The key in ``path``, made on first use: 256 random bits, readable by the service's user
    only (``keyfile.read_or_create``)."""
    path = Path(path)
    try:
        return _parse(path, read_or_create(path, KEY_BYTES))
    except OSError as exc:
        raise LogKeyError(f"cannot read or create the decision log key {path}: {exc.strerror};"
                          " set DECISIONS_LOG_KEY_FILE to a writable place") from None
