"""The one error shape of the HTTP API: RFC 9457 ``application/problem+json``, for every error
the service raises on purpose (DecisionError), every HTTP error Werkzeug raises (404 route, 405,
413) and, as a last resort, anything unexpected (500, logged with its traceback)."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from flask import Flask, Response, current_app, g, has_request_context, request
from werkzeug.exceptions import HTTPException

from ..errors import DecisionError
from ..i18n import field_message, gettext, negotiate

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("decisions.http")


class BadRequestError(DecisionError):
    status = 400
    title = "Malformed request"


class UnauthorizedError(DecisionError):
    status = 401
    title = "Unauthorized"


class ForbiddenError(DecisionError):
    status = 403
    title = "Forbidden"


class UnsupportedMediaTypeError(DecisionError):
    status = 415
    title = "Unsupported media type"


class InvalidRequestError(DecisionError):
    """A body or query that breaks its schema; ``errors`` maps field paths to messages."""

    status = 422
    title = "Invalid request"


class NotReadyError(DecisionError):
    status = 503
    title = "Not ready"


def problem_body(problem: dict[str, Any], words: tuple[str, dict] | None = None
                 ) -> dict[str, Any]:
    """The problem as answered: in the language the request asks for (Accept-Language), with
    its request id. ``words``: the template its detail was written from (DecisionError.said)."""
    lang = negotiate(request.headers.get("Accept-Language")) if has_request_context() else "en"
    problem = in_language(problem, lang, words)
    request_id = g.get("request_id")
    return {**problem, "request_id": request_id} if request_id else dict(problem)


def in_language(problem: dict[str, Any], lang: str,
                words: tuple[str, dict] | None = None) -> dict[str, Any]:
    """A problem's title, its detail when it was written from a template (``words``), and the
    messages of its ``errors`` (and where the detail quotes them) in ``lang``, through the
    catalogue (i18n.field_message: marshmallow's messages and the service's) or, for a
    contract's check, its own words in that language. Field paths, types and values stay as
    they are. English: the problem as it is."""
    if lang == "en":
        return problem
    out = {**problem, "title": gettext(lang, problem["title"])}
    if words is not None:
        template, values = words
        out["detail"] = gettext(lang, template, **values)
    errors = problem.get("errors")
    if isinstance(errors, dict):
        checks = _check_messages(lang)
        said = {message: checks.get(message) or field_message(lang, message)
                for messages in errors.values() for message in messages}
        out["errors"] = {path: [said[m] for m in messages] for path, messages in errors.items()}
        detail = problem.get("detail")
        if isinstance(detail, str):
            for message in sorted(said, key=len, reverse=True):
                detail = detail.replace(message, said[message])
            out["detail"] = detail
    return out


def _check_messages(lang: str) -> dict[str, str]:
    """The messages of the loaded contracts' checks, English -> ``lang``."""
    service = current_app.extensions.get("decisions") if has_request_context() else None
    return service.rules.catalog.check_messages(lang) if service is not None else {}


def problem_response(problem: dict[str, Any], headers: dict[str, str] | None = None,
                     words: tuple[str, dict] | None = None) -> Response:
    return answered_response(problem_body(problem, words), headers)


def answered_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    """A problem already answered (``problem_body``: in its language, with its request id)."""
    response = Response(orjson.dumps(body), status=body["status"], mimetype=PROBLEM_JSON)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _from_decision_error(exc: DecisionError) -> Response:
    if exc.status >= 500:
        log.error("request failed", extra={"error": type(exc).__name__})
    headers = {"WWW-Authenticate": 'Bearer realm="decisions"'} if exc.status == 401 else None
    return problem_response(exc.problem(), headers, exc.words)


# Set by the pages (service/pages): an HTTP error raised before any view (an address nothing
# answers, a method it does not take) is an error page for a browser asking for HTML, in the
# page's language; it returns None for a request that is not a page's.
PAGE_ERRORS = "decisions.page_errors"


def _from_http_exception(exc: HTTPException) -> Response:
    page = current_app.extensions.get(PAGE_ERRORS)
    if page is not None and request.blueprint is None:
        shown = page(exc)
        if shown is not None:
            return shown
    code = exc.code or 500
    slug = type(exc).__name__.lower()
    detail = exc.description or exc.name
    if code == 413:
        detail = "the request body is larger than this server accepts"
    lang = negotiate(request.headers.get("Accept-Language"))
    if lang != "en":  # Werkzeug's descriptions are English only: say it in the service's words
        detail = gettext(lang, {404: "There is nothing at this address.",
                                405: "This address does not take this kind of request."}.get(
                                    code, detail))
    headers = {k: v for k, v in exc.get_headers() if k.lower() == "allow"}
    return problem_response({"type": f"urn:decisions:problem:{slug}", "title": exc.name,
                             "status": code, "detail": detail}, headers)


def _from_anything(exc: Exception) -> Response:
    log.exception("unexpected error", extra={"error": type(exc).__name__})
    detail = "the server failed; the request id identifies its log lines"
    lang = negotiate(request.headers.get("Accept-Language"))
    return problem_response({"type": "urn:decisions:problem:internal", "title": "Internal error",
                             "status": 500, "detail": gettext(lang, detail)})


def register(app: Flask) -> None:
    app.register_error_handler(DecisionError, _from_decision_error)
    app.register_error_handler(HTTPException, _from_http_exception)
    app.register_error_handler(Exception, _from_anything)
