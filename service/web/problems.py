"""The one error shape of the HTTP API: RFC 9457 ``application/problem+json``, for every error
the service raises on purpose (DecisionError), every HTTP error Werkzeug raises (404 route, 405,
413) and, as a last resort, anything unexpected (500, logged with its traceback)."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from flask import Flask, Response, g
from werkzeug.exceptions import HTTPException

from ..errors import DecisionError

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


def problem_body(problem: dict[str, Any]) -> dict[str, Any]:
    request_id = g.get("request_id")
    return {**problem, "request_id": request_id} if request_id else dict(problem)


def problem_response(problem: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    body = problem_body(problem)
    response = Response(orjson.dumps(body), status=body["status"], mimetype=PROBLEM_JSON)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _from_decision_error(exc: DecisionError) -> Response:
    if exc.status >= 500:
        log.error("request failed", extra={"error": type(exc).__name__})
    headers = {"WWW-Authenticate": 'Bearer realm="decisions"'} if exc.status == 401 else None
    return problem_response(exc.problem(), headers)


def _from_http_exception(exc: HTTPException) -> Response:
    code = exc.code or 500
    slug = type(exc).__name__.lower()
    detail = exc.description or exc.name
    if code == 413:
        detail = "the request body is larger than this server accepts"
    headers = {k: v for k, v in exc.get_headers() if k.lower() == "allow"}
    return problem_response({"type": f"urn:decisions:problem:{slug}", "title": exc.name,
                             "status": code, "detail": detail}, headers)


def _from_anything(exc: Exception) -> Response:
    log.exception("unexpected error", extra={"error": type(exc).__name__})
    return problem_response({"type": "urn:decisions:problem:internal", "title": "Internal error",
                             "status": 500, "detail": "the server failed; the request id "
                             "identifies its log lines"})


def register(app: Flask) -> None:
    app.register_error_handler(DecisionError, _from_decision_error)
    app.register_error_handler(HTTPException, _from_http_exception)
    app.register_error_handler(Exception, _from_anything)
