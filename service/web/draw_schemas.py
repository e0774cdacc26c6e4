"""marshmallow schemas of the draw endpoints (``web.draw_views``), in the conventions of
``service.schemas``: requests reject unknown fields, responses dump only documented fields, and
they are the source of the OpenAPI document. Texts are dumped after ``i18n.localize``."""

from __future__ import annotations

from marshmallow import fields, validate

from ..draws import DRAW_ID_PATTERN, STATUSES
from .schemas import ID, PLAIN, RulesetHashSchema, Strict, any_value

DRAW_ID = validate.Regexp(DRAW_ID_PATTERN, error="letters, digits and . _ - only, at most 128")


# ------------------------------------------------------------------------------------ requests
class DrawRequestSchema(Strict):
    """A draw over a pool stored in the database (``decisions pool import``)."""

    ruleset = fields.String(required=True, validate=[validate.Length(max=200), ID], metadata={
        "example": "oinp.hcp.draw.tech-2019-07-12"})
    pool_id = fields.String(required=True, validate=[validate.Length(min=1, max=128), PLAIN],
                            metadata={"description": "a stored pool"})
    draw_id = fields.String(validate=DRAW_ID, metadata={
        "description": "idempotency key: a draw id is held once; sending it again returns the "
                       "first result (default: the ruleset id and the pool's sha256)"})
    version = fields.String(validate=[validate.Length(min=1, max=64), PLAIN], metadata={
        "description": "the draw ruleset version (default: its latest)"})


class DrawQuerySchema(Strict):
    """The draw of a JSON Lines body (the pool itself) is named in the query string."""

    ruleset = fields.String(validate=[validate.Length(max=200), ID], metadata={
        "description": "the draw ruleset: required with a JSON Lines body",
        "example": "oinp.hcp.draw.tech-2019-07-12"})
    draw_id = fields.String(validate=DRAW_ID)
    version = fields.String(validate=[validate.Length(min=1, max=64), PLAIN])


class InvitationPageQuerySchema(Strict):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    cursor = fields.String(validate=[validate.Length(max=64), PLAIN], metadata={
        "description": "next_cursor of the previous page"})


# ----------------------------------------------------------------------------------- responses
class PoolRefSchema(Strict):
    size = fields.Integer(required=True)
    sha256 = fields.String(required=True)
    source = fields.String(allow_none=True)


class CutoffSchema(Strict):
    score = fields.Integer(required=True, metadata={"description": "lowest score invited"})
    rank = fields.Integer(required=True, metadata={"description": "rank of the last invited"})
    tie_break_at = fields.String(allow_none=True, metadata={
        "format": "date-time", "description": "profile submission time of the last candidate "
                                               "invited at the cutoff score"})
    tie_break_applied = fields.Boolean(required=True, metadata={
        "description": "an eligible candidate with the cutoff score was not invited"})


class DrawCountsSchema(Strict):
    pool = fields.Integer(required=True)
    assessed = fields.Integer(required=True)
    eligible = fields.Integer(required=True)
    invited = fields.Integer(required=True)
    below_cutoff = fields.Integer(required=True)
    tie_break = fields.Integer(required=True, metadata={
        "description": "eligible at the cutoff score, submitted after the tie-break time"})
    ineligible = fields.Integer(required=True)
    invalid = fields.Integer(required=True)
    duplicate = fields.Integer(required=True)
    error = fields.Integer(required=True)
    ineligible_by_requirement = fields.Dict(keys=fields.String(), values=fields.Integer(),
                                            metadata={"description": "by the draw ruleset's own "
                                                                     "requirements"})
    ineligible_by_reason = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={
        "description": "by RULESET:RULE of the requirements that fail on the facts"})


class PublishedRoundSchema(Strict):
    round = fields.Integer(required=True, metadata={"description": "the round's number"})
    time = fields.String(required=True, metadata={"format": "date-time",
                                                   "description": "date and time of the round"})
    type = fields.String(required=True, metadata={"description": "the round type, as published"})
    invitations = fields.Integer(required=True, metadata={
        "description": "number of invitations issued"})
    lowest_score = fields.Integer(required=True, metadata={
        "description": "score of the lowest-ranked candidate invited"})
    tie_break = fields.String(required=True, metadata={
        "format": "date-time", "description": "the tie-breaking rule's profile submission time"})
    reference = fields.String(required=True)
    note = fields.String()


class DrawSchema(Strict):
    draw_id = fields.String(required=True)
    ruleset = fields.Nested(RulesetHashSchema, required=True)
    title = fields.String(required=True)
    reference = fields.String()
    draw_date = fields.String(required=True, metadata={"format": "date"})
    held_at = fields.String(required=True, metadata={"format": "date-time"})
    caller = fields.String(allow_none=True)
    request_id = fields.String(allow_none=True)
    score = fields.String(required=True, metadata={"description": "the score ranked by"})
    invitations_planned = fields.Integer(required=True)
    validity_days = fields.Integer(required=True)
    expires_on = fields.String(required=True, metadata={
        "format": "date", "description": "last day of every invitation's validity"})
    pool = fields.Nested(PoolRefSchema, required=True)
    rulesets = fields.List(fields.Nested(RulesetHashSchema), required=True)
    counts = fields.Nested(DrawCountsSchema, required=True)
    cutoff = fields.Nested(CutoffSchema, allow_none=True, required=True)
    results_sha256 = fields.String(required=True, metadata={
        "description": "sha256 of every candidate's outcome, as recorded"})
    published = fields.Nested(PublishedRoundSchema, metadata={
        "description": "a round the government held: what it published of it (only for a "
                       "draw ruleset with draw.published)"})
    retried_chunks = fields.Integer(metadata={
        "description": "chunks of the pool decided again after a lost worker or an engine "
                       "crash on a Dask cluster (0 on one machine; absent from draws held "
                       "before it was recorded)"})
    replayed = fields.Boolean(metadata={"description": "the draw id was held before: this is "
                                                      "the first result"})


class InvitationSchema(Strict):
    rank = fields.Integer(required=True)
    candidate_id = fields.String(required=True)
    position = fields.Integer(required=True, metadata={"description": "line in the pool"})
    score = fields.Integer(required=True)
    profile_submitted_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    expires_on = fields.String(required=True, metadata={"format": "date"})
    decision_id = fields.String(required=True, metadata={
        "description": "the explained decision, in the decision log (GET /v1/decisions/{id})"})
    log_seq = fields.Integer(metadata={"description": "its record in the decision log"})


class InvitationPageSchema(Strict):
    items = fields.List(fields.Nested(InvitationSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class CandidateOutcomeSchema(Strict):
    position = fields.Integer(required=True)
    candidate_id = fields.String(allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    score = fields.Integer(allow_none=True)
    rank = fields.Integer(allow_none=True, metadata={"description": "rank among the eligible"})
    profile_submitted_at = fields.String(allow_none=True)
    detail = fields.Dict(keys=fields.String(), values=any_value(), metadata={
        "description": "invited: decision_id, expires_on; below_cutoff and tie_break: because; "
                       "ineligible: failed (the draw's requirements) and requirements (those "
                       "that fail on the facts, with because); invalid and error: problem"})


class CandidateOutcomesSchema(Strict):
    draw_id = fields.String(required=True)
    candidate_id = fields.String(required=True)
    outcomes = fields.List(fields.Nested(CandidateOutcomeSchema), required=True)


__all__ = ["DrawRequestSchema", "DrawQuerySchema", "InvitationPageQuerySchema", "DrawSchema",
           "InvitationPageSchema", "CandidateOutcomesSchema", "ID"]
