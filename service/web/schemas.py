"""marshmallow schemas for every HTTP request and response body of the decision API.

They validate what comes in (unknown fields rejected), shape what goes out (``dump`` keeps only
the documented fields), and are the single source of the OpenAPI document (``service.openapi``).
Texts are dumped after ``i18n.localize`` has picked one language, so they are plain strings here.
"""

from __future__ import annotations

import datetime as dt
import re

from marshmallow import RAISE, Schema, fields, validate

from ..errors import CONTROL_MESSAGE, PLAIN_TEXT
from ..rulesets import ID_PATTERN

ID = validate.Regexp(ID_PATTERN, error="a ruleset id: lowercase words joined by . or -")
# Free text that reaches the database or a page: no control character (the request guard,
# web.plumbing, refuses them in every parameter; this says so in the OpenAPI document).
PLAIN = validate.Regexp(PLAIN_TEXT, error=CONTROL_MESSAGE)


def any_value(**kwargs) -> fields.Raw:
    """A JSON value of any type (null included)."""
    return fields.Raw(allow_none=True, **kwargs)


class CalendarDate(fields.Date):
    """A day written YYYY-MM-DD and nothing else: marshmallow's Date reads with
    date.fromisoformat, which on Python 3.11 also takes 20190715 and 2019-W29-1 (issue 17, 17e)."""

    FORM = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
    default_error_messages = {"invalid": "Not a valid date: write it as YYYY-MM-DD."}

    def _deserialize(self, value, attr, data, **kwargs) -> dt.date:
        if not isinstance(value, str) or not self.FORM.fullmatch(value):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class Strict(Schema):
    class Meta:
        unknown = RAISE
        ordered = True


# ------------------------------------------------------------------------------------ requests
class DecisionRequestSchema(Strict):
    ruleset = fields.String(required=True, validate=[validate.Length(max=200), ID],
                            metadata={"example": "oinp.hcp.tech-draw"})
    facts = fields.Dict(keys=fields.String(), values=any_value(), required=True, metadata={
        "description": "The candidate's facts, checked against the ruleset's facts contract "
                       "(GET /v1/rulesets/{id}): unknown fields, wrong types and out-of-range "
                       "values give 422 with the field path, e.g. facts.age."})
    as_of = CalendarDate(metadata={"description": "Decide with the rules in force on this day "
                                                 "(default: today)", "example": "2019-07-15"})


class DecisionHeadersSchema(Strict):
    idempotency_key = fields.String(
        data_key="Idempotency-Key",
        validate=[validate.Length(min=1, max=255),
                  validate.Regexp(r"^[\x21-\x7e]+$", error="visible ASCII characters only")],
        metadata={"description": "Makes sending the request again safe (after a 503, a timeout, "
                                 "a lost answer): the same key with the same body gets the "
                                 "decision given the first time, with Idempotent-Replayed: true, "
                                 "and no second record; with another body, 422. Keys are the "
                                 "caller's (per token name) and never expire: use a new one "
                                 "(a UUID) for each new request.",
                  "example": "3f1c9e0a-7a51-4b8e-9c55-2d1f0b7e6a42"})


class BatchItem(fields.Raw):
    """One batch item: a DecisionRequest, validated on its own so that a bad item gets its own
    problem and the others are still decided (documented as DecisionRequest)."""


class BatchRequestSchema(Strict):
    items = fields.List(BatchItem(), required=True, validate=validate.Length(min=1, max=1000),
                        metadata={
        "description": "Up to 1,000 decision requests, answered in the same order."})


class DecisionQuerySchema(Strict):
    ruleset = fields.String(validate=[validate.Length(max=200), PLAIN])
    version = fields.String(validate=[validate.Length(max=64), PLAIN])
    outcome = fields.String(validate=[validate.Length(max=64), PLAIN])
    candidate_id = fields.String(validate=[validate.Length(max=200), PLAIN])
    decided_from = fields.AwareDateTime(
        data_key="from", default_timezone=dt.UTC,
        metadata={"description": "decided at or after (ISO 8601; UTC when no offset)"})
    decided_to = fields.AwareDateTime(
        data_key="to", default_timezone=dt.UTC,
        metadata={"description": "decided before (ISO 8601; UTC when no offset)"})


class DecisionPageQuerySchema(DecisionQuerySchema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    cursor = fields.String(validate=[validate.Length(max=64), PLAIN], metadata={
        "description": "next_cursor of the previous page"})
    order = fields.String(load_default="asc", validate=validate.OneOf(["asc", "desc"]),
                          metadata={"description": "asc: log order; desc: newest first"})


# ---------------------------------------------------------------------------- decision (output)
class RulesetUsedSchema(Strict):
    id = fields.String(required=True)
    version = fields.String(required=True)
    sha256 = fields.String(required=True)
    as_ = fields.String(data_key="as", attribute="as")
    outcome = fields.String()
    met = fields.Boolean()
    met_by = fields.List(fields.String(), metadata={
        "description": "for a ruleset met when any of its requirements is (the Express Entry "
                       "categories): the ids of the requirements met, e.g. the categories the "
                       "candidate is eligible for; each one's why-not is in requirements"})


RULE_TEXT = ("in an answer; a logged decision leaves it to the ruleset version it names "
             "(GET /v1/ruleset-versions/{sha256})")


class FiredSchema(Strict):
    rule = fields.String(required=True)
    ruleset = fields.String(required=True)
    title = fields.String(metadata={"description": f"the rule's title, {RULE_TEXT}"})
    row = fields.String(metadata={"description": "table row, for a rule from a decision table"})
    matched = fields.Dict(keys=fields.String(), values=any_value())
    effect = fields.Dict(keys=fields.String(), values=any_value(), metadata={
        "description": "{award, points}, {derive, value} or {requirement: met}"})
    reference = fields.String(allow_none=True, metadata={"description": RULE_TEXT})


class RequirementSchema(Strict):
    rule = fields.String(required=True)
    ruleset = fields.String(required=True)
    title = fields.String(metadata={"description": f"the rule's title, {RULE_TEXT}"})
    met = fields.Boolean(required=True)
    reference = fields.String(allow_none=True, metadata={"description": RULE_TEXT})
    condition = fields.String(allow_none=True, metadata={"description": RULE_TEXT})
    because = fields.String(metadata={"description": "why not, in the language asked for"})
    why_not = fields.Dict(keys=fields.String(), values=any_value(),
                          metadata={"description": "why not, as data"})
    matched = fields.Dict(keys=fields.String(), values=any_value())


class ScoreDetailSchema(Strict):
    bucket = fields.String(required=True)
    title = fields.String(allow_none=True)
    points = fields.Integer(required=True)
    cap = fields.Integer(allow_none=True)
    counted = fields.Integer(required=True)


class DecisionSchema(Strict):
    decision_id = fields.String(required=True)
    ruleset = fields.String(required=True)
    as_of = fields.String(required=True, metadata={"format": "date"})
    decided_at = fields.String(required=True, metadata={"format": "date-time"})
    outcome = fields.String(required=True)
    outcome_title = fields.String(required=True)
    title = fields.String(required=True)
    rulesets = fields.List(fields.Nested(RulesetUsedSchema), required=True)
    scores = fields.Dict(keys=fields.String(),
                         values=fields.Dict(keys=fields.String(), values=fields.Integer()))
    score_details = fields.Dict(keys=fields.String(),
                                values=fields.List(fields.Nested(ScoreDetailSchema)))
    derived = fields.Dict(keys=fields.String(), values=any_value())
    fired = fields.List(fields.Nested(FiredSchema), required=True)
    requirements = fields.List(fields.Nested(RequirementSchema), required=True)


class ProblemSchema(Strict):
    """RFC 9457 problem details: the one error shape of the API."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String()
    request_id = fields.String()
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), metadata={
        "description": "422: messages by field path (facts.first_language.reading)"})
    problems = fields.List(fields.Dict(keys=fields.String(), values=any_value()),
                           metadata={"description": "ruleset problems: file, line, key"})
    checks = fields.Dict(keys=fields.String(), values=fields.String(),
                         metadata={"description": "readiness checks that failed"})
    removed = fields.List(fields.String(), metadata={
        "description": "reload refused (409): the rulesets in use it would remove"})


class BatchResultSchema(Strict):
    index = fields.Integer(required=True)
    status = fields.Integer(required=True)
    decision = fields.Nested(DecisionSchema)
    problem = fields.Nested(ProblemSchema)


class BatchResponseSchema(Strict):
    results = fields.List(fields.Nested(BatchResultSchema), required=True)
    succeeded = fields.Integer(required=True)
    failed = fields.Integer(required=True)


# ---------------------------------------------------------------------- what would change
class RequirementNamedSchema(Strict):
    ruleset = fields.String(required=True)
    rule = fields.String(required=True)
    title = fields.String(required=True)


class ChangedFactSchema(Strict):
    change = fields.String(required=True, metadata={
        "description": "the id of the change the facts contract declares (`changes:`)",
        "example": "first-ielts-writing"})
    fact = fields.String(required=True, metadata={"example": "first_language.writing"})
    title = fields.String(required=True, metadata={"example": "IELTS writing"})
    from_ = any_value(data_key="from", attribute="from", required=True,
                      metadata={"description": "the value sent (null: not given)"})
    to = any_value(required=True, metadata={"description": "the value that changes the outcome"})
    steps = fields.Integer(required=True, metadata={
        "description": "how many of the change's steps: 0.5 band each for IELTS, 1 year..."})


class ScoreMoveSchema(Strict):
    from_ = fields.Integer(data_key="from", attribute="from", allow_none=True, required=True)
    to = fields.Integer(required=True)


class OutcomeChangeSchema(Strict):
    facts = fields.List(fields.Nested(ChangedFactSchema), required=True, metadata={
        "description": "the facts changed together: one, or two when no single fact does it"})
    steps = fields.Integer(required=True, metadata={"description": "the size of the change"})
    outcome = fields.String(required=True)
    outcome_title = fields.String(required=True)
    met = fields.Boolean(required=True, metadata={
        "description": "every requirement of the ruleset met; for a draw, false when the change "
                       "makes a failed requirement met but others stay not met"})
    fixes = fields.List(fields.Nested(RequirementNamedSchema), required=True, metadata={
        "description": "the requirements not met before that this change makes met"})
    still_not_met = fields.List(fields.Nested(RequirementNamedSchema), required=True)
    scores = fields.Dict(keys=fields.String(), values=fields.Nested(ScoreMoveSchema),
                         required=True, metadata={"description": "every score, before and after"})
    text = fields.String(required=True, metadata={
        "description": "the change as a sentence, in the language asked for",
        "example": "With IELTS writing 7 instead of 6.5, the Comprehensive Ranking System score "
                   "would be 455 instead of 435 and the outcome would be “Meets the criteria of "
                   "the 2019-07-12 tech draw”."})


class SearchSpentSchema(Strict):
    decisions = fields.Integer(required=True, metadata={
        "description": "engine decisions made, the one of the facts as sent included"})
    elapsed_ms = fields.Float(required=True)
    skipped_profiles = fields.Integer(required=True, metadata={
        "description": "changed profiles not decided: they break a limit or a check of the "
                       "facts contract, so they are never suggested"})
    complete = fields.Boolean(required=True, metadata={
        "description": "false when a limit stopped the search before it tried every change"})
    stopped_by = fields.String(allow_none=True, required=True,
                               validate=validate.OneOf(["decisions", "time"]))
    max_decisions = fields.Integer(required=True)
    max_ms = fields.Integer(required=True)


class WhatWouldChangeSchema(Strict):
    ruleset = fields.String(required=True)
    version = fields.String(required=True)
    as_of = fields.String(required=True, metadata={"format": "date"})
    outcome = fields.String(required=True, metadata={"description": "the outcome of the facts "
                                                                    "as sent"})
    outcome_title = fields.String(required=True)
    met = fields.Boolean(required=True)
    draw = fields.Boolean(required=True, metadata={
        "description": "the ruleset is a draw: a change that makes a failed requirement met "
                       "counts, even if another stays not met"})
    not_met = fields.List(fields.Nested(RequirementNamedSchema), required=True)
    scores = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    changes = fields.List(fields.Nested(OutcomeChangeSchema), required=True, metadata={
        "description": "the smallest changes found, fewest steps first, at most one per fact "
                       "(or pair of facts)"})
    search = fields.Nested(SearchSpentSchema, required=True)
    summary = fields.String(required=True, metadata={
        "description": "what was found, and whether the search stopped early"})


# ------------------------------------------------------------------------------- decision log
class RulesetHashSchema(Strict):
    id = fields.String(required=True)
    version = fields.String(required=True)
    sha256 = fields.String(required=True)


class KeptVersionSchema(Strict):
    sha256 = fields.String(required=True)
    ruleset_id = fields.String(required=True)
    version = fields.String(required=True)
    stored_at = fields.String(required=True, metadata={"format": "date-time"})
    content = fields.Dict(required=True, metadata={
        "description": "the ruleset file as data, with the contract it names: the sha256 of "
                       "its canonical JSON (sorted keys, no spaces, UTF-8) is `sha256`"})


class DecisionSummarySchema(Strict):
    seq = fields.Integer(required=True)
    decision_id = fields.String(required=True)
    decided_at = fields.String(required=True, metadata={"format": "date-time"})
    ruleset = fields.String(required=True)
    version = fields.String(required=True)
    outcome = fields.String(required=True)
    candidate_id = fields.String(allow_none=True)
    as_of = fields.String(required=True, metadata={"format": "date"})
    request_id = fields.String(allow_none=True)
    caller = fields.String(allow_none=True)
    record_hash = fields.String(required=True)


class DecisionRecordSchema(DecisionSummarySchema):
    facts = any_value()
    rulesets = fields.List(fields.Nested(RulesetHashSchema), required=True)
    decision = fields.Nested(DecisionSchema, required=True)
    prev_hash = fields.String(required=True)


class DecisionPageSchema(Strict):
    items = fields.List(fields.Nested(DecisionSummarySchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class DifferenceSchema(Strict):
    path = fields.String(required=True, metadata={"example": "scores.crs.total"})
    logged = any_value()
    replayed = any_value()


class ReplaySchema(Strict):
    decision_id = fields.String(required=True)
    result = fields.String(required=True, validate=validate.OneOf(
        ["identical", "different", "failed"]))
    rulesets = fields.List(fields.Nested(RulesetHashSchema), required=True,
                           metadata={"description": "the pinned versions it ran with"})
    differences = fields.List(fields.Nested(DifferenceSchema), required=True)
    problem = fields.Nested(ProblemSchema, metadata={
        "description": "why the replay could not decide (result: failed)"})


# ------------------------------------------------------------------------------------ rulesets
class VersionSummarySchema(Strict):
    version = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(
        ["in_force", "scheduled", "superseded", "expired", "corrected"]))
    effective_from = fields.Date(required=True)
    effective_to = fields.Date(allow_none=True)
    corrects = fields.String(allow_none=True, metadata={
        "description": "the version this one replaces over the same period (a correction)"})
    corrected_by = fields.String(allow_none=True, metadata={
        "description": "the version that replaces this one; decisions no longer use it, "
                       "replays of decisions that named it still do"})
    sha256 = fields.String(required=True)


class RulesetSummarySchema(Strict):
    id = fields.String(required=True)
    title = fields.String(required=True)
    in_force = fields.String(allow_none=True, required=True,
                             metadata={"description": "the version in force today"})
    versions = fields.List(fields.Nested(VersionSummarySchema), required=True)


class RulesetListSchema(Strict):
    rulesets = fields.List(fields.Nested(RulesetSummarySchema), required=True)


class FactSpecSchema(Strict):
    type = fields.String(required=True)
    title = fields.String()
    description = fields.String()
    required = fields.Boolean(required=True)
    nullable = fields.Boolean()
    default = any_value()
    enum = fields.List(any_value())
    min = fields.Float()
    max = fields.Float()
    pattern = fields.String()
    min_length = fields.Integer()
    max_length = fields.Integer()
    fields_ = fields.Dict(data_key="fields", attribute="fields", keys=fields.String(),
                          values=fields.Nested(lambda: FactSpecSchema()))
    titles = fields.Dict(keys=fields.String(), values=fields.String(), metadata={
        "description": "The words for each enum value, in the language asked for"})
    codes = fields.Nested(lambda: CodesSchema(), metadata={
        "description": "The classification whose titles name this fact's codes"})
    reference = fields.String()


class CodesSchema(Strict):
    classification = fields.String()
    by = fields.String()
    classifications = fields.Dict(keys=fields.String(), values=fields.String())


class DerivedSpecSchema(Strict):
    type = fields.String(required=True)
    title = fields.String(required=True)
    enum = fields.List(any_value())
    titles = fields.Dict(keys=fields.String(), values=fields.String())


class ConstantSchema(Strict):
    value = any_value()
    reference = fields.String()
    title = fields.String()
    note = fields.String()
    items = fields.String(metadata={"description": "The classification whose codes the value "
                                                   "lists (each has a title there)"})


class ClassificationNamesSchema(Strict):
    id = fields.String(required=True)
    version = fields.String(required=True)
    title = fields.String(required=True)
    reference = fields.String(required=True)
    codes = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True),
                        required=True, metadata={
                            "description": "Each code with its title; null when the "
                                           "classification gives none in this language (an "
                                           "official French title not found)"})


class NamesSchema(Strict):
    classifications = fields.List(fields.Nested(ClassificationNamesSchema), required=True)
    values = fields.Dict(keys=fields.String(), values=fields.Dict(
        keys=fields.String(), values=fields.String()), required=True, metadata={
            "description": "Fact path -> enum value -> its words"})


class BucketSchema(Strict):
    title = fields.String()
    cap = fields.Integer()
    max = fields.Integer()
    reference = fields.String()
    buckets = fields.Dict(keys=fields.String(), values=fields.Nested(lambda: BucketSchema()))


class RuleSchema(Strict):
    id = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(["require", "award", "derive"]))
    title = fields.String(required=True)
    reference = fields.String(required=True)
    condition = fields.String(required=True, metadata={"description": "as written"})
    row = fields.String(metadata={"description": "table row this rule stands for"})
    award = fields.String()
    points = fields.Integer()
    derive = fields.String()
    value = any_value()
    because = fields.String()


class IncludeSchema(Strict):
    ruleset = fields.String(required=True)
    as_ = fields.String(data_key="as", attribute="as", required=True)


class OutcomeSchema(Strict):
    code = fields.String(required=True)
    title = fields.String(required=True)


class OutcomesSchema(Strict):
    met = fields.Nested(OutcomeSchema, required=True)
    not_met = fields.Nested(OutcomeSchema, required=True)


class VersionDetailSchema(VersionSummarySchema):
    id = fields.String(required=True)
    title = fields.String(required=True)
    description = fields.String(allow_none=True)
    reference = fields.String(required=True)
    includes = fields.List(fields.Nested(IncludeSchema), required=True)
    facts = fields.Dict(keys=fields.String(), values=fields.Nested(FactSpecSchema),
                        required=True, metadata={"description": "the facts contract"})
    derives = fields.Dict(keys=fields.String(), values=fields.Nested(DerivedSpecSchema))
    constants = fields.Dict(keys=fields.String(), values=fields.Nested(ConstantSchema))
    scores = fields.Dict(keys=fields.String(), values=fields.Nested(BucketSchema))
    rules = fields.List(fields.Nested(RuleSchema), required=True)
    outcome = fields.Nested(OutcomesSchema, required=True)


class RulesetDetailSchema(RulesetSummarySchema):
    description = fields.String(allow_none=True)
    reference = fields.String(required=True)
    current = fields.Nested(VersionDetailSchema, allow_none=True, required=True, metadata={
        "description": "the version in force today, or the next scheduled one"})


class RulesetIds(fields.String):
    """Ruleset ids separated by commas (``a.b,c-d``), read as a list."""

    def _deserialize(self, value, attr, data, **kwargs) -> list[str]:
        text = super()._deserialize(value, attr, data, **kwargs)
        ids = [part.strip() for part in text.split(",") if part.strip()]
        for ruleset_id in ids:
            ID(ruleset_id)
        return ids


class ReloadQuerySchema(Strict):
    remove = RulesetIds(validate=validate.Length(max=10_000), metadata={
        "description": "the rulesets in use that this reload takes out of service, separated "
                       "by commas: exactly those the folder no longer has. Without it, a "
                       "reload that would remove one is refused (409)",
        "example": "oinp.hcp.draw.tech-2019-07-12"})


class ReloadSchema(Strict):
    rulesets = fields.Integer(required=True)
    versions = fields.Integer(required=True)
    removed = fields.List(fields.String(), required=True, metadata={
        "description": "the rulesets this reload took out of service (as named in remove)"})
    workers_restarting = fields.Boolean(required=True)


# ---------------------------------------------------------------------------------- operations
class HealthSchema(Strict):
    status = fields.String(required=True)


class ReadySchema(Strict):
    status = fields.String(required=True)
    checks = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
