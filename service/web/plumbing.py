"""What every view of the API shares: the ``@operation`` decorator (the OpenAPI description of a
view and its guard: roles, body, query), the JSON body, validation into 422 problems, cursors,
and the JSON response.

Each view is declared with ``@operation``: it checks the bearer token's roles, refuses a path or
query parameter that holds a control character (422), reads the JSON body (415, 413, 400) and
validates it and the query string with marshmallow (422), and hands the view plain data. Every
error becomes a problem+json response (``web.problems``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from flask import Request, Response, current_app, g, request
from marshmallow import Schema, ValidationError
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream

from ..auth import TokenStore
from ..errors import DecisionError, FactsError, flatten_messages, parameter_errors
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


class _StreamedBodyLimit(LimitedStream):
    """A body sent without Content-Length (chunked), read against the size limit. Werkzeug's
    own wrapper stops reading at the limit and hands on what it read as if it were the whole
    body: a longer body was cut at 2 MiB and its prefix decided (issue 17, 17a). This one reads
    one byte further: a body that has it is too large (413), as with a Content-Length."""

    def __init__(self, stream: Any, limit: int):
        super().__init__(stream, limit + 1, is_max=True)
        self.max = limit

    def readinto(self, buffer: Any) -> int | None:
        count = super().readinto(buffer)
        if self._pos > self.max:
            raise RequestEntityTooLarge()
        return count


class LimitedRequest(Request):
    """Flask's request, with every body held to MAX_CONTENT_LENGTH however it is sent."""

    @cached_property
    def stream(self) -> Any:
        limit = self.max_content_length
        if limit is not None and self.content_length is None \
                and self.environ.get("wsgi.input_terminated"):
            return _StreamedBodyLimit(self.environ["wsgi.input"], limit)
        return super().stream


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
            # Every path and query parameter, documented or not, before any reaches a view or
            # the database (issue 17, item 3).
            bad = parameter_errors([*((k, str(v)) for k, v in kwargs.items()),
                                    *request.args.items(multi=True)])
            if bad:
                raise invalid_request(bad)
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
        raise UnauthorizedError.said("send a bearer token: Authorization: Bearer TOKEN")
    tokens: TokenStore = current_app.extensions["decisions.tokens"]
    caller = tokens.authenticate(token.strip())
    if caller is None:
        raise UnauthorizedError.said("the bearer token is not valid")
    if roles and not caller.roles.intersection(roles):
        raise ForbiddenError.said("the token '{name}' lacks the role this needs: {roles}",
                                  name=caller.name, roles=" / ".join(roles))
    return caller


def json_body() -> Any:
    if request.mimetype != JSON and not request.mimetype.endswith("+json"):
        raise UnsupportedMediaTypeError(f"send the body as {JSON}, not "
                                        f"{request.mimetype or 'no Content-Type'}")
    raw = request.get_data(cache=False)  # 413 past MAX_CONTENT_LENGTH
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"the body is not valid JSON: {exc}") from None
    path = duplicate_key(raw)
    if path is not None:
        message = "this key appears more than once in its object: send it once"
        raise InvalidRequestError(f"{path}: {message}", errors={path: [message]})
    return data


class _Duplicate(Exception):
    pass


def _refuse_duplicates(pairs: list) -> None:
    if len(pairs) > 1 and len(dict(pairs)) != len(pairs):
        raise _Duplicate


class _Pairs(list):
    """An object's (key, value) pairs as written, duplicates kept."""


def duplicate_key(raw: bytes) -> str | None:
    """The path (``items[3].facts.age``) of a key written twice in one object of a JSON text
    that orjson has read, or None. orjson keeps the last of them silently, so a body could say
    one thing to a reader and another to the service (issue 17, 17f); the ruleset files refuse
    duplicate keys too. orjson stays the parser (its strictness: no NaN, no lone surrogates);
    the stdlib's pairs hook only looks for duplicates: about 5 us on a 1 KB decision and 5 ms
    on a 700 KB batch of 1,000 (docs/api.md)."""
    decoder = json.JSONDecoder(object_pairs_hook=_refuse_duplicates)
    try:
        decoder.decode(raw.decode())
        return None
    except _Duplicate:
        pass
    except RecursionError:  # orjson reads 1,024 levels, the stdlib a few less
        raise BadRequestError("the body nests deeper than this service reads") from None
    return _first_duplicate(json.JSONDecoder(object_pairs_hook=_Pairs).decode(raw.decode()))


def _first_duplicate(value: Any, path: str = "") -> str | None:
    if isinstance(value, _Pairs):
        seen: set[str] = set()
        for key, sub in value:
            here = f"{path}.{key}" if path else key
            if key in seen:
                return here
            seen.add(key)
            found = _first_duplicate(sub, here)
            if found:
                return found
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            found = _first_duplicate(sub, f"{path}[{index}]")
            if found:
                return found
    return None


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
    problem = problem_body(exc.problem(), exc.words)
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
