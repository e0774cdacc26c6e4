"""What the pages need from the app besides their views: the session cookie and its key, sign-in
by API token, CSRF tokens on every form, the language of each page (Flask-Babel), and the
security headers of HTML answers. ``install`` wires it all into an app built by ``create_app``.

Sessions
    Flask's signed cookie. It holds the sha256 of the API token the person signed in with (the
    same hash the tokens file keeps, never the token itself), the token's name, the time of
    sign-in, the CSRF secret and the language chosen. On every page the hash is looked up in the
    tokens file again, so revoking a token ends its sessions at once; a session also ends after
    SESSION_HOURS. The cookie is HttpOnly, SameSite=Strict, and Secure whenever the request came
    over TLS (or always, with DECISIONS_SECURE_COOKIES=true behind a proxy that ends TLS).

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

import logging
import os
import secrets
import time
from pathlib import Path

from flask import Flask, Response, current_app, g, has_request_context, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_babel import get_locale

from ..auth import Caller, TokenStore, hash_token
from ..config import Config
from ..errors import DecisionError
from ..i18n import LANGUAGES, TRANSLATIONS_DIR, negotiate

SECRET_KEY_ENV = "DECISIONS_SECRET_KEY"
SECRET_KEY_FILE_ENV = "DECISIONS_SECRET_KEY_FILE"
SECURE_COOKIES_ENV = "DECISIONS_SECURE_COOKIES"
SESSION_HOURS = 8
COOKIE_NAME = "decisions_session"
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
    path = Path(env.get(SECRET_KEY_FILE_ENV) or Path(config.tokens_file).parent / "session-key")
    return read_or_create_key(path)


def read_or_create_key(path: Path) -> str:
    """The key in ``path``; a new random one when the file does not exist. Several processes may
    start at once: the key is written to a file of its own and linked into place, so every one of
    them reads the same, complete key."""
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise DecisionError(f"cannot read the pages' session key {path}: {exc.strerror}; set "
                            f"{SECRET_KEY_ENV}, or {SECRET_KEY_FILE_ENV} to a readable file"
                            ) from None
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        # Stop the start with the reason (a key of each worker's own would make sessions fail
        # at random across workers).
        raise DecisionError(f"cannot create the pages' session key {path}: {exc.strerror}; "
                            f"set {SECRET_KEY_ENV}, or {SECRET_KEY_FILE_ENV} to a writable "
                            "place") from None
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_hex(32) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process was first: use its key
    finally:
        os.unlink(temporary)
    return _read_key(path)


def _read_key(path: Path) -> str:
    key = path.read_text(encoding="ascii").strip()
    if len(key) < 32:
        raise ValueError(f"{path}: the session key must be at least 32 characters")
    return key


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
    return caller


def sign_out() -> None:
    keep = {k: session[k] for k in ("lang",) if k in session}
    session.clear()
    session.update(keep)


def session_caller() -> Caller | None:
    """Who is signed in: the token whose hash the session holds, if it is still in the tokens
    file and the session is younger than SESSION_HOURS."""
    digest = session.get("token")
    since = session.get("since")
    if not isinstance(digest, str) or not isinstance(since, int):
        return None
    if time.time() - since > SESSION_HOURS * 3600:
        sign_out()
        return None
    caller = current_app.extensions["decisions.tokens"].by_hash(digest)
    if caller is None:  # revoked, or the tokens file changed: the session ends
        sign_out()
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
