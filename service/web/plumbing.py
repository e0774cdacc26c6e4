"""What every view of the API shares: the ``@operation`` decorator (the OpenAPI description of a
view and its guard: roles, body, query), the JSON body, validation into 422 problems, cursors,
and the JSON response.

Each view is declared with ``@operation``: it checks the bearer token's roles, reads the JSON body
(415, 413, 400) and validates it and the query string with marshmallow (422), and hands the view
plain data. Every error becomes a problem+json response (``web.problems``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from flask import Response, current_app, g, request
from marshmallow import Schema, ValidationError

from ..auth import TokenStore
from ..errors import DecisionError, FactsError, flatten_messages
from ..i18n import negotiate
from ..live import DecisionService
from ..store import decode_cursor
from .openapi import Operation, Success
from .problems import (
    BadRequestError,
    ForbiddenError,
    InvalidRequestError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
    problem_body,
)

JSON = "application/json"
JSON_LINES = "application/jsonl"


def service() -> DecisionService:
    return current_app.extensions["decisions"]


def operation(summary: str, tag: str, responses: Mapping[int, Success], *,
              roles: tuple[str, ...] | None = None, body: type[Schema] | None = None,
              query: type[Schema] | None = None, headers: type[Schema] | None = None,
              problems: tuple[int, ...] = (), description: str = "") -> Callable:
    """Describe a view for the OpenAPI document and enforce what the description promises."""
    op = Operation(summary=summary, tag=tag, responses=responses, roles=roles, body=body,
                   query=query, headers=headers, problems=problems, description=description)

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def guarded(**kwargs: Any) -> Response:
            if roles is not None:
                g.caller = _authorize(roles)
            if body is not None:
                kwargs["body"] = validated(body, json_body())
            if query is not None:
                kwargs["query"] = validated(query, request.args.to_dict(flat=True))
            if headers is not None:
                kwargs["headers"] = validated(headers, _headers_of(headers))
            return view(**kwargs)

        guarded.operation = op
        return guarded

    return decorate


def _headers_of(schema: type[Schema]) -> dict[str, str]:
    """The request headers the schema describes (the others are not the view's business)."""
    names = (f.data_key or name for name, f in schema_of(schema).fields.items())
    return {name: request.headers[name] for name in names if name in request.headers}


def _authorize(roles: tuple[str, ...]):
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedError("send a bearer token: Authorization: Bearer TOKEN")
    tokens: TokenStore = current_app.extensions["decisions.tokens"]
    caller = tokens.authenticate(token.strip())
    if caller is None:
        raise UnauthorizedError("the bearer token is not valid")
    if roles and not caller.roles.intersection(roles):
        raise ForbiddenError(f"the token '{caller.name}' lacks the role {' or '.join(roles)}")
    return caller


def json_body() -> Any:
    if request.mimetype != JSON and not request.mimetype.endswith("+json"):
        raise UnsupportedMediaTypeError(f"send the body as {JSON}, not "
                                        f"{request.mimetype or 'no Content-Type'}")
    raw = request.get_data(cache=False)  # 413 past MAX_CONTENT_LENGTH
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"the body is not valid JSON: {exc}") from None


@functools.cache
def schema_of(cls: type[Schema]) -> Schema:
    return cls()


def validated(schema: type[Schema], data: Any) -> dict:
    try:
        return schema_of(schema).load(data)
    except ValidationError as exc:
        raise invalid_request(exc.messages) from None


def invalid_request(messages: Any, prefix: str = "") -> InvalidRequestError:
    errors = flatten_messages(messages, prefix)
    return InvalidRequestError("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()),
                               errors=errors)


def language() -> str:
    return negotiate(request.headers.get("Accept-Language"))


def respond(schema: type[Schema] | None, data: Any, status: int = 200,
            headers: Mapping[str, str] | None = None, lang: str | None = None) -> Response:
    body = schema_of(schema).dump(data) if schema is not None else data
    response = Response(orjson.dumps(body), status=status, mimetype=JSON)
    if lang:
        response.headers["Content-Language"] = lang
        response.vary.add("Accept-Language")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def request_problem(exc: DecisionError, prefix: str = "") -> dict:
    """The problem for one decision request; facts errors point into the request body."""
    problem = problem_body(exc.problem())
    if isinstance(exc, FactsError) and "errors" in problem:
        problem["errors"] = {f"{prefix}facts.{path}": messages
                             for path, messages in problem["errors"].items()}
    return problem


def cursor_of(query: Mapping[str, Any], kind: str = "seq") -> int | None:
    """The position the query's ``cursor`` stands for (None on the first page); a cursor this
    service did not make is a 422 on the ``cursor`` parameter."""
    if "cursor" not in query:
        return None
    try:
        return decode_cursor(query["cursor"], kind)
    except ValueError as exc:
        raise InvalidRequestError(f"cursor: {exc}", errors={"cursor": [str(exc)]}) from None
