"""Bearer tokens and roles. Tokens are never stored in clear: the tokens file keeps one line per
token, ``NAME ROLE[,ROLE] SHA256HEX``, and a presented token is hashed and compared with every
line in constant time. No Flask here: the CLI creates tokens with the same code.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from .errors import DecisionError

# author: drafts ruleset versions in the workbench; review: approves or returns them and
# publishes (never a draft of their own). service.workbench, docs/api.md.
ROLES = ("decide", "audit", "admin", "author", "review")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
HEX_PATTERN = re.compile(r"^[0-9a-f]{64}$")


class TokensFileError(DecisionError):
    status = 500
    title = "Invalid tokens file"


@dataclass(frozen=True)
class Caller:
    """Who made a request: the token's name (logged with each decision) and its roles."""

    name: str
    roles: frozenset[str]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """256 random bits, URL-safe, with a prefix that secret scanners and people recognise."""
    return "dcs_" + secrets.token_urlsafe(32)


def token_line(name: str, roles: list[str] | tuple[str, ...], token: str) -> str:
    check_name(name)
    check_roles(roles)
    return f"{name} {','.join(roles)} {hash_token(token)}"


def check_name(name: str) -> None:
    if not NAME_PATTERN.match(name):
        raise ValueError(f"token name {name!r}: letters, digits and _ . @ - only, at most 64")


def check_roles(roles: list[str] | tuple[str, ...]) -> None:
    unknown = [r for r in roles if r not in ROLES]
    if not roles or unknown:
        raise ValueError(f"roles must be some of {', '.join(ROLES)}"
                         + (f"; unknown: {', '.join(unknown)}" if unknown else ""))


def parse_tokens(text: str, source: str) -> list[tuple[str, frozenset[str], str]]:
    """Every ``NAME ROLES HASH`` line; blank lines and ``#`` comments are skipped."""
    entries = []
    problems = []
    names: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 3:
            problems.append(f"{source}:{number}: expected 'NAME ROLE[,ROLE] SHA256HEX'")
            continue
        name, roles_text, digest = parts
        roles = tuple(roles_text.split(","))
        try:
            check_name(name)
            check_roles(roles)
        except ValueError as exc:
            problems.append(f"{source}:{number}: {exc}")
            continue
        if not HEX_PATTERN.match(digest):
            problems.append(f"{source}:{number}: the hash must be 64 lowercase hex digits")
            continue
        if name in names:
            # The name is what the decision log records: two tokens with one name would make
            # the log unable to tell their callers apart.
            problems.append(f"{source}:{number}: the name {name!r} is used twice")
            continue
        names.add(name)
        entries.append((name, frozenset(roles), digest))
    if problems:
        raise TokensFileError("\n".join(problems))
    return entries


class TokenStore:
    """The tokens file, read at start and again whenever it changes on disk, so that adding or
    revoking a token needs no restart. A file that turns invalid keeps the last good tokens; a
    deleted file revokes them all."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._entries: list[tuple[str, frozenset[str], str]] = []
        self.problem: str | None = None  # why the file on disk is not in use, if it is not
        self._refresh(strict=True)

    def _refresh(self, strict: bool = False) -> None:
        try:
            stat = self.path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        except FileNotFoundError:
            if strict:
                raise TokensFileError(f"no tokens file at {self.path}: create one with "
                                      "`decisions token create NAME ROLES --append`") from None
            # Deleting the file revokes every token: the safe reading of that act.
            self._entries, self._stamp, self.problem = [], None, \
                f"{self.path} is gone: every token is revoked"
            return
        if stamp == self._stamp:
            return
        with self._lock:
            if stamp == self._stamp:
                return
            self._stamp = stamp  # a bad file is read once per change, not on every request
            try:
                entries = parse_tokens(self.path.read_text(encoding="utf-8"), str(self.path))
            except (OSError, UnicodeDecodeError, TokensFileError) as exc:
                if strict:
                    raise TokensFileError(getattr(exc, "detail", str(exc))) from None
                # Keep the last good tokens (a half-written file must not lock everyone out);
                # /readyz reports the problem.
                self.problem = f"not reloaded: {getattr(exc, 'detail', exc)}"
                return
            self._entries, self.problem = entries, None

    def authenticate(self, token: str) -> Caller | None:
        return self.by_hash(hash_token(token))

    def by_hash(self, presented: str) -> Caller | None:
        """The caller whose token has this sha256 (a page session keeps only the hash)."""
        self._refresh()
        found = None
        for name, roles, digest in self._entries:
            # Compare with every entry, not stopping at a match, so the time taken says nothing
            # about which entry (or whether any) matched.
            if hmac.compare_digest(presented, digest) and found is None:
                found = Caller(name, roles)
        return found

    def names(self) -> list[str]:
        return [name for name, _, _ in self._entries]

    def state(self) -> str:
        """For /readyz: "ok", or why the tokens on disk are not the ones in use."""
        self._refresh()
        if self.problem:
            return self.problem
        return "ok" if self._entries else f"no token in {self.path}"


def create_local_tokens_file(path: str | Path, name: str = "local") -> str | None:
    """Create the tokens file with one all-roles token when it does not exist yet.

    Returns the token in clear (to print once) or None when the file already existed. The file
    is created with O_EXCL so that two starts at once cannot both write one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    token = new_token()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("# NAME ROLE[,ROLE] SHA256HEX - add lines with `decisions token create`\n")
        fh.write(token_line(name, ROLES, token) + "\n")
    return token
