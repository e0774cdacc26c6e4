"""What the pages need from the app besides their views: the session cookie and its key, sign-in
by API token, CSRF tokens on every form, the language of each page (Flask-Babel), and the
security headers of HTML answers. ``install`` wires it all into an app built by ``create_app``.

Sessions
    Flask's signed cookie. It holds the sha256 of the API token the person signed in with (the
    same hash the tokens file keeps, never the token itself), the token's name, the time of
    sign-in, a random session id, the CSRF secret and the language chosen. On every page the
    hash is looked up in the tokens file again, so revoking a token ends its sessions at once; a
    session also ends after SESSION_HOURS. Signing out ends it on the server too: the cookie is
    signed, not stored, so a copy of it would otherwise keep working (issue 17, 17b); its id goes
    into the ended-sessions file (``EndedSessions``) beside the signing key, which every worker
    reads, until the session would have expired anyway. The cookie is HttpOnly, SameSite=Strict,
    and Secure whenever the request came over TLS (or always, with DECISIONS_SECURE_COOKIES=true
    behind a proxy that ends TLS).

The signing key
    DECISIONS_SECRET_KEY (at least 32 characters) or else a key file, DECISIONS_SECRET_KEY_FILE,
    by default ``session-key`` beside the tokens file, created on first use (0600, 256 random
    bits). Every gunicorn worker reads the same file, so a session started on one worker holds on
    the others. Deleting the file ends every session at the next start.

CSRF
    Flask-WTF's signed, session-bound token (``flask_wtf.csrf``), in a hidden field of every form
    that changes something (all of them POST); the pages blueprint refuses any POST without a
    valid one. Forms that only read (the decision log filters, the impact form) use GET and change
    nothing. The bearer-token API is not concerned: it never reads the cookie.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from flask import Flask, Response, current_app, g, has_request_context, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_babel import get_locale

from ..auth import Caller, TokenStore, hash_token
from ..config import Config
from ..errors import DecisionError
from ..i18n import LANGUAGES, TRANSLATIONS_DIR, negotiate
from ..keyfile import read_or_create

SECRET_KEY_ENV = "DECISIONS_SECRET_KEY"
SECRET_KEY_FILE_ENV = "DECISIONS_SECRET_KEY_FILE"
SECURE_COOKIES_ENV = "DECISIONS_SECURE_COOKIES"
SESSION_HOURS = 8
COOKIE_NAME = "decisions_session"
ENDED_FILE = "sessions-ended"  # beside the signing key (file), shared by every worker
PAGES_DOMAIN = "pages"  # the Babel domain of the page texts: translations/*/LC_MESSAGES/pages.po
log = logging.getLogger("decisions.pages")


# ------------------------------------------------------------------------------ the signing key
def secret_key(config: Config, env: dict[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    given = env.get(SECRET_KEY_ENV, "")
    if given:
        if len(given) < 32:
            raise ValueError(f"{SECRET_KEY_ENV} must be at least 32 characters")
        return given
    return read_or_create_key(key_file(config, env))


def key_file(config: Config, env: dict[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get(SECRET_KEY_FILE_ENV) or Path(config.tokens_file).parent / "session-key")


def read_or_create_key(path: Path) -> str:
    """The key in ``path``; a new random one when the file does not exist (shared by every
    worker: ``keyfile.read_or_create``)."""
    try:
        key = read_or_create(path)
    except OSError as exc:
        # Stop the start with the reason (a key of each worker's own would make sessions fail
        # at random across workers).
        raise DecisionError(f"cannot read or create the pages' session key {path}: "
                            f"{exc.strerror}; set {SECRET_KEY_ENV}, or {SECRET_KEY_FILE_ENV} to "
                            "a readable and writable place") from None
    if len(key) < 32:
        raise ValueError(f"{path}: the session key must be at least 32 characters")
    return key


# ------------------------------------------------------------------------------ ended sessions
class EndedSessions:
    """The ids of sessions signed out before their time, each with the time it would have
    expired: one ``ID EXPIRES`` line each, in a file every worker (and host, if it shares the
    key's folder) reads. Appends and the occasional rewrite that drops expired lines hold an
    exclusive lock (``flock`` on ``FILE.lock``), so no append is lost; readers take none (the
    rewrite replaces the file whole). Read again whenever the file changes, like the tokens."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._ended: dict[str, int] = {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._locked():  # fail at start, not at the first sign-out, if it cannot be written
            self.path.touch(mode=0o600, exist_ok=True)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def end(self, session_id: str, expires: int) -> None:
        with self._locked():
            with open(self.path, "a", encoding="ascii") as fh:
                fh.write(f"{session_id} {expires}\n")
                fh.flush()
                os.fsync(fh.fileno())
            self._prune()

    def _prune(self) -> None:
        """Drop the lines of sessions past their expiry, once they are most of the file."""
        now = int(time.time())
        lines = self._read()
        live = {sid: expires for sid, expires in lines.items() if expires > now or sid == "*"}
        if len(live) * 2 >= len(lines) or len(lines) < 100:
            return
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        temporary.write_text("".join(f"{sid} {e}\n" for sid, e in live.items()),
                             encoding="ascii")
        os.chmod(temporary, 0o600)
        os.replace(temporary, self.path)

    def _read(self) -> dict[str, int]:
        ended = {}
        for line in self.path.read_text(encoding="ascii").splitlines():
            sid, _, expires = line.partition(" ")
            if sid and expires.isdigit():
                ended[sid] = int(expires)
        return ended

    def has_ended(self, session_id: str, since: int) -> bool:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            # Deleted: every session it held could come back, so every session signed in
            # before now ends ("*" NOW, read by every worker); sign-in works again at once.
            with self._locked():
                if not self.path.exists():
                    self.path.write_text(f"* {int(time.time()) + 1}\n", encoding="ascii")
            stat = self.path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if stamp != self._stamp:
            with self._lock:
                self._ended, self._stamp = self._read(), stamp
        return session_id in self._ended or since < self._ended.get("*", 0)


def ended_sessions(config: Config, env: dict[str, str] | None = None) -> EndedSessions:
    return EndedSessions(key_file(config, env).with_name(ENDED_FILE))


# ------------------------------------------------------------------------------------- cookies
class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session, Secure whenever the request came over TLS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        forced = bool(app.config.get("SESSION_COOKIE_SECURE"))
        return forced or (has_request_context() and request.is_secure)


# ------------------------------------------------------------------------------------- sign-in
def clean_token(text: str) -> str:
    """The token in what a person pasted: the whole ``export DECISIONS_TOKEN=...`` line that
    `make run` printed, ``Bearer ...``, or the token alone, with or without quotes."""
    text = text.strip()
    for prefix in ("export DECISIONS_TOKEN=", "DECISIONS_TOKEN=", "Bearer ", "bearer "):
        if text.startswith(prefix):
            text = text[len(prefix):].strip()
    return text.strip("'\"")


def sign_in(token: str) -> Caller | None:
    tokens: TokenStore = current_app.extensions["decisions.tokens"]
    caller = tokens.authenticate(token)
    if caller is None:
        return None
    keep = {k: session[k] for k in ("lang",) if k in session}
    session.clear()  # a new session: nothing from before sign-in carries over (but the language)
    session.update(keep)
    session.permanent = True
    session["token"] = hash_token(token)
    session["name"] = caller.name
    session["since"] = int(time.time())
    session["sid"] = secrets.token_urlsafe(18)
    return caller


def sign_out() -> None:
    """End the session here and on the server: a copy of its cookie no longer signs anyone
    in."""
    sid, since = session.get("sid"), session.get("since")
    if isinstance(sid, str) and isinstance(since, int):
        current_app.extensions["decisions.ended_sessions"].end(
            sid, since + SESSION_HOURS * 3600)
    _forget()


def _forget() -> None:
    keep = {k: session[k] for k in ("lang",) if k in session}
    session.clear()
    session.update(keep)


def session_caller() -> Caller | None:
    """Who is signed in: the token whose hash the session holds, if it is still in the tokens
    file, the session is younger than SESSION_HOURS and was not signed out."""
    digest = session.get("token")
    since = session.get("since")
    sid = session.get("sid")
    if not isinstance(digest, str) or not isinstance(since, int) or not isinstance(sid, str):
        return None  # (a session from before sids had none: signed in again, it gets one)
    if time.time() - since > SESSION_HOURS * 3600 \
            or current_app.extensions["decisions.ended_sessions"].has_ended(sid, since):
        _forget()
        return None
    caller = current_app.extensions["decisions.tokens"].by_hash(digest)
    if caller is None:  # revoked, or the tokens file changed: the session ends
        _forget()
    return caller


# ------------------------------------------------------------------------------------ language
def page_language() -> str:
    return get_locale().language if get_locale() is not None else "en"


def select_locale() -> str:
    chosen = session.get("lang") if has_request_context() else None
    if chosen in LANGUAGES:
        return chosen
    return negotiate(request.headers.get("Accept-Language")) if has_request_context() else "en"


def stale_catalogues() -> list[str]:
    """The .po files whose compiled .mo is missing or older (`make setup` compiles them)."""
    stale = []
    for po in sorted(TRANSLATIONS_DIR.glob("*/LC_MESSAGES/*.po")):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            stale.append(str(po))
    return stale


# ------------------------------------------------------------------------------------- headers
CONTENT_SECURITY_POLICY = ("default-src 'none'; style-src 'self'; img-src 'self'; "
                           "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def html_headers(response: Response) -> Response:
    """Security headers for every page: no script may run, nothing may frame the page, and pages
    that show candidates' facts are not kept in caches."""
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if request.endpoint != "pages.static":
        response.headers.setdefault("Cache-Control", "no-store")
    if response.mimetype == "text/html":
        response.headers["Content-Language"] = page_language()
        response.vary.add("Accept-Language")
        response.vary.add("Cookie")
    return response


def current_caller() -> Caller | None:
    return g.get("page_caller")
