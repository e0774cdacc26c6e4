"""Pages: the server-rendered pages for auditors and policy staff, in English and French. Views,
sign-in sessions and languages (``session``), what the pages show computed without Flask
(``data``), charts drawn on the server, templates and static assets."""

from __future__ import annotations

import datetime as dt
import logging
import os

from flask import Flask
from flask_babel import Babel
from flask_wtf.csrf import generate_csrf

from ..config import Config
from ..i18n import TRANSLATIONS_DIR
from .session import (
    COOKIE_NAME,
    PAGES_DOMAIN,
    SECURE_COOKIES_ENV,
    SESSION_HOURS,
    SessionInterface,
    ended_sessions,
    secret_key,
    select_locale,
    stale_catalogues,
)
from .views import blueprint, unrouted_page
from .workbench import blueprint as _with_the_workbench  # noqa: F401  (its routes, registered)

log = logging.getLogger(__name__)


def install(app: Flask, config: Config) -> None:
    """Add the pages to an app: cookie session, Babel, CSRF, the blueprint and its assets."""
    app.secret_key = secret_key(config)
    app.extensions["decisions.ended_sessions"] = ended_sessions(config)  # signed out early
    app.config.update(
        SESSION_COOKIE_NAME=COOKIE_NAME,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=os.environ.get(SECURE_COOKIES_ENV, "").lower() in ("1", "true"),
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=SESSION_HOURS),
        SESSION_REFRESH_EACH_REQUEST=False,
        WTF_CSRF_TIME_LIMIT=SESSION_HOURS * 3600,
        WTF_CSRF_FIELD_NAME="csrf_token",
    )
    app.session_interface = SessionInterface()
    Babel(app, locale_selector=select_locale, default_domain=PAGES_DOMAIN,
          default_translation_directories=str(TRANSLATIONS_DIR))
    app.jinja_env.globals["csrf_token"] = generate_csrf
    app.register_blueprint(blueprint)
    # An address no view answers is a page for a browser (web.problems.PAGE_ERRORS reads it).
    app.extensions["decisions.page_errors"] = unrouted_page
    stale = stale_catalogues()
    if stale:
        log.warning("page translations are not compiled (run `make setup`): "
                    + ", ".join(stale))
