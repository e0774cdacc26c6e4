"""The HTTP API's views: decisions, the decision log, rulesets, administration and operations,
thin over DecisionService (``service.live``).

Each view is declared with ``@operation`` (``web.plumbing``), which describes it and guards it;
the view calls the service and shapes the response with a schema.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any

import orjson
from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    render_template,
    stream_with_context,
    url_for,
)
from flask import request as flask_request
from marshmallow import ValidationError
from werkzeug.routing import BaseConverter
from werkzeug.routing import ValidationError as NoRouteMatch

from ..decisions import localized
from ..errors import DecisionError
from ..i18n import localize
from ..live import DecisionNotFoundError, DecisionRequest, version_status
from ..rulesets import RulesetVersion
from ..store import Filters, IdempotencyKey, Record, encode_cursor
from . import observability, problems
from . import schemas as s
from .openapi import Success, docs_model, with_facts_contracts
from .plumbing import (
    JSON,
    JSON_LINES,
    cursor_of,
    invalid_request,
    language,
    operation,
    request_problem,
    respond,
    schema_of,
    service,
)
from .problems import InvalidRequestError, NotReadyError, problem_body

v1 = Blueprint("v1", __name__, url_prefix="/v1")
ops = Blueprint("ops", __name__)


class DecisionIdConverter(BaseConverter):
    """A decision id is never the name of a sibling route: without this, GET /v1/decisions/batch
    (a POST-only route) was read as the decision 'batch' (404) instead of a 405 naming POST."""

    RESERVED = frozenset({"batch", "export", "what-would-change"})

    def to_python(self, value: str) -> str:
        if value in self.RESERVED:
            raise NoRouteMatch()  # Werkzeug tries the other routes, then answers 405
        return value


# Registered with the blueprint, before its routes are added (they are compiled against it).
v1.record_once(lambda state: state.app.url_map.converters.setdefault(
    "decision_id", DecisionIdConverter))


def _decision_request(body: Mapping[str, Any], request_id: str) -> DecisionRequest:
    return DecisionRequest(body["ruleset"], body["facts"], body.get("as_of"), request_id)


# --------------------------------------------------------------------------------- decisions
@v1.post("/decisions")
@operation("Decide one candidate", "decisions", {201: Success(
    s.DecisionSchema, "The explained decision, already written to the decision log")},
    roles=("decide",), body=s.DecisionRequestSchema, headers=s.DecisionHeadersSchema,
    problems=(404, 503),
    description="Decides with the ruleset version in force on `as_of` (default today), writes "
                "the decision to the log and commits it, then answers. Texts follow "
                "Accept-Language (en or fr). 404: unknown ruleset or no version in force. "
                "With an Idempotency-Key, the same request sent again gets the same decision "
                "and no second record (Idempotent-Replayed: true); another request with that "
                "key gets 422.")
def create_decision(body: dict, headers: dict) -> Response:
    request = _decision_request(body, g.request_id)
    replayed = False
    if "idempotency_key" in headers:
        result, replayed = service().decide_once(request, IdempotencyKey(
            g.caller.name, headers["idempotency_key"], _request_sha256(body)))
    else:
        [result] = service().decide([request], g.caller.name)
    if isinstance(result, DecisionError):
        return problems.answered_response(request_problem(result))
    if not replayed:
        observability.count_decision(result)
    lang = language()
    answer_headers = {"Location": url_for("v1.get_decision", decision_id=result["decision_id"])}
    if replayed:
        answer_headers["Idempotent-Replayed"] = "true"
    # Written as built, without a marshmallow dump: decisions.decide makes exactly the shape
    # DecisionSchema documents (a test holds every answer to it), and dumping ~60 nested entries
    # field by field was a third of a request's time (docs/benchmarks.md).
    return respond(None, localized(service().shown(result, lang), lang), 201, lang=lang,
                   headers=answer_headers)


def _request_sha256(body: Mapping[str, Any]) -> str:
    """What tells one request from another under an idempotency key: the validated body, as
    canonical JSON (key order and spacing do not count; an omitted as_of is not today's date)."""
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


@v1.post("/decisions/batch")
@operation("Decide up to 1,000 candidates", "decisions", {200: Success(
    s.BatchResponseSchema, "One result per item, in order: a decision (status 201) or a "
                           "problem (its own status)")},
    roles=("decide",), body=s.BatchRequestSchema, problems=(503,),
    description="Items are validated and decided one by one: a bad item gets its own problem "
                "and the others are still decided. Every decision is logged, in one "
                "transaction, before the answer. An Idempotency-Key header is refused (422): "
                "a 503 means nothing of the batch was logged, so send it again as it was; "
                "send single decisions with a key where a lost answer must not log twice.")
def create_decisions_batch(body: dict) -> Response:
    if "Idempotency-Key" in flask_request.headers:
        # Refused rather than ignored: a client counting on it would log a batch twice.
        raise InvalidRequestError(
            "Idempotency-Key: the batch call does not take one; send the items as single "
            "decisions with a key each, or resend the batch after a 503 (nothing of it was "
            "logged)", errors={"Idempotency-Key": ["not taken by the batch call"]})
    items = body["items"]
    slots: list[dict] = []
    requests: list[DecisionRequest] = []
    for index, item in enumerate(items):
        try:
            loaded = schema_of(s.DecisionRequestSchema).load(item)
        except ValidationError as exc:
            problem = problem_body(invalid_request(exc.messages, f"items[{index}]").problem())
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
            slot.update(status=201, decision=localized(service().shown(result, lang), lang))
    failed = sum(1 for slot in slots if "problem" in slot)
    # As built, like a single decision; BatchResponseSchema documents the shape.
    return respond(None, {"results": slots, "succeeded": len(slots) - failed, "failed": failed},
                   lang=lang)


@v1.post("/decisions/what-would-change")
@operation("What would change the outcome", "decisions", {200: Success(
    s.WhatWouldChangeSchema, "The smallest declared changes of the facts that change the "
                             "outcome, each decided by the engine; not logged")},
    roles=("decide",), body=s.DecisionRequestSchema, problems=(404, 503),
    description="Takes the body of POST /v1/decisions. Decides the facts, then profiles "
                "changed as the facts contract's `changes:` allow (one fact, then two), each "
                "through the engine, fewest steps first, within the configured limits "
                "(DECISIONS_WHAT_WOULD_CHANGE_DECISIONS, DECISIONS_WHAT_WOULD_CHANGE_MS; "
                "`search` says when it stopped early). Nothing is written to the decision "
                "log. Texts follow Accept-Language. docs/what-would-change.md.")
def what_would_change(body: dict) -> Response:
    try:
        answer = service().what_would_change(_decision_request(body, g.request_id))
    except DecisionError as exc:  # facts errors point into the body, as for a decision
        return problems.answered_response(request_problem(exc))
    lang = language()
    return respond(s.WhatWouldChangeSchema, localize(answer, lang), lang=lang)


# ------------------------------------------------------------------------------ decision log
def _filters(query: Mapping[str, Any]) -> Filters:
    return Filters(ruleset=query.get("ruleset"), version=query.get("version"),
                   outcome=query.get("outcome"), candidate_id=query.get("candidate_id"),
                   decided_from=query.get("decided_from"), decided_to=query.get("decided_to"))


def _record(record: Record, lang: str) -> dict:
    data = record.as_dict()
    data["decision"] = localized(service().shown(data["decision"], lang), lang)
    return data


@v1.get("/decisions")
@operation("List logged decisions", "decision log", {200: Success(
    s.DecisionPageSchema, "A page of decision summaries and the cursor of the next page")},
    roles=("audit",), query=s.DecisionPageQuerySchema, problems=(503,),
    description="Filter by ruleset, version, outcome, candidate_id and a decided-at range "
                "[from, to). Pass next_cursor as cursor to read the next page; it is null on "
                "the last page.")
def list_decisions(query: dict) -> Response:
    records, last = service().store.page(_filters(query), cursor_of(query), query["limit"],
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
    lines = service().store.export(_filters(query))
    return Response(stream_with_context(lines), mimetype=JSON_LINES, headers={
        "Content-Disposition": "attachment; filename=decisions.jsonl"})


@v1.get("/decisions/<decision_id:decision_id>")
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
        raise DecisionNotFoundError.said("the log keeps no ruleset version with sha256 "
                                         "'{sha256}'", sha256=sha256)
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
    catalog = service().rules.catalog
    corrector = catalog.corrected_by(v)
    return {"version": v.version, "status": version_status(catalog, v, today),
            "effective_from": v.effective_from, "effective_to": v.effective_to,
            "corrects": v.corrects, "corrected_by": corrector.version if corrector else None,
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


@v1.get("/names")
@operation("Names of things", "rulesets", {200: Success(
    s.NamesSchema, "Occupation titles by classification and the words for enum values, in the "
                   "language asked for")}, roles=(),
    description="What the codes and values a decision holds mean, as the ruleset folder names "
                "them: each classification's codes with their titles (null where no official "
                "title in that language was found) and, by fact path, the words for each enum "
                "value. Data for showing a decision; decisions themselves keep codes.")
def get_names() -> Response:
    lang = language()
    return respond(s.NamesSchema, service().rules.catalog.names(lang), lang=lang)


@v1.post("/admin/reload")
@operation("Reload the rulesets from disk", "admin", {200: Success(
    s.ReloadSchema, "The new rules are in use (and workers are being replaced)")},
    roles=("admin",), query=s.ReloadQuerySchema, problems=(409, 422),
    description="Loads, validates and compiles every ruleset file, then swaps them in whole. "
                "A broken file gives 422 with every problem (file, line, key) and changes "
                "nothing. A folder that no longer has a ruleset in use gives 409 with the "
                "rulesets it would remove (`removed`) and changes nothing, unless `remove` "
                "names exactly those; a folder with no ruleset at all, always 409. Under "
                "`decisions serve` every worker is then replaced gracefully.")
def reload_rulesets(query: dict) -> Response:
    before = set(service().rules.catalog.ids())
    rules, restarting = service().reload(remove=query.get("remove"))
    versions = sum(len(v) for v in rules.catalog.by_id.values())
    return respond(s.ReloadSchema, {"rulesets": len(rules.catalog.by_id), "versions": versions,
                                    "removed": sorted(before - set(rules.catalog.ids())),
                                    "workers_restarting": restarting})


# ------------------------------------------------------------------------------- operations
@ops.get("/healthz")
@operation("Liveness", "operations", {200: Success(s.HealthSchema, "The process answers")})
def healthz() -> Response:
    return respond(s.HealthSchema, {"status": "ok"})


@ops.get("/readyz")
@operation("Readiness", "operations", {200: Success(
    s.ReadySchema, "Rulesets loaded and the decision log reachable at the current schema "
                   "and writable")},
    problems=(503,))
def readyz() -> Response:
    tokens = current_app.extensions["decisions.tokens"]
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
    return respond(None, _spec())


def _spec() -> dict:
    """The OpenAPI document with the facts contracts of the rulesets in use: made once per
    catalog (a reload brings a new one)."""
    catalog = service().rules.catalog
    made = current_app.extensions.get("decisions.spec.facts")
    if made is None or made[0] is not catalog:
        made = (catalog, with_facts_contracts(current_app.extensions["decisions.spec"], catalog))
        current_app.extensions["decisions.spec.facts"] = made
    return made[1]


@ops.get("/docs")
@operation("This API's documentation page", "operations", {200: Success(
    None, "HTML", media="text/html")})
def docs_page() -> str:
    return render_template("api-docs.html", doc=docs_model(_spec()),
                           spec_url=url_for("ops.openapi_document"))
