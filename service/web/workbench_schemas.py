"""marshmallow schemas of the workbench endpoints (``web.workbench_views``), in the conventions
of ``web.schemas``: requests reject unknown fields, responses dump only documented fields, and
they are the source of the OpenAPI document."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate

from ..errors import PLAIN_TEXT
from .schemas import ID, PLAIN, CalendarDate, Strict, any_value

STATE_LIST = ("draft", "submitted", "returned", "approved", "published", "refused")
VERSION = validate.Regexp(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,63}$",
                          error="letters, digits and . _ - only, at most 64")
TEXT_LIMIT = 1_000_000  # a ruleset file or a case file, whole (the body limit holds anyway)


def reason_field(**kwargs) -> fields.String:
    return fields.String(validate=[validate.Length(max=2000), PLAIN], **kwargs)


class CaseName(fields.Field):
    """A new case's name: the sentence in English, or ``{"en": ..., "fr": ...}`` (the French
    may be left out, to be written in the case file)."""

    ONE = {"type": "string", "minLength": 10, "maxLength": 500, "pattern": PLAIN_TEXT}

    def __init__(self, **kwargs):
        super().__init__(metadata={"oneOf": [self.ONE, {
            "type": "object", "required": ["en"], "additionalProperties": False,
            "properties": {"en": self.ONE, "fr": self.ONE}}],
            "description": "the case in one sentence: English, or English and French "
                           "({en, fr}); a case file names it so"}, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            return self._one(value)
        if not isinstance(value, dict):
            raise ValidationError("the sentence in English, or {en: ..., fr: ...}")
        unknown = sorted(set(value) - {"en", "fr"})
        if unknown:
            raise ValidationError(f"unknown language {', '.join(unknown)} (en and fr only)")
        if "en" not in value:
            raise ValidationError("name the case in English too (en); the French may be left "
                                  "to be written")
        return {lang: self._one(text) for lang, text in value.items()}

    @staticmethod
    def _one(text) -> str:
        if not isinstance(text, str):
            raise ValidationError("Not a valid string.")
        for check in (validate.Length(min=10, max=500), PLAIN):
            check(text)
        return text


# ------------------------------------------------------------------------------------ requests
class DraftCreateSchema(Strict):
    ruleset = fields.String(required=True, validate=[validate.Length(max=200), ID], metadata={
        "example": "express-entry.crs"})
    effective_from = CalendarDate(required=True, metadata={
        "description": "the first day the new version is in force", "example": "2027-01-01"})
    version = fields.String(validate=VERSION, metadata={
        "description": "the version name (default: the first day)"})
    reason = reason_field()
    path = fields.String(validate=[validate.Length(max=300), PLAIN], metadata={
        "description": "a new ruleset only: its folder and file stem, e.g. oinp/new-stream"})
    content = fields.String(validate=validate.Length(max=TEXT_LIMIT), metadata={
        "description": "a new ruleset only: its whole YAML text"})


class DraftSaveSchema(Strict):
    content = fields.String(validate=validate.Length(min=1, max=TEXT_LIMIT), metadata={
        "description": "the whole version file"})
    cases_content = fields.String(validate=validate.Length(max=TEXT_LIMIT), metadata={
        "description": "the whole case file"})
    fields_ = fields.Dict(data_key="fields", keys=fields.String(validate=validate.Length(
        max=300)), values=fields.String(validate=validate.Length(max=100_000)), metadata={
        "description": "form values by key (GET the draft: `form`), written into the text"})
    reason = reason_field()


class DraftQuerySchema(Strict):
    state = fields.String(validate=validate.OneOf(STATE_LIST))


class TryRequestSchema(Strict):
    facts = fields.Dict(keys=fields.String(), values=any_value(), required=True)
    as_of = CalendarDate(required=True)


class CaseRequestSchema(Strict):
    name = CaseName(required=True)
    facts = fields.Dict(keys=fields.String(), values=any_value(), required=True)
    as_of = CalendarDate(required=True)
    expect = fields.Dict(keys=fields.String(validate=validate.OneOf(
        ["outcome", "scores", "requirements", "fired", "not_fired", "derived"])),
        values=any_value(), required=True, validate=validate.Length(min=1), metadata={
            "description": "what the author states, as in a case file (docs/rulesets.md)"})
    replaces = fields.Integer(validate=validate.Range(min=0, max=100_000), metadata={
        "description": "the index of a case in the file that loses the day as_of"})
    reason = reason_field()


class ReasonSchema(Strict):
    reason = reason_field(required=True, metadata={"description": "why"})


class OptionalReasonSchema(Strict):
    reason = reason_field()


class ReviewSchema(Strict):
    decision = fields.String(required=True, validate=validate.OneOf(["approve", "return"]))
    comment = reason_field(load_default="")


class ImpactRequestSchema(Strict):
    pool = fields.Integer(load_default=0, validate=validate.Range(min=0, max=20_000), metadata={
        "description": "candidates of a pool generated as of the draft's first day"})
    log = fields.Integer(load_default=0, validate=validate.Range(min=0, max=2000), metadata={
        "description": "the latest logged decisions of the ruleset or of one that includes it "
                       "(role audit)"})
    stored_pool = fields.String(load_default=None, validate=[validate.Length(min=1, max=128),
                                                             PLAIN], metadata={
        "description": "a stored pool (`decisions pool store`; at most 20,000 candidates), "
                       "decided on the draft's first day: report `stored`"})


# ----------------------------------------------------------------------------------- responses
class DraftSummarySchema(Strict):
    draft_id = fields.String(required=True)
    ruleset = fields.String(required=True, attribute="ruleset_id")
    version = fields.String(required=True)
    effective_from = fields.String(required=True, metadata={"format": "date"})
    base_version = fields.String(allow_none=True)
    author = fields.String(required=True)
    state = fields.String(required=True, validate=validate.OneOf(STATE_LIST))
    checked_ok = fields.Boolean(required=True)
    created_at = fields.String(required=True)
    updated_at = fields.String(required=True)


class DraftListSchema(Strict):
    items = fields.List(fields.Nested(DraftSummarySchema), required=True)


class CheckProblemSchema(Strict):
    file = fields.String(required=True)
    line = fields.Integer(allow_none=True)
    key = fields.String(required=True)
    message = fields.String(required=True)
    text = fields.String(required=True, metadata={"description": "file:line: key: message"})
    in_draft = fields.String(allow_none=True, metadata={
        "description": "file or cases when it points into the draft's own files"})


class MismatchSchema(Strict):
    field = fields.String(required=True)
    expected = any_value()
    actual = any_value()


class CaseResultSchema(Strict):
    file = fields.String(required=True)
    line = fields.Integer(allow_none=True)
    name = fields.String(required=True, metadata={
        "description": "the case's name in English (with its day when it is decided on several)"})
    names = fields.Dict(keys=fields.String(validate=validate.OneOf(["en", "fr"])),
                        values=fields.String(), metadata={
        "description": "the name in each language the case file writes it in: en always, fr "
                       "unless the case is named in English only"})
    as_of = fields.String(allow_none=True, metadata={"description": "the day it was decided on"})
    passed = fields.Boolean(required=True)
    error = fields.String(allow_none=True)
    mismatches = fields.List(fields.Nested(MismatchSchema), required=True)


class CasesReportSchema(Strict):
    passed = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    mine = fields.String(required=True, metadata={"description": "RULESET VERSION of the draft"})
    mine_covered = fields.Boolean(required=True)
    results = fields.List(fields.Nested(CaseResultSchema), required=True)
    uncovered = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))
    never_failed = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class CheckSchema(Strict):
    ok = fields.Boolean(metadata={"description": "every file loads and the draft's cases pass "
                                                 "with every rule covered"})
    loads = fields.Boolean()
    checked_at = fields.String()
    problems = fields.List(fields.Nested(CheckProblemSchema))
    cases = fields.Nested(CasesReportSchema, allow_none=True)


class FormFieldSchema(Strict):
    key = fields.String(required=True)
    group = fields.String(required=True)
    kind = fields.String(required=True)
    value = fields.String(required=True)
    line = fields.Integer(required=True)
    label = fields.String(required=True)


class DiffSchema(Strict):
    file = fields.String(required=True)
    cases = fields.String(required=True)


class DraftSchema(DraftSummarySchema):
    path = fields.String(required=True)
    content = fields.String(required=True)
    cases_path = fields.String(allow_none=True)
    cases_content = fields.String(allow_none=True)
    check = fields.Nested(CheckSchema, required=True)
    base_changed = fields.List(fields.String(), required=True, metadata={
        "description": "why the draft must be brought up to date before it is published"})
    form = fields.List(fields.Nested(FormFieldSchema), required=True)
    diff = fields.Nested(DiffSchema, required=True)


class TrySideSchema(Strict):
    decision = fields.Dict(keys=fields.String(), values=any_value(), metadata={
        "description": "the explained decision (as POST /v1/decisions answers, not logged)"})
    problem = fields.Dict(keys=fields.String(), values=any_value())


class TrySchema(Strict):
    draft = fields.Nested(TrySideSchema, required=True)
    in_force = fields.Nested(TrySideSchema, required=True)


class TrailRecordSchema(Strict):
    seq = fields.Integer(required=True)
    draft_id = fields.String(required=True)
    at = fields.String(required=True)
    actor = fields.String(required=True)
    action = fields.String(required=True)
    state = fields.String(required=True)
    reason = fields.String(required=True)
    ruleset = fields.String(required=True, attribute="ruleset_id")
    version = fields.String(required=True)
    content_sha256 = fields.String(required=True)
    prev_hash = fields.String(required=True)
    record_hash = fields.String(required=True)


class TrailSchema(Strict):
    items = fields.List(fields.Nested(TrailRecordSchema), required=True)


class ImpactRunSchema(Strict):
    run_id = fields.String(required=True)
    draft_id = fields.String(required=True)
    state = fields.String(required=True, metadata={"description": "running, done, failed, or "
                                                                  "stopped (the server stopped "
                                                                  "it: start another)"})
    done = fields.Integer(required=True)
    total = fields.Integer(required=True)
    started_at = fields.String(required=True)
    updated_at = fields.String(required=True)
    started_by = fields.String(required=True)
    report = fields.Dict(keys=fields.String(), values=any_value(), allow_none=True, metadata={
        "description": "by source (cases, pool, log): the impact as `decisions diff --json`"})
    problem = fields.String(allow_none=True)
