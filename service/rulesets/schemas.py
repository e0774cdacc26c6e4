"""The ruleset file format as marshmallow schemas, and their messages turned into problems with
file, line and key path (docs/rulesets.md describes the format)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from ..conditions import article
from ..errors import Problem, did_you_mean
from .yamlfile import dotted, line_of

LANGUAGES = ("en", "fr")
# An empty reference: said as what to do (a value without its source is not policy).
CITED = validate.Length(min=1, error="cite the source here: the address of the official text "
                                     "this comes from")
ID_PATTERN = r"^[a-z0-9]+(?:[.-][a-z0-9]+)*$"
NAME_PATTERN = r"^[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*$"


class Strict(Schema):
    class Meta:
        unknown = RAISE


class Text(fields.Field):
    """A text a person reads: ``{en: ..., fr: ...}``, both required and non-empty."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise ValidationError("must give the text in English and French: {en: ..., fr: ...}")
        missing = [lang for lang in LANGUAGES if not isinstance(value.get(lang), str)
                   or not value[lang].strip()]
        extra = sorted(set(value) - set(LANGUAGES))
        if missing or extra:
            parts = [f"missing the {', '.join(missing)} text"] if missing else []
            parts += [f"unknown language {', '.join(extra)}"] if extra else []
            raise ValidationError("; ".join(parts) + " (a text needs en and fr)")
        return {lang: value[lang].strip() for lang in LANGUAGES}


class Whole(fields.Integer):
    """A whole number written as one: ``points: "20"`` (a text) or ``true`` is refused, where
    marshmallow's Integer would take them."""

    def __init__(self, **kwargs):
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class Number(fields.Float):
    """A number written as one (a text such as ``"6.5"`` is refused)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class Scalar(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs):
        if value is not None and not isinstance(value, str | int | float | bool):
            raise ValidationError("must be a single value")
        return value


FACT_TYPES = ("string", "integer", "number", "boolean", "date", "datetime", "object", "list")
# The most items a list fact may hold (its max_length): every derive over it walks them all, for
# each decision.
MAX_LIST_LENGTH = 1000


class FactDefault(fields.Field):
    """A default: a single value, or (for a list fact) the empty list."""

    def _deserialize(self, value, attr, data, **kwargs):
        if value == [] and not isinstance(value, str):
            return []
        if value is not None and not isinstance(value, str | int | float | bool):
            raise ValidationError("must be a single value (or [] for a list)")
        return value


class FactSpecSchema(Strict):
    type = fields.String(required=True, validate=validate.OneOf(FACT_TYPES))
    title = Text()
    description = fields.String()
    required = fields.Boolean()
    nullable = fields.Boolean(load_default=False)
    default = FactDefault(allow_none=True)
    enum = fields.List(Scalar(), validate=validate.Length(min=1))
    min = Number()
    max = Number()
    pattern = fields.String()
    min_length = Whole(validate=validate.Range(min=0))
    max_length = Whole(validate=validate.Range(min=1))
    fields_ = fields.Dict(data_key="fields",
                          keys=fields.String(validate=validate.Regexp(r"^[a-z_][a-z0-9_]*$")),
                          values=fields.Nested(lambda: FactSpecSchema()))
    titles = fields.Dict(keys=fields.String(), values=Text())  # the words for each enum value
    codes = fields.Nested(lambda: CodesSchema())  # the classification its codes are titled in
    reference = fields.String(validate=CITED)  # the source of its titles

    @post_load
    def _rename(self, data, **kwargs):
        if "fields_" in data:
            data["fields"] = data.pop("fields_")
        return data

    @validates_schema
    def _check(self, data, **kwargs):
        kind = data["type"]
        if kind in ("object", "list") and not data.get("fields_"):
            raise ValidationError(f"{article(kind)} fact lists its fields"
                                  + (" (the fields of each item)" if kind == "list" else ""),
                                  "fields")
        if kind not in ("object", "list") and "fields_" in data:
            raise ValidationError("only an object or a list fact has fields", "fields")
        if kind == "list":
            if not 1 <= data.get("max_length", 0) <= MAX_LIST_LENGTH:
                raise ValidationError(f"a list fact gives its max_length, 1 to "
                                      f"{MAX_LIST_LENGTH} items", "max_length")
            if any(spec["type"] in ("object", "list") for spec in data["fields_"].values()):
                raise ValidationError("the fields of a list's items are single values",
                                      "fields")
            for key in ("enum", "min", "max", "pattern"):
                if key in data:
                    raise ValidationError(f"a list fact has no {key}: give it to a field",
                                          key)
        if data.get("default") == [] and kind != "list":
            raise ValidationError("only a list fact defaults to []", "default")
        if kind == "list" and "default" in data and data["default"] != []:
            raise ValidationError("a list fact defaults to [] or nothing", "default")
        if "pattern" in data:
            try:
                re.compile(data["pattern"])
            except re.error as exc:
                raise ValidationError(f"not a valid regular expression: {exc}", "pattern") from None
        if "min" in data and "max" in data and data["min"] > data["max"]:
            raise ValidationError("min is above max", "min")
        enum_titles_problems(data)


def enum_titles_problems(data: Mapping[str, Any]) -> None:
    """``titles`` gives the words for every value of ``enum``, and only for its values."""
    if "titles" not in data:
        return
    if not data.get("enum"):
        raise ValidationError("titles name the values of an enum: this fact has no enum",
                              "titles")
    values = [str(v) for v in data["enum"]]
    unknown = {key: [f"'{key}' is not a value of the enum{did_you_mean(key, values)}"]
               for key in data["titles"] if key not in values}
    if unknown:
        raise ValidationError(unknown, "titles")
    missing = [v for v in values if v not in data["titles"]]
    if missing:
        raise ValidationError("no title for " + ", ".join(f"'{v}'" for v in missing)
                              + " (titles give every value of the enum its words)", "titles")


class CodesSchema(Strict):
    """A fact that holds an occupation code says which classification titles it: always the
    same one (``{classification: noc-2021}``), or the one named for the value of the fact ``by``
    beside it (``{by: noc_version, classifications: {"2016": noc-2016, "2021": noc-2021}}``);
    checked at load against the loaded classifications."""

    classification = fields.String(validate=validate.Regexp(ID_PATTERN))
    by = fields.String(validate=validate.Regexp(r"^[a-z_][a-z0-9_]*$"))
    classifications = fields.Dict(keys=fields.String(),
                                  values=fields.String(validate=validate.Regexp(ID_PATTERN)),
                                  validate=validate.Length(min=1))

    @validates_schema
    def _one_way(self, data, **kwargs):
        if ("classification" in data) == ("by" in data or "classifications" in data):
            raise ValidationError("give either classification, or by with classifications",
                                  "classification")
        if ("by" in data) != ("classifications" in data):
            raise ValidationError("by and classifications go together", "by")


class DerivedSpecSchema(Strict):
    type = fields.String(required=True, validate=validate.OneOf(FACT_TYPES[:-2]))
    title = Text(required=True)
    enum = fields.List(Scalar(), validate=validate.Length(min=1))
    titles = fields.Dict(keys=fields.String(), values=Text())

    @validates_schema
    def _check(self, data, **kwargs):
        enum_titles_problems(data)


class IncludeSchema(Strict):
    ruleset = fields.String(required=True, validate=validate.Regexp(ID_PATTERN))
    as_ = fields.String(data_key="as", validate=validate.Regexp(r"^[a-z_][a-z0-9_]*$"))


class BucketSchema(Strict):
    title = Text(required=True)
    cap = Whole(validate=validate.Range(min=0))
    reference = fields.String()
    buckets = fields.Dict(keys=fields.String(validate=validate.Regexp(r"^[a-z_][a-z0-9_]*$")),
                          values=fields.Nested(lambda: BucketSchema()))


class AwardSchema(Strict):
    to = fields.String(required=True)
    points = Whole(required=True)


class WindowSchema(Strict):
    """The period of each item of a list (its start and end date fields) and the years, up to
    the decision date, in which it counts."""

    start = fields.String(required=True, validate=validate.Regexp(r"^[a-z_][a-z0-9_]*$"))
    end = fields.String(required=True, validate=validate.Regexp(r"^[a-z_][a-z0-9_]*$"))
    years = Whole(required=True, validate=validate.Range(min=1, max=50))


AGGREGATES = ("sum", "max", "count")


class DeriveSchema(Strict):
    fact = fields.String(required=True)
    value = Scalar(allow_none=True)
    expr = fields.String()
    # A number made of the items of a list fact (docs/rulesets.md, "Facts over lists").
    over = fields.String(validate=validate.Regexp(NAME_PATTERN))
    where = fields.String()
    window = fields.Nested(WindowSchema)
    sum = fields.String()
    max = fields.String()
    count = fields.Boolean(validate=validate.Equal(True))
    by = fields.String(validate=validate.Regexp(r"^[a-z_][a-z0-9_]*$"))

    @validates_schema
    def _one(self, data, **kwargs):
        if sum(k in data for k in ("value", "expr", "over")) != 1:
            raise ValidationError("give one of value, expr or over", "value")
        funcs = [k for k in AGGREGATES if k in data]
        if "over" in data and len(funcs) != 1:
            raise ValidationError("a derive over a list gives one of sum, max or count",
                                  "over")
        if "over" not in data:
            for key in ("where", "window", "by", *AGGREGATES):
                if key in data:
                    raise ValidationError(f"only a derive over a list has '{key}'", key)
        if "by" in data and "sum" not in data:
            raise ValidationError("'by' groups a sum: the largest total of one value", "by")


class RuleSchema(Strict):
    id = fields.String(required=True, validate=validate.Regexp(ID_PATTERN))
    title = Text(required=True)
    reference = fields.String(required=True, validate=CITED)
    note = fields.String()
    when = fields.String()
    require = fields.String()
    because = Text()
    award = fields.Nested(AwardSchema)
    derive = fields.Nested(DeriveSchema)

    @validates_schema
    def _one_effect(self, data, **kwargs):
        effects = [k for k in ("require", "award", "derive") if k in data]
        if len(effects) != 1:
            raise ValidationError("a rule does exactly one of require, award or derive",
                                  "require")
        if "require" in data and "when" in data:
            raise ValidationError("a requirement has no 'when': write it into 'require'", "when")
        if "because" in data and "require" not in data:
            raise ValidationError("only a requirement has a 'because'", "because")


class RowSchema(Strict):
    range = fields.List(Number(), validate=validate.Length(equal=2))
    at_least = Number()
    at_most = Number()
    equals = Scalar()
    in_ = fields.List(Scalar(), data_key="in", validate=validate.Length(min=1))
    points = Whole()
    value = Scalar(allow_none=True)
    reference = fields.String()
    note = fields.String()

    @validates_schema
    def _check(self, data, **kwargs):
        matches = [k for k in ("range", "at_least", "at_most", "equals", "in_") if k in data]
        if len(matches) != 1:
            raise ValidationError("a row matches by exactly one of range, at_least, at_most, "
                                  "equals or in", "range")
        if "range" in data and data["range"][0] > data["range"][1]:
            raise ValidationError("the low end of the range is above the high end", "range")


class TableSchema(Strict):
    id = fields.String(required=True, validate=validate.Regexp(ID_PATTERN))
    title = Text(required=True)
    reference = fields.String(required=True, validate=CITED)
    note = fields.String()
    when = fields.String()
    key = fields.Raw(required=True)
    award = fields.String()
    derive = fields.String()
    rows = fields.List(fields.Nested(RowSchema), required=True, validate=validate.Length(min=1))

    @validates_schema
    def _check(self, data, **kwargs):
        key = data["key"]
        if not (isinstance(key, str) or (isinstance(key, list) and key and all(
                isinstance(k, str) for k in key))):
            raise ValidationError("a fact name, or a list of fact names", "key")
        if ("award" in data) == ("derive" in data):
            raise ValidationError("a table either awards points or derives a fact", "award")
        wanted = "points" if "award" in data else "value"
        for i, row in enumerate(data["rows"]):
            if wanted not in row:
                raise ValidationError({i: {wanted: [f"each row of this table gives {wanted}"]}},
                                      "rows")


class OutcomeSchema(Strict):
    code = fields.String(required=True, validate=validate.Regexp(r"^[a-z_]+$"))
    title = Text(required=True)


class OutcomesSchema(Strict):
    met = fields.Nested(OutcomeSchema, required=True)
    not_met = fields.Nested(OutcomeSchema, required=True)
    # met when every requirement is met (the default), or when at least one is (a ruleset of
    # alternatives: the Express Entry categories a candidate is in)
    met_when = fields.String(load_default="all", validate=validate.OneOf(["all", "any"]))


UTC_SECOND = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"


class UtcSecond(fields.String):
    """A published date and time to the second, in UTC, written ``"2022-11-12T12:47:27Z"``
    (quoted: YAML would read it as a timestamp). Kept as that text, the form the candidate
    profile gives ``profile_submitted_at`` in (docs/rulesets.md, "Facts and contracts")."""

    def __init__(self, **kwargs):
        super().__init__(validate=validate.Regexp(
            UTC_SECOND, error="a date and time in UTC to the second, as "
                              "\"2022-11-12T12:47:27Z\""), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(f"no such date and time: {text}") from None
        return text


class PublishedRoundSchema(Strict):
    """What the government published of a round it held (IRCC's rounds page): its number,
    date and time, type, invitations, the score of the lowest-ranked candidate invited and
    the tie-break time. Data of the round, not criteria: the page shows it beside what a draw
    held here found, and the round's rules read the cutoff as constants (docs/draws.md)."""

    round = Whole(required=True, validate=validate.Range(min=1))
    time = UtcSecond(required=True)
    type = Text(required=True)
    invitations = Whole(required=True, validate=validate.Range(min=1))
    lowest_score = Whole(required=True, validate=validate.Range(min=0))
    tie_break = UtcSecond(required=True)
    reference = fields.String(required=True, validate=CITED)
    note = fields.String()


class DrawSchema(Strict):
    """The parameters of a draw (issue 7): a ruleset with ``draw`` defines one round of
    invitations; its rules are the draw's criteria. See docs/draws.md."""

    date = fields.Date(required=True)
    invitations = Whole(required=True, validate=validate.Range(min=1))
    validity_days = Whole(required=True, validate=validate.Range(min=1, max=3650))
    score = fields.String(load_default="crs", validate=validate.Regexp(r"^[a-z_][a-z0-9_]*$"))
    reference = fields.String(required=True, validate=CITED)
    note = fields.String()
    published = fields.Nested(PublishedRoundSchema)

    @validates_schema
    def _published_agrees(self, data, **kwargs):
        published = data.get("published")
        if not published:
            return
        if published["invitations"] != data["invitations"]:
            raise ValidationError({"invitations": [
                f"the round published {published['invitations']} invitations: a draw that "
                "reproduces it invites as many"]})
        if published["time"][:10] != data["date"].isoformat():
            raise ValidationError({"time": [
                f"the round was held on {published['time'][:10]}, not on the draw date "
                f"{data['date'].isoformat()}"]}, "published")
        if published["tie_break"] > published["time"]:
            raise ValidationError({"tie_break": [
                "the tie-break time comes after the round itself"]}, "published")


class RulesetSchema(Strict):
    id = fields.String(required=True, validate=validate.Regexp(ID_PATTERN))
    version = fields.String(required=True, validate=validate.Length(min=1, max=40))
    effective = fields.Nested(lambda: EffectiveSchema(), required=True)
    title = Text(required=True)
    description = Text()
    reference = fields.String(required=True, validate=CITED)
    contract = fields.String()
    facts = fields.Dict(keys=fields.String(validate=validate.Regexp(r"^[a-z_][a-z0-9_]*$")),
                        values=fields.Nested(FactSpecSchema), load_default=dict)
    derives = fields.Dict(keys=fields.String(validate=validate.Regexp(NAME_PATTERN)),
                          values=fields.Nested(DerivedSpecSchema), load_default=dict)
    includes = fields.List(fields.Nested(IncludeSchema), load_default=list)
    constants = fields.Dict(keys=fields.String(validate=validate.Regexp(r"^[a-z_][a-z0-9_]*$")),
                            values=fields.Raw(), load_default=dict)
    scores = fields.Dict(keys=fields.String(validate=validate.Regexp(r"^[a-z_][a-z0-9_]*$")),
                         values=fields.Nested(lambda: ScoreSchema()), load_default=dict)
    rules = fields.List(fields.Nested(RuleSchema), load_default=list)
    tables = fields.List(fields.Nested(TableSchema), load_default=list)
    outcome = fields.Nested(OutcomesSchema)
    draw = fields.Nested(DrawSchema)
    revoked = fields.Nested(lambda: RevokedSchema())
    corrects = fields.Nested(lambda: CorrectsSchema())
    cases = fields.String()

    @validates_schema
    def _revoked_has_no_rules(self, data, **kwargs):
        if "revoked" not in data:
            return
        for key in ("rules", "tables", "scores", "includes", "derives", "outcome", "draw"):
            if data.get(key):
                raise ValidationError("a revoked version decides nothing: it has no " + key,
                                      key)


class RevokedSchema(Strict):
    """The law that ended a program from this version's ``effective.from`` on: a decision as of
    that day or later gets the outcome ``revoked``, explained by ``because`` and cited."""

    title = Text(required=True)  # e.g. "Revoked by O. Reg. 47/26"
    because = Text(required=True)  # the why-not a person reads, naming the instrument
    reference = fields.String(required=True, validate=CITED)
    note = fields.String()


class CorrectsSchema(Strict):
    """This version replaces another version of the same ruleset over the same period because
    that one encoded the rules wrongly. Decisions as of a day in the period take the correction;
    a logged decision replays on the version it names, so the log keeps what was decided."""

    version = fields.String(required=True, validate=validate.Length(min=1, max=40))
    made = fields.Date(required=True)  # the day the correction was written
    because = Text(required=True)  # what was wrong, for the person who reads the ruleset


class EffectiveSchema(Strict):
    from_ = fields.Date(data_key="from", required=True)
    to = fields.Date()

    @validates_schema
    def _order(self, data, **kwargs):
        if "to" in data and data["to"] < data["from_"]:
            raise ValidationError("'to' is before 'from'", "to")


class ScoreSchema(BucketSchema):
    max = Whole(validate=validate.Range(min=0))


class CheckSchema(Strict):
    """A rule the facts of one profile must keep together (a second language that is the other
    official language, partner facts that agree): a profile that breaks it is refused (422)."""

    id = fields.String(required=True, validate=validate.Regexp(ID_PATTERN))
    # A check of each item of a list fact: ``require`` reads the item's fields (and ``as_of``),
    # ``field`` names one of them, and a broken item is refused at ``LIST.INDEX.FIELD``.
    each = fields.String(validate=validate.Regexp(NAME_PATTERN))
    field = fields.String(required=True, validate=validate.Regexp(NAME_PATTERN))
    require = fields.String(required=True)
    message = Text(required=True)
    reference = fields.String(required=True, validate=CITED)


class ContractSchema(Strict):
    id = fields.String(required=True, validate=validate.Regexp(ID_PATTERN))
    title = Text(required=True)
    reference = fields.String(required=True)
    facts = fields.Dict(keys=fields.String(validate=validate.Regexp(r"^[a-z_][a-z0-9_]*$")),
                        values=fields.Nested(FactSpecSchema), required=True)
    constants = fields.Dict(keys=fields.String(validate=validate.Regexp(r"^[a-z_][a-z0-9_]*$")),
                            values=fields.Raw(), load_default=dict)
    checks = fields.List(fields.Nested(CheckSchema), load_default=list)
    changes = fields.List(fields.Nested(lambda: ChangeSchema()), load_default=list)


class ChangeSchema(Strict):
    """A change of one fact that "what would change the outcome" may suggest (policy data,
    docs/what-would-change.md): which fact, when, how it moves, and its title in both languages.
    A fact no change names is never suggested. The fact, and the kind of move against the fact's
    type, are checked when the contract loads (``load._contract_changes``)."""

    id = fields.String(required=True, validate=validate.Regexp(ID_PATTERN))
    fact = fields.String(required=True, validate=validate.Regexp(NAME_PATTERN))
    title = Text(required=True)  # a noun phrase: "IELTS writing", "a provincial nomination"
    when = fields.String()  # a condition over the contract's facts, constants and as_of
    step = Number()  # up by this much each step, up to max
    max = Number()
    values = fields.List(Scalar(), validate=validate.Length(min=1))  # up through these, in order
    set = fields.Raw()  # this one value (true, a level, a stated profile)
    by = fields.String(validate=validate.Regexp(NAME_PATTERN))  # up by this derived fact
    note = fields.String()

    @validates_schema
    def _one_move(self, data, **kwargs):
        moves = [k for k in ("step", "values", "set", "by") if k in data]
        if len(moves) != 1:
            raise ValidationError("a change moves its fact by exactly one of step, values, set "
                                  "or by", "step")
        if "step" in data and data["step"] <= 0:
            raise ValidationError("a step moves a fact up: it is above 0", "step")
        if "max" in data and "step" not in data:
            raise ValidationError("only a change by step has a max", "max")


CODE_SHAPE = {4: r"^[0-9]{4}$", 5: r"^[0-9]{5}$"}


class CodeTitleSchema(Strict):
    """One code of a classification: its title as published, in English and French. The French
    is the official French title or absent: where no source read gives it, ``fr`` is left out
    and ``note`` says so (a person reading French then sees the code alone, never a
    translation of our own)."""

    en = fields.String(required=True, validate=validate.Length(min=1))
    fr = fields.String(validate=validate.Length(min=1))
    reference = fields.String(validate=validate.Length(min=1))  # when not the file's own
    note = fields.String()

    @validates_schema
    def _french_or_why_not(self, data, **kwargs):
        if "fr" not in data and "note" not in data:
            raise ValidationError("missing the fr title: give the official French title, or "
                                  "a note saying that no source read gives it", "fr")


class ClassificationSchema(Strict):
    """A classification's titles (``rulesets/classifications/*.yaml``): what a code means, in
    both languages, as the classification publishes it. Data for people: no rule reads it."""

    id = fields.String(required=True, validate=validate.Regexp(ID_PATTERN))
    title = Text(required=True)
    version = fields.String(required=True, validate=validate.Length(min=1, max=40))
    digits = Whole(required=True, validate=validate.OneOf(sorted(CODE_SHAPE)))
    reference = fields.String(required=True, validate=CITED)
    references = fields.Dict(keys=fields.String(validate=validate.OneOf(LANGUAGES)),
                             values=fields.String(validate=validate.Length(min=1)))
    note = fields.String()
    codes = fields.Dict(keys=fields.String(), values=fields.Nested(CodeTitleSchema),
                        required=True, validate=validate.Length(min=1))

    @validates_schema
    def _code_shape(self, data, **kwargs):
        shape = re.compile(CODE_SHAPE.get(data.get("digits"), r"^$"))
        wrong = {code: [f"a code of {data.get('id', 'this classification')} has "
                        f"{data.get('digits')} digits, written as text ('{code}' is not; "
                        "quote codes: 0213 unquoted is read as a number)"]
                 for code in data.get("codes") or {} if not shape.fullmatch(code)}
        if wrong:
            raise ValidationError(wrong, "codes")



def schema_problems(exc: ValidationError, schema: Schema, display: str,
                     lines: Mapping[tuple, int], data: Any = None) -> list[Problem]:
    """Flatten marshmallow's nested messages into problems with line and key path (items of a
    list named by id, given the file's ``data``)."""
    out: list[Problem] = []

    def walk(messages: Any, path: tuple, node_schema: Schema | None) -> None:
        if isinstance(messages, dict):
            for key, sub in messages.items():
                if key == "_schema":
                    walk(sub, path, None)
                    continue
                if isinstance(node_schema, _DictOf):
                    child = node_schema.inner
                    if isinstance(sub, dict) and set(sub) <= {"key", "value"}:
                        sub = [m for part in sub.values() for m in
                               (part if isinstance(part, list) else [part])]
                elif node_schema is not None and isinstance(key, str):
                    child = _nested_schema(node_schema.fields.get(_attr(node_schema, key)))
                else:
                    child = node_schema
                walk(sub, path + (key,), child)
            return
        for message in messages if isinstance(messages, list) else [messages]:
            if isinstance(message, dict):
                walk(message, path, node_schema)
                continue
            text = str(message)
            if text == "Unknown field." and node_schema is None:
                parent = _schema_at(schema, path[:-1])
                known = [f.data_key or n for n, f in parent.fields.items()] if parent else []
                text = f"unknown key '{path[-1]}'{did_you_mean(str(path[-1]), known)}"
            elif text == "Unknown field.":
                text = f"unknown key '{path[-1]}'"
            out.append(Problem(display, line_of(lines, path), dotted(path, data), _lower(text)))

    walk(exc.messages, (), schema)
    return out


def _lower(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


def _attr(schema: Schema, key: str) -> str:
    for name, fld in schema.fields.items():
        if (fld.data_key or name) == key:
            return name
    return key


def _nested_schema(fld: fields.Field | None) -> Schema | None:
    if isinstance(fld, fields.Nested):
        return fld.schema
    if isinstance(fld, fields.List):
        return _nested_schema(fld.inner)
    if isinstance(fld, fields.Dict) and fld.value_field is not None:
        return _DictOf(_nested_schema(fld.value_field))
    return None


class _DictOf:
    """Stands for 'a dict whose values follow this schema' while walking error messages."""

    def __init__(self, inner: Schema | None):
        self.inner = inner
        self.fields = {}


def _schema_at(schema: Any, path: tuple) -> Schema | None:
    node = schema
    for key in path:
        if node is None:
            return None
        if isinstance(node, _DictOf):
            node = node.inner
            continue
        if isinstance(key, int):
            continue
        node = _nested_schema(node.fields.get(_attr(node, key)))
    return node.inner if isinstance(node, _DictOf) else node
