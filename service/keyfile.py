"""A secret kept in a file of its own, made on first use: the pages' session key and the
decision log's signing key. Part of the kernel: no stage-specific knowledge."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def read_or_create(path: Path, nbytes: int = 32) -> str:
    """The text of the key file at ``path``; when there is none, a new one of ``nbytes``
    random bytes as hex, readable by the service's user only (0600).

    Several processes may start at once: the key is written to a file of its own and linked
    into place, so that every one of them reads the same, complete key. OSError when the file
    cannot be read or made: the caller says what the key is for and what to do."""
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_hex(nbytes) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process was first: use its key
    finally:
        os.unlink(temporary)
    return path.read_text(encoding="ascii").strip()
