"""The HTTP API: thin Flask views over DecisionService.

Each view is declared with ``@operation``, which is both its OpenAPI description and its
guard: it checks the bearer token's roles, reads the JSON body (415, 413, 400) and validates it
and the query string with marshmallow (422), and hands the view plain data. Views then call the
service and shape the response with a schema; every error becomes a problem+json response
(service.http_errors).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterator, Mapping
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any

import orjson
from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from marshmallow import Schema, ValidationError

from . import http_errors, observability
from . import schemas as s
from .auth import TokenStore
from .config import Config
from .decision_service import (
    DecisionNotFoundError,
    DecisionRequest,
    DecisionService,
    version_status,
)
from .decisions import localized
from .errors import DecisionError, FactsError, flatten_messages
from .http_errors import (
    BadRequestError,
    ForbiddenError,
    InvalidRequestError,
    NotReadyError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
    problem_body,
)
from .i18n import localize, negotiate
from .openapi import Operation, Success, build_spec, docs_model
from .rulesets import RulesetVersion
from .store import Filters, Record, decode_cursor, encode_cursor

API_VERSION = "1"
JSON = "application/json"
JSON_LINES = "application/jsonl"

v1 = Blueprint("v1", __name__, url_prefix="/v1")
ops = Blueprint("ops", __name__)


# ---------------------------------------------------------------------------------- plumbing
def service() -> DecisionService:
    return current_app.extensions["decisions"]


def operation(summary: str, tag: str, responses: Mapping[int, Success], *,
              roles: tuple[str, ...] | None = None, body: type[Schema] | None = None,
              query: type[Schema] | None = None, problems: tuple[int, ...] = (),
              description: str = "") -> Callable:
    """Describe a view for the OpenAPI document and enforce what the description promises."""
    op = Operation(summary=summary, tag=tag, responses=responses, roles=roles, body=body,
                   query=query, problems=problems, description=description)

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def guarded(**kwargs: Any) -> Response:
            if roles is not None:
                g.caller = _authorize(roles)
            if body is not None:
                kwargs["body"] = _load(body, _json_body())
            if query is not None:
                kwargs["query"] = _load(query, request.args.to_dict(flat=True))
            return view(**kwargs)

        guarded.operation = op
        return guarded

    return decorate


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


def _json_body() -> Any:
    if request.mimetype != JSON and not request.mimetype.endswith("+json"):
        raise UnsupportedMediaTypeError(f"send the body as {JSON}, not "
                                        f"{request.mimetype or 'no Content-Type'}")
    raw = request.get_data(cache=False)  # 413 past MAX_CONTENT_LENGTH
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"the body is not valid JSON: {exc}") from None


@functools.cache
def _schema(cls: type[Schema]) -> Schema:
    return cls()


def _load(schema: type[Schema], data: Any) -> dict:
    try:
        return _schema(schema).load(data)
    except ValidationError as exc:
        raise _invalid(exc.messages) from None


def _invalid(messages: Any, prefix: str = "") -> InvalidRequestError:
    errors = flatten_messages(messages, prefix)
    return InvalidRequestError("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()),
                               errors=errors)


def language() -> str:
    return negotiate(request.headers.get("Accept-Language"))


def respond(schema: type[Schema] | None, data: Any, status: int = 200,
            headers: Mapping[str, str] | None = None, lang: str | None = None) -> Response:
    body = _schema(schema).dump(data) if schema is not None else data
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


def _decision_request(body: Mapping[str, Any], request_id: str) -> DecisionRequest:
    return DecisionRequest(body["ruleset"], body["facts"], body.get("as_of"), request_id)


# --------------------------------------------------------------------------------- decisions
@v1.post("/decisions")
@operation("Decide one candidate", "decisions", {201: Success(
    s.DecisionSchema, "The explained decision, already written to the decision log")},
    roles=("decide",), body=s.DecisionRequestSchema, problems=(404, 503),
    description="Decides with the ruleset version in force on `as_of` (default today), writes "
                "the decision to the log and commits it, then answers. Texts follow "
                "Accept-Language (en or fr). 404: unknown ruleset or no version in force.")
def create_decision(body: dict) -> Response:
    [result] = service().decide([_decision_request(body, g.request_id)], g.caller.name)
    if isinstance(result, DecisionError):
        return http_errors.problem_response(request_problem(result))
    observability.count_decision(result)
    lang = language()
    # Written as built, without a marshmallow dump: decisions.decide makes exactly the shape
    # DecisionSchema documents (a test holds every answer to it), and dumping ~60 nested entries
    # field by field was a third of a request's time (docs/benchmarks.md).
    return respond(None, localized(service().shown(result), lang), 201, lang=lang, headers={
        "Location": url_for("v1.get_decision", decision_id=result["decision_id"])})


@v1.post("/decisions/batch")
@operation("Decide up to 1,000 candidates", "decisions", {200: Success(
    s.BatchResponseSchema, "One result per item, in order: a decision (status 201) or a "
                           "problem (its own status)")},
    roles=("decide",), body=s.BatchRequestSchema, problems=(503,),
    description="Items are validated and decided one by one: a bad item gets its own problem "
                "and the others are still decided. Every decision is logged, in one "
                "transaction, before the answer.")
def create_decisions_batch(body: dict) -> Response:
    items = body["items"]
    slots: list[dict] = []
    requests: list[DecisionRequest] = []
    for index, item in enumerate(items):
        try:
            loaded = _schema(s.DecisionRequestSchema).load(item)
        except ValidationError as exc:
            problem = problem_body(_invalid(exc.messages, f"items[{index}]").problem())
            slots.append({"index": index, "status": 422, "problem": problem})
            continue
        slots.append({"index": index})
        # The log tells batch items apart: request id "/" index in the batch.
        requests.append(_decision_request(loaded, f"{g.request_id}/{index}"))
    results = iter(service().decide(requests, g.caller.name))
    lang = language()
    for slot in slots:
        if "problem" in slot:
            continue
        result = next(results)
        if isinstance(result, DecisionError):
            slot.update(status=result.status,
                        problem=request_problem(result, f"items[{slot['index']}]."))
        else:
            observability.count_decision(result)
            slot.update(status=201, decision=localized(service().shown(result), lang))
    failed = sum(1 for slot in slots if "problem" in slot)
    # As built, like a single decision; BatchResponseSchema documents the shape.
    return respond(None, {"results": slots, "succeeded": len(slots) - failed, "failed": failed},
                   lang=lang)


# ------------------------------------------------------------------------------ decision log
def _filters(query: Mapping[str, Any]) -> Filters:
    return Filters(ruleset=query.get("ruleset"), version=query.get("version"),
                   outcome=query.get("outcome"), candidate_id=query.get("candidate_id"),
                   decided_from=query.get("decided_from"), decided_to=query.get("decided_to"))


def _record(record: Record, lang: str) -> dict:
    data = record.as_dict()
    data["decision"] = localized(service().shown(data["decision"]), lang)
    return data


@v1.get("/decisions")
@operation("List logged decisions", "decision log", {200: Success(
    s.DecisionPageSchema, "A page of decision summaries and the cursor of the next page")},
    roles=("audit",), query=s.DecisionPageQuerySchema, problems=(503,),
    description="Filter by ruleset, version, outcome, candidate_id and a decided-at range "
                "[from, to). Pass next_cursor as cursor to read the next page; it is null on "
                "the last page.")
def list_decisions(query: dict) -> Response:
    after = None
    if "cursor" in query:
        try:
            after = decode_cursor(query["cursor"])
        except ValueError as exc:
            raise InvalidRequestError(f"cursor: {exc}", errors={"cursor": [str(exc)]}) from None
    records, last = service().store.page(_filters(query), after, query["limit"],
                                         newest_first=query["order"] == "desc")
    return respond(s.DecisionPageSchema, {
        "items": [r.as_dict() for r in records],
        "next_cursor": encode_cursor(last) if last is not None else None})


@v1.get("/decisions/export")
@operation("Export logged decisions as JSON Lines", "decision log", {200: Success(
    s.DecisionRecordSchema, "One whole record per line, in log order, as logged (texts in "
                            "both languages; each rule's title, reference and condition are "
                            "in the ruleset version it names, GET /v1/ruleset-versions/"
                            "{sha256}): each line's hash can be checked offline "
                            "(docs/operations.md)",
    media=JSON_LINES)},
    roles=("audit",), query=s.DecisionQuerySchema, problems=(503,))
def export_decisions(query: dict) -> Response:
    filters = _filters(query)
    records = service().store.scan(filters)
    first = next(records, None)  # reach the database now, so a failure is still a problem

    def lines() -> Iterator[bytes]:
        if first is not None:
            yield orjson.dumps(first.as_dict()) + b"\n"
        for record in records:
            yield orjson.dumps(record.as_dict()) + b"\n"

    return Response(stream_with_context(lines()), mimetype=JSON_LINES, headers={
        "Content-Disposition": "attachment; filename=decisions.jsonl"})


@v1.get("/decisions/<decision_id>")
@operation("Read one logged decision", "decision log", {200: Success(
    s.DecisionRecordSchema, "The record: facts as sent, versions and hashes, the explanation")},
    roles=("audit",), problems=(404, 503))
def get_decision(decision_id: str) -> Response:
    lang = language()
    return respond(s.DecisionRecordSchema, _record(service().record(decision_id), lang),
                   lang=lang)


@v1.get("/ruleset-versions/<sha256>")
@operation("Read a ruleset version the log keeps", "decision log", {200: Success(
    s.KeptVersionSchema, "The version exactly as it decided: its canonical content, whose "
                         "sha256 is the one logged decisions name")},
    roles=("audit",), problems=(404, 503),
    description="Every ruleset version a logged decision used is kept, even after the ruleset "
                "files changed: the texts of its rules (titles, references, conditions) are "
                "filled in from it when a decision is shown.")
def get_kept_version(sha256: str) -> Response:
    kept = service().store.version_content(sha256)
    if kept is None:
        raise DecisionNotFoundError(f"the log keeps no ruleset version with sha256 '{sha256}'")
    return respond(s.KeptVersionSchema, {**kept, "content": orjson.loads(kept["content"])})


@v1.post("/decisions/<decision_id>/replay")
@operation("Replay a logged decision", "decision log", {200: Success(
    s.ReplaySchema, "identical, different (with every difference), or failed")},
    roles=("audit",), problems=(404, 409, 503),
    description="Decides the logged facts again with exactly the ruleset versions the decision "
                "used, and compares (decision_id and decided_at aside). 409: this server no "
                "longer has one of those versions. Nothing is written to the log.")
def replay_decision(decision_id: str) -> Response:
    return respond(s.ReplaySchema, service().replay(decision_id))


# ---------------------------------------------------------------------------------- rulesets
def _version_summary(v: RulesetVersion, today: dt.date) -> dict:
    return {"version": v.version, "status": version_status(service().rules.catalog, v, today),
            "effective_from": v.effective_from, "effective_to": v.effective_to,
            "sha256": v.sha256}


def _summary(ruleset_id: str, today: dt.date) -> dict:
    versions = service().rules.catalog.versions(ruleset_id)
    summaries = [_version_summary(v, today) for v in versions]
    in_force = next((x["version"] for x in summaries if x["status"] == "in_force"), None)
    return {"id": ruleset_id, "title": versions[-1].title, "in_force": in_force,
            "versions": summaries}


def _fact_spec(spec: Mapping[str, Any]) -> dict:
    out = {k: v for k, v in spec.items() if k != "fields"}
    out["required"] = spec.get("required", True) and "default" not in spec
    if "fields" in spec:
        out["fields"] = {name: _fact_spec(sub) for name, sub in spec["fields"].items()}
    return out


def _rule(rule) -> dict:
    out = {"id": rule.id, "kind": rule.kind, "title": rule.title, "reference": rule.reference,
           "condition": rule.source}
    if rule.table:
        out["row"] = rule.table
    if rule.kind == "award":
        out.update(award=rule.bucket, points=rule.points)
    elif rule.kind == "derive":
        out.update(derive=rule.fact, value=rule.value)
    if rule.because:
        out["because"] = rule.because
    return out


def _version_detail(v: RulesetVersion, today: dt.date) -> dict:
    return {**_version_summary(v, today), "id": v.id, "title": v.title,
            "description": v.description, "reference": v.reference,
            "includes": [{"ruleset": i, "as": alias} for i, alias in v.includes],
            "facts": {name: _fact_spec(spec) for name, spec in v.facts.items()},
            "derives": v.derives, "constants": v.constants, "scores": v.scores,
            "rules": [_rule(r) for r in v.rules], "outcome": v.outcome}


@v1.get("/rulesets")
@operation("List rulesets", "rulesets", {200: Success(
    s.RulesetListSchema, "Every ruleset: its versions, their status today, their hashes")},
    roles=())
def list_rulesets() -> Response:
    today, lang = dt.date.today(), language()
    catalog = service().rules.catalog
    return respond(s.RulesetListSchema, localize(
        {"rulesets": [_summary(i, today) for i in catalog.ids()]}, lang), lang=lang)


@v1.get("/rulesets/<ruleset_id>")
@operation("Describe a ruleset", "rulesets", {200: Success(
    s.RulesetDetailSchema, "Its versions and, in full, the version in force today (or the next "
                           "scheduled one): rules, references, conditions, facts contract")},
    roles=(), problems=(404,))
def get_ruleset(ruleset_id: str) -> Response:
    today, lang = dt.date.today(), language()
    catalog = service().rules.catalog
    summary = _summary(ruleset_id, today)
    versions = catalog.versions(ruleset_id)
    shown = next((v for v in versions if v.version == summary["in_force"]), None) or next(
        (v for v in versions if v.effective_from > today), None)
    latest = versions[-1]
    data = {**summary, "description": latest.description, "reference": latest.reference,
            "current": _version_detail(shown, today) if shown else None}
    return respond(s.RulesetDetailSchema, localize(data, lang), lang=lang)


@v1.get("/rulesets/<ruleset_id>/versions/<version>")
@operation("Describe one version of a ruleset", "rulesets", {200: Success(
    s.VersionDetailSchema, "The version: status, hash, rules, facts contract")},
    roles=(), problems=(404,))
def get_ruleset_version(ruleset_id: str, version: str) -> Response:
    today, lang = dt.date.today(), language()
    found = service().rules.catalog.version(ruleset_id, version)
    return respond(s.VersionDetailSchema, localize(_version_detail(found, today), lang),
                   lang=lang)


@v1.post("/admin/reload")
@operation("Reload the rulesets from disk", "admin", {200: Success(
    s.ReloadSchema, "The new rules are in use (and workers are being replaced)")},
    roles=("admin",), problems=(422,),
    description="Loads, validates and compiles every ruleset file, then swaps them in whole. "
                "A broken file gives 422 with every problem (file, line, key) and changes "
                "nothing. Under `decisions serve` every worker is then replaced gracefully.")
def reload_rulesets() -> Response:
    rules, restarting = service().reload()
    versions = sum(len(v) for v in rules.catalog.by_id.values())
    return respond(s.ReloadSchema, {"rulesets": len(rules.catalog.by_id), "versions": versions,
                                    "workers_restarting": restarting})


# ------------------------------------------------------------------------------- operations
@ops.get("/healthz")
@operation("Liveness", "operations", {200: Success(s.HealthSchema, "The process answers")})
def healthz() -> Response:
    return respond(s.HealthSchema, {"status": "ok"})


@ops.get("/readyz")
@operation("Readiness", "operations", {200: Success(
    s.ReadySchema, "Rulesets loaded and the decision log reachable at the current schema")},
    problems=(503,))
def readyz() -> Response:
    tokens: TokenStore = current_app.extensions["decisions.tokens"]
    checks = {**service().readiness(), "tokens": tokens.state()}
    failed = {name: state for name, state in checks.items() if state != "ok"}
    if failed:
        raise NotReadyError("; ".join(f"{k}: {v}" for k, v in failed.items()), checks=checks)
    return respond(s.ReadySchema, {"status": "ready", "checks": checks})


@ops.get("/metrics")
@operation("Prometheus metrics", "operations", {200: Success(
    None, "Requests, latency histogram, decisions by ruleset and outcome",
    media="text/plain")})
def metrics() -> Response:
    return observability.metrics_response()


@ops.get("/openapi.json")
@operation("This API's OpenAPI 3.1 document", "operations", {200: Success(
    None, "The OpenAPI document", media=JSON)})
def openapi_document() -> Response:
    return respond(None, current_app.extensions["decisions.spec"])


@ops.get("/docs")
@operation("This API's documentation page", "operations", {200: Success(
    None, "HTML", media="text/html")})
def docs_page() -> str:
    return render_template("api-docs.html", doc=docs_model(
        current_app.extensions["decisions.spec"]), spec_url=url_for("ops.openapi_document"))


# ---------------------------------------------------------------------------------- the app
def _draws_blueprint() -> Blueprint:
    from .draws_api import blueprint  # imported here: it builds on this module

    return blueprint


def build_app(config: Config, decision_service: DecisionService, tokens: TokenStore) -> Flask:
    app = Flask("service")
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    app.extensions["decisions"] = decision_service
    app.extensions["decisions.tokens"] = tokens
    observability.install(app)
    http_errors.register(app)
    app.register_blueprint(v1)
    app.register_blueprint(ops)
    app.register_blueprint(_draws_blueprint())
    try:
        release = package_version("decisions")
    except PackageNotFoundError:
        release = "0"
    app.extensions["decisions.spec"] = build_spec(app, f"{API_VERSION} ({release})")
    return app
