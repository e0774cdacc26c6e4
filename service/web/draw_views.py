"""HTTP views for draws (issue 7), a blueprint of its own registered by ``api.build_app``:

    POST /v1/draws                                  hold a draw (idempotent by draw id)
    GET  /v1/draws/<draw_id>                        the draw: cutoff, tie-break, counts
    GET  /v1/draws/<draw_id>/invitations            its invitations by rank (cursor pages)
    GET  /v1/draws/<draw_id>/candidates/<cand_id>   one candidate's outcome: invited, or why not

Thin views over ``service.draws`` and ``service.store.draws``, in the conventions of the other
views (``web.plumbing``): ``@operation`` for roles and the OpenAPI document, marshmallow
schemas (``web.draw_schemas``), problem+json errors, texts in the language of Accept-Language.

A draw runs inside the request (synchronously), through the worker's decider (its supervised
engine process): pools up to MAX_SYNC_POOL candidates. A larger pool is held with
``decisions draw --stored-pool`` and read here (docs/draws.md).
"""

from __future__ import annotations

from flask import Blueprint, Response, g, request, url_for

from ..draws import DrawError, DrawNotFoundError, Pool, default_draw_id, run_draw
from ..errors import PLAIN_TEXT
from ..i18n import localize
from ..store import draws as draw_store
from ..store import encode_cursor
from .draw_schemas import (
    CandidateOutcomesSchema,
    DrawQuerySchema,
    DrawRequestSchema,
    DrawSchema,
    InvitationPageQuerySchema,
    InvitationPageSchema,
)
from .openapi import PATH_PARAMETERS, Success
from .plumbing import JSON, cursor_of, json_body, language, operation, respond, service, validated
from .problems import InvalidRequestError, UnsupportedMediaTypeError

MAX_SYNC_POOL = 20_000  # about 25 s of deciding: well inside the workers' 60 s timeout
JSON_LINES_TYPES = ("application/jsonl", "application/x-ndjson", "application/jsonlines")

blueprint = Blueprint("draws", __name__, url_prefix="/v1")
PATH_PARAMETERS.setdefault("draw_id", {"type": "string", "minLength": 1, "maxLength": 128,
                                       "pattern": PLAIN_TEXT})
PATH_PARAMETERS.setdefault("candidate_id", {"type": "string", "minLength": 1, "maxLength": 200,
                                            "pattern": PLAIN_TEXT})

_BODY = {"required": True, "content": {
    "application/json": {"schema": DrawRequestSchema},
    "application/jsonl": {"schema": {"type": "string", "description": (
        "JSON Lines: one candidate profile (the facts of POST /v1/decisions) per line; name the "
        "draw in the query string (ruleset, draw_id, version)")}}}}


def _draw_or_404(draw_id: str) -> dict:
    summary = draw_store.load_draw(service().store, draw_id)
    if summary is None:
        raise DrawNotFoundError.said("no draw '{id}'", id=draw_id)
    return summary


@blueprint.post("/draws")
@operation("Hold a draw over a pool", "draws", {
    201: Success(DrawSchema, "The draw was held and recorded: cutoff, tie-break, counts"),
    200: Success(DrawSchema, "This draw id was held before: its first result (replayed)")},
    roles=("decide",), problems=(400, 404, 409, 413, 415, 422, 503),
    description="Assesses every candidate with the draw ruleset as of its draw date, ranks the "
                "eligible by score then by profile_submitted_at, invites the first N, and "
                "records the draw, its invitations (their decisions in the decision log) and "
                "every candidate's outcome. The pool is a JSON Lines body (the draw named in "
                "the query string) or a stored pool (JSON body with pool_id). A draw id is held "
                "once: 200 with the first result; 409 if it was held with another ruleset or "
                "pool. Pools over 20,000 candidates: `decisions draw --stored-pool`.")
def create_draw() -> Response:
    svc = service()
    rules = svc.rules  # one snapshot for the whole draw, even if a reload swaps it
    if request.mimetype in JSON_LINES_TYPES:
        params = validated(DrawQuerySchema, request.args.to_dict(flat=True))
        if "ruleset" not in params:
            raise InvalidRequestError("ruleset: name the draw ruleset in the query string",
                                      errors={"ruleset": ["Missing data for required field."]})
        body = request.get_data(cache=False)  # 413 past MAX_CONTENT_LENGTH
        lines = body.count(b"\n") + (0 if body.endswith(b"\n") or not body else 1)
        if lines > MAX_SYNC_POOL:
            raise DrawError.said("the pool has {lines} lines; a draw over HTTP takes at most "
                                 "{most}", lines=lines, most=MAX_SYNC_POOL)
        pool = Pool.from_bytes(body)
    elif request.mimetype == JSON or request.mimetype.endswith("+json"):
        if request.args:
            raise InvalidRequestError("query parameters name the draw of a JSON Lines body; "
                                      "with a JSON body, send them in the body",
                                      errors={"query": ["Unknown field."]})
        params = validated(DrawRequestSchema, json_body())
        pool = Pool.from_store(svc.store, params["pool_id"])
        info = draw_store.pool_info(svc.store, params["pool_id"])
        draw_id = params.get("draw_id") or default_draw_id(params["ruleset"], pool.sha256)
        if info["size"] > MAX_SYNC_POOL and draw_store.load_draw(svc.store, draw_id) is None:
            raise DrawError.said("pool '{pool}' has {size} candidates; a draw over HTTP takes "
                                 "at most {most}: hold it with `decisions draw --stored-pool`, "
                                 "then read it here", pool=params["pool_id"], size=info["size"],
                                 most=MAX_SYNC_POOL)
    else:
        raise UnsupportedMediaTypeError(f"send a JSON Lines pool ({JSON_LINES_TYPES[0]}) or a "
                                        f"stored pool ({JSON}), not "
                                        f"{request.mimetype or 'no Content-Type'}")
    result = run_draw(rules.catalog, [rules.decider], params["ruleset"], pool,
                      draw_id=params.get("draw_id"), version=params.get("version"),
                      store=svc.store, caller=g.caller.name, request_id=g.request_id)
    lang = language()
    return respond(DrawSchema, localize(result, lang), 200 if result["replayed"] else 201,
                   lang=lang, headers={"Location": url_for("draws.get_draw",
                                                           draw_id=result["draw_id"])})


create_draw.operation.extra["requestBody"] = _BODY
create_draw.operation.extra["parameters"] = [{"in": "query", "schema": DrawQuerySchema}]


@blueprint.get("/draws/<draw_id>")
@operation("Read a draw", "draws", {200: Success(
    DrawSchema, "The draw: ruleset version and hash, pool, cutoff score and tie-break time, "
                "counts of eligible, invited and ineligible by requirement")},
    roles=("decide", "audit"), problems=(404, 503))
def get_draw(draw_id: str) -> Response:
    lang = language()
    return respond(DrawSchema, localize(_draw_or_404(draw_id), lang), lang=lang)


@blueprint.get("/draws/<draw_id>/invitations")
@operation("List a draw's invitations", "draws", {200: Success(
    InvitationPageSchema, "A page of invitations by rank: candidate, score, submission time, "
                          "expiry, and the decision that explains it")},
    roles=("decide", "audit"), query=InvitationPageQuerySchema, problems=(404, 503),
    description="Pass next_cursor as cursor to read the next page; it is null on the last.")
def list_invitations(draw_id: str, query: dict) -> Response:
    _draw_or_404(draw_id)
    after = cursor_of(query, "rank")
    items, last = draw_store.invitations_page(service().store, draw_id, after, query["limit"])
    return respond(InvitationPageSchema, {
        "items": items, "next_cursor": encode_cursor(last, "rank") if last is not None else None})


@blueprint.get("/draws/<draw_id>/candidates/<candidate_id>")
@operation("Explain one candidate's outcome in a draw", "draws", {200: Success(
    CandidateOutcomesSchema, "invited (with its decision), below_cutoff or tie_break (why), "
                             "ineligible (the requirements that failed, and why), invalid, "
                             "duplicate or error")},
    roles=("decide", "audit"), problems=(404, 503))
def get_candidate_outcome(draw_id: str, candidate_id: str) -> Response:
    _draw_or_404(draw_id)
    outcomes = draw_store.candidate_outcomes(service().store, draw_id, candidate_id)
    if not outcomes:
        raise DrawNotFoundError.said("no candidate '{candidate}' in draw '{draw}'",
                                     candidate=candidate_id, draw=draw_id)
    lang = language()
    return respond(CandidateOutcomesSchema, localize(
        {"draw_id": draw_id, "candidate_id": candidate_id, "outcomes": outcomes}, lang),
        lang=lang)
