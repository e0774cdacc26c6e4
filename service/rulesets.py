"""Ruleset files: load (safe YAML, duplicate keys rejected), validate (marshmallow), check names,
hash, and pick the version in force on a date. No Flask here: the core stands on its own.

Every problem is reported with file, line and key path, and a did-you-mean where a name is close
to a known one. A broken file never yields a half-loaded catalog: ``load_catalog`` either returns a
complete Catalog or raises RulesetError listing every problem it found.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from . import conditions as cond
from .errors import (
    ConditionError,
    FactsError,
    Problem,
    RulesetError,
    UnknownRulesetError,
    flatten_messages,
)

CASES_SUFFIX = ".cases.yaml"
CONTRACTS_DIR = "contracts"
LANGUAGES = ("en", "fr")
MAX_TABLE_ROWS = 64  # durable-rules fails with error 303 from about 70 range rows on one field
ID_PATTERN = r"^[a-z0-9]+(?:[.-][a-z0-9]+)*$"
NAME_PATTERN = r"^[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*$"


# ------------------------------------------------------------------------------------------ YAML
class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader; the tree is walked by hand to keep lines and catch duplicate keys."""


def load_yaml(path: Path, display: str) -> tuple[Any, dict[tuple, int]]:
    """Parse one YAML file safely. Returns the data and the line of every key path.

    Dates and times become ISO 8601 strings so that the data is plain JSON."""
    text = path.read_text(encoding="utf-8")
    lines: dict[tuple, int] = {}
    problems: list[Problem] = []
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        data = _convert(loader, root, (), lines, problems, display) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise RulesetError([Problem(display, mark.line + 1 if mark else None, "",
                                    f"not valid YAML: {exc.problem or exc.context}")]) from None
    finally:
        loader.dispose()
    if problems:
        raise RulesetError(problems)
    return data, lines


def _convert(loader: _Loader, node: yaml.Node, path: tuple, lines: dict, problems: list,
             display: str) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str | int | bool):
                problems.append(Problem(display, line, _dotted(path), "keys must be plain text"))
                continue
            key = str(key) if not isinstance(key, str) else key
            if key in result:
                problems.append(Problem(display, line, _dotted(path + (key,)),
                                        f"duplicate key '{key}' (first at line "
                                        f"{lines[path + (key,)]})"))
                continue
            lines[path + (key,)] = line
            result[key] = _convert(loader, value_node, path + (key,), lines, problems, display)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(loader, item, path + (i,), lines, problems, display)
                for i, item in enumerate(node.value)]
    value = loader.construct_object(node, deep=True)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def _dotted(path: Iterable) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line_of(lines: Mapping[tuple, int], path: tuple) -> int | None:
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())


def did_you_mean(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


# ----------------------------------------------------------------------------- marshmallow schemas
class _Strict(Schema):
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


class Scalar(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs):
        if value is not None and not isinstance(value, str | int | float | bool):
            raise ValidationError("must be a single value")
        return value


FACT_TYPES = ("string", "integer", "number", "boolean", "date", "datetime", "object")


class FactSpecSchema(_Strict):
    type = fields.String(required=True, validate=validate.OneOf(FACT_TYPES))
    title = Text()
    description = fields.String()
    required = fields.Boolean()
    nullable = fields.Boolean(load_default=False)
    default = Scalar(allow_none=True)
    enum = fields.List(Scalar(), validate=validate.Length(min=1))
    min = fields.Float()
    max = fields.Float()
    pattern = fields.String()
    min_length = fields.Integer(validate=validate.Range(min=0))
    max_length = fields.Integer(validate=validate.Range(min=1))
    fields_ = fields.Dict(data_key="fields",
                          keys=fields.String(validate=validate.Regexp(r"^[a-z_][a-z0-9_]*$")),
                          values=fields.Nested(lambda: FactSpecSchema()))

    @post_load
    def _rename(self, data, **kwargs):
        if "fields_" in data:
            data["fields"] = data.pop("fields_")
        return data

    @validates_schema
    def _check(self, data, **kwargs):
        if data["type"] == "object" and not data.get("fields_"):
            raise ValidationError("an object fact lists its fields", "fields")
        if data["type"] != "object" and "fields_" in data:
            raise ValidationError("only an object fact has fields", "fields")
        if "pattern" in data:
            try:
                re.compile(data["pattern"])
            except re.error as exc:
                raise ValidationError(f"not a valid regular expression: {exc}", "pattern") from None
        if "min" in data and "max" in data and data["min"] > data["max"]:
            raise ValidationError("min is above max", "min")


class DerivedSpecSchema(_Strict):
    type = fields.String(required=True, validate=validate.OneOf(FACT_TYPES[:-1]))
    title = Text(required=True)
    enum = fields.List(Scalar(), validate=validate.Length(min=1))


class IncludeSchema(_Strict):
    ruleset = fields.String(required=True, validate=validate.Regexp(ID_PATTERN))
    as_ = fields.String(data_key="as", validate=validate.Regexp(r"^[a-z_][a-z0-9_]*$"))


class BucketSchema(_Strict):
    title = Text(required=True)
    cap = fields.Integer(validate=validate.Range(min=0))
    reference = fields.String()
    buckets = fields.Dict(keys=fields.String(validate=validate.Regexp(r"^[a-z_][a-z0-9_]*$")),
                          values=fields.Nested(lambda: BucketSchema()))


class AwardSchema(_Strict):
    to = fields.String(required=True)
    points = fields.Integer(required=True)


class DeriveSchema(_Strict):
    fact = fields.String(required=True)
    value = Scalar(allow_none=True)
    expr = fields.String()

    @validates_schema
    def _one(self, data, **kwargs):
        if ("value" in data) == ("expr" in data):
            raise ValidationError("give either value or expr", "value")


class RuleSchema(_Strict):
    id = fields.String(required=True, validate=validate.Regexp(ID_PATTERN))
    title = Text(required=True)
    reference = fields.String(required=True, validate=validate.Length(min=1))
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


class RowSchema(_Strict):
    range = fields.List(fields.Float(), validate=validate.Length(equal=2))
    at_least = fields.Float()
    at_most = fields.Float()
    equals = Scalar()
    in_ = fields.List(Scalar(), data_key="in", validate=validate.Length(min=1))
    points = fields.Integer()
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


class TableSchema(_Strict):
    id = fields.String(required=True, validate=validate.Regexp(ID_PATTERN))
    title = Text(required=True)
    reference = fields.String(required=True, validate=validate.Length(min=1))
    note = fields.String()
    when = fields.String()
    key = fields.Raw(required=True)
    award = fields.String()
    derive = fields.String()
    rows = fields.List(fields.Nested(RowSchema), required=True,
                       validate=validate.Length(
                           min=1, max=MAX_TABLE_ROWS,
                           error=f"a table has 1 to {MAX_TABLE_ROWS} rows (durable-rules fails on"
                                 " longer tables of ranges on one fact): split it with 'when'"))

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


class OutcomeSchema(_Strict):
    code = fields.String(required=True, validate=validate.Regexp(r"^[a-z_]+$"))
    title = Text(required=True)


class OutcomesSchema(_Strict):
    met = fields.Nested(OutcomeSchema, required=True)
    not_met = fields.Nested(OutcomeSchema, required=True)


class DrawSchema(_Strict):
    """The parameters of a draw (issue 7): a ruleset with ``draw`` defines one round of
    invitations; its rules are the draw's criteria. See docs/draws.md."""

    date = fields.Date(required=True)
    invitations = fields.Integer(required=True, validate=validate.Range(min=1))
    validity_days = fields.Integer(required=True, validate=validate.Range(min=1, max=3650))
    score = fields.String(load_default="crs", validate=validate.Regexp(r"^[a-z_][a-z0-9_]*$"))
    reference = fields.String(required=True, validate=validate.Length(min=1))
    note = fields.String()


class RulesetSchema(_Strict):
    id = fields.String(required=True, validate=validate.Regexp(ID_PATTERN))
    version = fields.String(required=True, validate=validate.Length(min=1, max=40))
    effective = fields.Nested(lambda: EffectiveSchema(), required=True)
    title = Text(required=True)
    description = Text()
    reference = fields.String(required=True, validate=validate.Length(min=1))
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
    cases = fields.String()


class EffectiveSchema(_Strict):
    from_ = fields.Date(data_key="from", required=True)
    to = fields.Date()

    @validates_schema
    def _order(self, data, **kwargs):
        if "to" in data and data["to"] < data["from_"]:
            raise ValidationError("'to' is before 'from'", "to")


class ScoreSchema(BucketSchema):
    max = fields.Integer(validate=validate.Range(min=0))


class ContractSchema(_Strict):
    id = fields.String(required=True, validate=validate.Regexp(ID_PATTERN))
    title = Text(required=True)
    reference = fields.String(required=True)
    facts = fields.Dict(keys=fields.String(validate=validate.Regexp(r"^[a-z_][a-z0-9_]*$")),
                        values=fields.Nested(FactSpecSchema), required=True)



def _schema_problems(exc: ValidationError, schema: Schema, display: str,
                     lines: Mapping[tuple, int]) -> list[Problem]:
    """Flatten marshmallow's nested messages into problems with line and key path."""
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
            out.append(Problem(display, _line_of(lines, path), _dotted(path), _lower(text)))

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


# --------------------------------------------------------------------------------- loaded objects
@dataclass
class Rule:
    """One compiled unit the engine can fire: a rule, or one row of a table (for one key)."""

    id: str
    kind: str  # require, award or derive
    title: dict
    reference: str
    condition: Any  # NNF condition tree (when + row match, or require)
    source: str  # the condition as written, for pages
    points: int | None = None
    bucket: str | None = None
    fact: str | None = None
    value: Any = None
    expr: Any = None  # parsed value expression for derive
    because: dict | None = None
    table: str | None = None
    line: int | None = None
    reads: tuple = ()  # fact paths shown as "matched" in the explanation

    @property
    def key(self) -> str:
        """Unique within its version: the rule id, or for a row of a decision table, the row
        (``table#3``, or ``table#3@key`` when the table has several keys)."""
        return self.table or self.id


@dataclass
class RulesetVersion:
    id: str
    version: str
    effective_from: dt.date
    effective_to: dt.date | None
    title: dict
    description: dict | None
    reference: str
    path: str
    sha256: str
    facts: dict  # name -> fact spec (contract and own facts merged)
    derives: dict
    includes: list  # [(ruleset id, alias)]
    constants: dict  # name -> {"value", "reference"?}
    scores: dict
    rules: list[Rule]
    outcome: dict
    cases: str | None
    draw: dict | None = None  # draw parameters (date, invitations, validity_days, score...)
    raw: dict = field(repr=False, default_factory=dict)
    lines: dict = field(repr=False, default_factory=dict)
    canonical: str = field(repr=False, default="")  # its sha256 is ``sha256``

    def in_force_on(self, day: dt.date) -> bool:
        return self.effective_from <= day and (self.effective_to is None
                                               or day <= self.effective_to)

    def ref(self) -> dict:
        return {"id": self.id, "version": self.version, "sha256": self.sha256}

    @functools.cached_property
    def texts(self) -> dict[str, dict]:
        """What an explanation shows of each rule that the decision itself does not hold, by
        rule key (``Rule.key``): its title, reference and condition as written. A logged
        decision names rules by key; these texts are filled in when it is shown. Taken from
        the canonical content, exactly as for a version the decision log keeps."""
        return content_texts(self.canonical)

    def kept(self) -> dict[str, Any]:
        """This version as the decision log keeps it (``Store.keep_versions``)."""
        return {"sha256": self.sha256, "ruleset_id": self.id, "version": self.version,
                "content": self.canonical}

    @functools.cached_property
    def requirements(self) -> list[tuple[int, Rule]]:
        """The requirement rules with their index, in file order."""
        return [(i, r) for i, r in enumerate(self.rules) if r.kind == "require"]

    def logical_rules(self) -> list[str]:
        """Rule ids as a policy officer sees them (a table counts once per row)."""
        return list(dict.fromkeys(r.id for r in self.rules))


ASSESSED_OUTCOME = {  # a ruleset without requirements (a points grid, a conversion table)
    "met": {"code": "assessed", "title": {"en": "Assessed", "fr": "Évalué"}},
    "not_met": {"code": "assessed", "title": {"en": "Assessed", "fr": "Évalué"}},
}
DEFAULT_OUTCOME = {
    "met": {"code": "eligible", "title": {"en": "Eligible", "fr": "Admissible"}},
    "not_met": {"code": "not_eligible", "title": {"en": "Not eligible", "fr": "Non admissible"}},
}


def _flatten_facts(specs: Mapping[str, dict], prefix: str = "") -> dict[str, cond.Field]:
    out: dict[str, cond.Field] = {}
    for name, spec in specs.items():
        path = f"{prefix}{name}"
        out[path] = cond.Field(spec["type"], tuple(spec["enum"]) if spec.get("enum") else None)
        if spec["type"] == "object":
            out.update(_flatten_facts(spec["fields"], path + "."))
    return out


def bucket_paths(score: str, spec: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Every award target of a score: ``crs.core``, ``crs.transferability.education``..."""
    out = []
    for name, sub in (spec.get("buckets") or {}).items():
        path = f"{prefix or score}.{name}"
        out.append(path)
        out.extend(bucket_paths(score, sub, path))
    return out


def exported_names(version: RulesetVersion) -> dict[str, cond.Field]:
    """Facts a ruleset makes available to a ruleset that includes it (besides its inputs)."""
    out = {name: cond.Field(spec["type"], tuple(spec["enum"]) if spec.get("enum") else None)
           for name, spec in version.derives.items()}
    for score, spec in version.scores.items():  # the total and each top-level bucket
        out[f"scores.{score}.total"] = cond.Field("integer")
        for bucket in spec.get("buckets") or {}:
            out[f"scores.{score}.{bucket}"] = cond.Field("integer")
    return out


# ---------------------------------------------------------------------------------------- catalog
class Catalog:
    """Every loaded version of every ruleset, immutable once built."""

    def __init__(self, versions: Iterable[RulesetVersion], root: Path):
        self.root = root
        self._schemas: dict[tuple[str, str], Schema] = {}
        self._chains: dict[tuple, list] = {}
        self.by_id: dict[str, list[RulesetVersion]] = {}
        for v in sorted(versions, key=lambda v: (v.id, v.effective_from)):
            self.by_id.setdefault(v.id, []).append(v)
        self._by_sha256 = {v.sha256: v for v in self.all_versions()}

    def all_versions(self) -> list[RulesetVersion]:
        return [v for vs in self.by_id.values() for v in vs]

    def by_sha256(self, sha256: str) -> RulesetVersion | None:
        """The loaded version with exactly this content, if any."""
        return self._by_sha256.get(sha256)

    def ids(self) -> list[str]:
        return sorted(self.by_id)

    def versions(self, ruleset_id: str) -> list[RulesetVersion]:
        if ruleset_id not in self.by_id:
            raise UnknownRulesetError(f"no ruleset '{ruleset_id}'"
                                      f"{did_you_mean(ruleset_id, self.by_id)}")
        return self.by_id[ruleset_id]

    def version(self, ruleset_id: str, version: str) -> RulesetVersion:
        for v in self.versions(ruleset_id):
            if v.version == version:
                return v
        raise UnknownRulesetError(f"ruleset '{ruleset_id}' has no version '{version}'")

    def in_force(self, ruleset_id: str, day: dt.date) -> RulesetVersion:
        """The version in force on ``day``: the latest ``from`` on or before it, not expired."""
        candidates = [v for v in self.versions(ruleset_id) if v.in_force_on(day)]
        if not candidates:
            raise UnknownRulesetError(f"no version of '{ruleset_id}' is in force on {day}")
        return max(candidates, key=lambda v: v.effective_from)

    def chain(self, top: RulesetVersion, day: dt.date,
              pinned: Mapping[str, str] | None = None) -> list[tuple[str, RulesetVersion]]:
        """The versions one decision evaluates, included ones first: [(alias, version)].

        ``pinned`` maps ruleset ids to versions (replay); others are picked by ``day``."""
        key = (top.id, top.version, day, tuple(sorted(pinned.items())) if pinned else ())
        cached = self._chains.get(key)
        if cached is not None:
            return cached
        order: list[tuple[str, RulesetVersion]] = []
        seen: set[str] = set()

        def visit(v: RulesetVersion, alias: str) -> None:
            if v.id in seen:
                return
            seen.add(v.id)
            for inc_id, inc_alias in v.includes:
                if pinned and inc_id in pinned:
                    visit(self.version(inc_id, pinned[inc_id]), inc_alias)
                else:
                    visit(self.in_force(inc_id, day), inc_alias)
            order.append((alias, v))

        visit(top, default_alias(top.id))
        if len(self._chains) < 10_000:  # a catalog is immutable: the chain for a day is fixed
            self._chains[key] = order
        return order

    def facts_for(self, top: RulesetVersion) -> dict:
        """The facts contract of a ruleset and everything it includes (any version)."""
        merged: dict = {}
        for v in self._closure(top):
            merged.update(v.facts)
        return merged

    def validate(self, top: RulesetVersion, facts: Any) -> dict:
        """Check caller facts against the contract of ``top`` and what it includes."""
        key = (top.id, top.version)
        schema = self._schemas.get(key)
        if schema is None:  # built once per version: building a schema costs ~1 ms
            schema = self._schemas[key] = facts_schema(self.facts_for(top))
        return validate_facts(schema, facts)

    def chain_ids(self, top: RulesetVersion) -> set[str]:
        """Ids of a ruleset and of everything it includes, directly or not."""
        return {v.id for v in self._closure(top)}

    def _closure(self, top: RulesetVersion) -> list[RulesetVersion]:
        out, stack, seen = [], [top], set()
        while stack:
            v = stack.pop()
            if (v.id, v.version) in seen:
                continue
            seen.add((v.id, v.version))
            out.append(v)
            for inc_id, _ in v.includes:
                stack.extend(self.by_id.get(inc_id, []))
        return out


def default_alias(ruleset_id: str) -> str:
    return ruleset_id.rsplit(".", 1)[-1].replace("-", "_")


# ---------------------------------------------------------------------------------------- loading
def load_catalog(root: str | Path) -> Catalog:
    """Load and check every ruleset under ``root``. Raises RulesetError with every problem."""
    root = Path(root)
    if not root.is_dir():
        raise RulesetError([Problem(str(root), None, "", "no such ruleset folder")])
    problems: list[Problem] = []
    contracts: dict[str, tuple[dict, str]] = {}
    for path in sorted((root / CONTRACTS_DIR).glob("*.yaml")):
        try:
            data, lines = load_yaml(path, _display(path, root))
            contract = ContractSchema().load(data if isinstance(data, dict) else {})
            contracts[contract["id"]] = (contract, _display(path, root))
        except RulesetError as exc:
            problems.extend(exc.problems)
        except ValidationError as exc:
            problems.extend(_schema_problems(exc, ContractSchema(), _display(path, root), lines))

    parsed: list[tuple[dict, dict, str, str]] = []
    for path in sorted(root.rglob("*.yaml")):
        if path.name.endswith(CASES_SUFFIX) or path.parent == root / CONTRACTS_DIR:
            continue
        display = _display(path, root)
        try:
            data, lines = load_yaml(path, display)
        except RulesetError as exc:
            problems.extend(exc.problems)
            continue
        if not isinstance(data, dict):
            problems.append(Problem(display, 1, "", "a ruleset file is a mapping of keys"))
            continue
        try:
            loaded = RulesetSchema().load(data)
        except ValidationError as exc:
            problems.extend(_schema_problems(exc, RulesetSchema(), display, lines))
            continue
        parsed.append((loaded, lines, display, _canonical(data, contracts, loaded)))

    # Versions of one id must not overlap in their `from` dates, and versions are unique.
    seen: dict[tuple[str, str], str] = {}
    for loaded, lines, display, _ in parsed:
        key = (loaded["id"], loaded["version"])
        if key in seen:
            problems.append(Problem(display, lines.get(("version",)), "version",
                                    f"{key[0]} version {key[1]} is also defined in {seen[key]}"))
        seen[key] = display
    starts: dict[tuple[str, dt.date], str] = {}
    for loaded, lines, display, _ in parsed:
        key = (loaded["id"], loaded["effective"]["from_"])
        if key in starts and starts[key] != display:
            problems.append(Problem(display, lines.get(("effective", "from")), "effective.from",
                                    f"another version of {key[0]} ({starts[key]}) starts on the "
                                    f"same day"))
        starts.setdefault(key, display)

    shells = []
    for loaded, lines, display, canonical in parsed:
        try:
            shells.append(_shell(loaded, lines, display, canonical, contracts))
        except RulesetError as exc:
            problems.extend(exc.problems)
    by_id: dict[str, list[RulesetVersion]] = {}
    for v in shells:
        by_id.setdefault(v.id, []).append(v)

    versions = []
    for v in shells:
        try:
            _check_includes(v, by_id)
            _compile_rules(v, by_id)
            versions.append(v)
        except RulesetError as exc:
            problems.extend(exc.problems)
    if problems:
        raise RulesetError(sorted(set(problems), key=lambda p: (p.file, p.line or 0, p.key)))
    return Catalog(versions, root)


def _display(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root.parent))
    except ValueError:
        return str(path)


def _canonical(data: dict, contracts: Mapping[str, tuple[dict, str]], loaded: dict) -> str:
    """The canonical JSON of the file's content (and of the contract it names): comments and
    formatting do not change it, any change of meaning does. Its sha256 identifies the version;
    the decision log keeps it (``RulesetVersion.canonical``)."""
    content = {"ruleset": data}
    if loaded.get("contract") in contracts:
        content["contract"] = contracts[loaded["contract"]][0]
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)


def _shell(loaded: dict, lines: dict, display: str, canonical: str,
           contracts: Mapping[str, tuple[dict, str]]) -> RulesetVersion:
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    facts: dict = {}
    if "contract" in loaded:
        name = loaded["contract"]
        if name not in contracts:
            raise RulesetError([Problem(display, lines.get(("contract",)), "contract",
                                        f"no contract '{name}' in {CONTRACTS_DIR}/"
                                        f"{did_you_mean(name, contracts)}")])
        facts.update(contracts[name][0]["facts"])
    for name, spec in loaded["facts"].items():
        if name in facts:
            raise RulesetError([Problem(display, lines.get(("facts", name)), f"facts.{name}",
                                        "already declared by the contract")])
        facts[name] = spec
    constants = {}
    for name, raw in loaded["constants"].items():
        if isinstance(raw, dict) and "value" in raw:
            extra = set(raw) - {"value", "reference", "title", "note"}
            if extra:
                raise RulesetError([Problem(display, lines.get(("constants", name)),
                                            f"constants.{name}",
                                            f"unknown key '{sorted(extra)[0]}' (value, reference,"
                                            " title, note)")])
            constants[name] = dict(raw)
        else:
            constants[name] = {"value": raw}
    return RulesetVersion(
        id=loaded["id"], version=loaded["version"],
        effective_from=loaded["effective"]["from_"], effective_to=loaded["effective"].get("to"),
        title=loaded["title"], description=loaded.get("description"),
        reference=loaded["reference"], path=display, sha256=digest, facts=facts,
        derives=loaded["derives"],
        includes=[(i["ruleset"], i.get("as_") or default_alias(i["ruleset"]))
                  for i in loaded["includes"]],
        constants=constants, scores=loaded["scores"], rules=[],
        outcome=loaded.get("outcome") or (DEFAULT_OUTCOME if any(
            "require" in r for r in loaded["rules"]) else ASSESSED_OUTCOME),
        cases=loaded.get("cases"), draw=loaded.get("draw"),
        raw=loaded, lines=lines, canonical=canonical)


def _check_includes(v: RulesetVersion, by_id: Mapping[str, list[RulesetVersion]]) -> None:
    problems = []
    for i, (inc_id, _alias) in enumerate(v.includes):
        if inc_id not in by_id:
            problems.append(Problem(v.path, v.lines.get(("includes", i)), f"includes[{i}].ruleset",
                                    f"no ruleset '{inc_id}'{did_you_mean(inc_id, by_id)}"))
    # A cycle through includes would make a decision chain without end.
    stack = [(inc, (v.id,)) for inc, _ in v.includes]
    while stack:
        inc, trail = stack.pop()
        if inc == v.id:
            problems.append(Problem(v.path, v.lines.get(("includes",)), "includes",
                                    "includes itself: " + " -> ".join(trail + (inc,))))
            break
        if inc in trail:
            continue
        for other in by_id.get(inc, []):
            stack.extend((n, trail + (inc,)) for n, _ in other.includes)
    if problems:
        raise RulesetError(problems)


def _names_for(v: RulesetVersion, by_id: Mapping[str, list[RulesetVersion]]) -> cond.Names:
    facts = _flatten_facts(v.facts)
    seen, stack = set(), [v]
    while stack:  # everything included, directly or not, with its inputs and exports
        cur = stack.pop()
        for inc_id, alias in cur.includes:
            facts[f"{alias}.met"] = cond.Field("boolean")
            facts[f"{alias}.outcome"] = cond.Field("string")
            for other in by_id.get(inc_id, []):
                if (other.id, other.version) in seen:
                    continue
                seen.add((other.id, other.version))
                facts.update(_flatten_facts(other.facts))
                facts.update(exported_names(other))
                stack.append(other)
    facts.update({name: cond.Field(spec["type"], tuple(spec["enum"]) if spec.get("enum")
                                   else None) for name, spec in v.derives.items()})
    return cond.Names(facts, {n: c["value"] for n, c in v.constants.items()})


def _compile_rules(v: RulesetVersion, by_id: Mapping[str, list[RulesetVersion]]) -> None:
    """Parse every condition and expand tables into rules; collect every problem."""
    names = _names_for(v, by_id)
    targets = [p for score, spec in v.scores.items() for p in bucket_paths(score, spec)]
    leaf_targets = [t for t in targets if not any(o.startswith(t + ".") for o in targets)]
    problems: list[Problem] = []
    ids: dict[str, int | None] = {}

    def problem(path: tuple, message: str) -> None:
        problems.append(Problem(v.path, _line_of(v.lines, path), _dotted(path), message))

    def parse(text: str, path: tuple, value: bool = False) -> Any:
        try:
            tree = (cond.parse_value if value else cond.parse)(text, names)
            return tree if value else cond.nnf(tree)
        except ConditionError as exc:
            problem(path, exc.detail)
            return None

    def check_id(rule_id: str, path: tuple) -> None:
        if rule_id in ids:
            problem(path, f"rule id '{rule_id}' is used twice (also at line {ids[rule_id]})")
        ids[rule_id] = _line_of(v.lines, path)

    def check_target(kind: str, target: str, path: tuple) -> bool:
        if kind == "award" and target not in leaf_targets:
            hint = did_you_mean(target, leaf_targets)
            problem(path, f"no score bucket '{target}' to award to{hint}" if hint else
                    f"no score bucket '{target}' to award to (buckets: "
                    f"{', '.join(leaf_targets) or 'none declared under scores'})")
            return False
        if kind == "derive" and target not in v.derives:
            problem(path, f"'{target}' is not declared under derives"
                          f"{did_you_mean(target, v.derives)}")
            return False
        return True

    for i, raw in enumerate(v.raw["rules"]):
        base = ("rules", i)
        check_id(raw["id"], base + ("id",))
        common = dict(id=raw["id"], title=raw["title"], reference=raw["reference"],
                      line=_line_of(v.lines, base))
        if "require" in raw:
            tree = parse(raw["require"], base + ("require",))
            if tree is not None:
                v.rules.append(Rule(kind="require", condition=tree, source=raw["require"],
                                    because=raw.get("because"), reads=tuple(cond.paths(tree)),
                                    **common))
            continue
        when = parse(raw["when"], base + ("when",)) if "when" in raw else cond.TRUE
        if when is None:
            continue
        reads = tuple(cond.paths(when))
        if "award" in raw:
            if check_target("award", raw["award"]["to"], base + ("award", "to")):
                v.rules.append(Rule(kind="award", condition=when, source=raw.get("when", "true"),
                                    points=raw["award"]["points"], bucket=raw["award"]["to"],
                                    reads=reads, **common))
            continue
        derive = raw["derive"]
        if not check_target("derive", derive["fact"], base + ("derive", "fact")):
            continue
        expr = None
        if "expr" in derive:
            expr = parse(derive["expr"], base + ("derive", "expr"), value=True)
            if expr is None:
                continue
            reads = tuple(dict.fromkeys(reads + tuple(cond.paths(expr))))
        v.rules.append(Rule(kind="derive", condition=when, source=raw.get("when", "true"),
                            fact=derive["fact"], value=derive.get("value"), expr=expr,
                            reads=reads, **common))

    for i, raw in enumerate(v.raw["tables"]):
        base = ("tables", i)
        check_id(raw["id"], base + ("id",))
        kind = "award" if "award" in raw else "derive"
        if not check_target(kind, raw[kind], base + (kind,)):
            continue
        when = parse(raw["when"], base + ("when",)) if "when" in raw else cond.TRUE
        keys = _table_keys(raw)
        for k, key in enumerate(keys):
            key_path = base + ("key",) if isinstance(raw["key"], str) else base + ("key", k)
            if key not in names.facts:
                problem(key_path, f"unknown fact '{key}'{names.suggest(key)}")
                continue
            for r, row in enumerate(raw["rows"]):
                row_tree = _row_condition(key, row, names, v.path, _line_of(
                    v.lines, base + ("rows", r)), _dotted(base + ("rows", r)), problems)
                if row_tree is None or when is None:
                    continue
                v.rules.append(Rule(
                    id=raw["id"], kind=kind, title=raw["title"],
                    reference=row.get("reference", raw["reference"]),
                    condition=cond.nnf(cond.All((when, row_tree))),
                    source=_table_row_source(raw, key, row),
                    points=row.get("points"), bucket=raw.get("award"), fact=raw.get("derive"),
                    value=row.get("value"), table=_table_row_key(raw, r, key, keys),
                    line=_line_of(v.lines, base + ("rows", r)),
                    reads=tuple(dict.fromkeys(cond.paths(when) + [key]))))
        _check_overlaps(raw, keys, v, base, problem)
    if problems:
        raise RulesetError(problems)


def _row_condition(key: str, row: dict, names: cond.Names, file: str, line: int | None,
                   where: str, problems: list[Problem]) -> Any:
    field_ = names.facts[key]
    if "range" in row:
        lo, hi = row["range"]
        atoms = (cond.Atom(key, ">=", lo), cond.Atom(key, "<=", hi))
    elif "at_least" in row:
        atoms = (cond.Atom(key, ">=", row["at_least"]),)
    elif "at_most" in row:
        atoms = (cond.Atom(key, "<=", row["at_most"]),)
    elif "equals" in row:
        atoms = (cond.Atom(key, "==", row["equals"]),)
    else:
        atoms = (cond.Atom(key, "in", tuple(row["in_"])),)
    for atom in atoms:
        message = cond.check_atom(atom, field_)
        if message:
            problems.append(Problem(file, line, where, message))
            return None
    return atoms[0] if len(atoms) == 1 else cond.All(atoms)


def content_texts(canonical: str) -> dict[str, dict]:
    """The rule texts (``rule_texts``) of a version from its canonical JSON, the content the
    decision log keeps and hashes: so the texts shown with a logged decision are derived from
    verified content, never stored beside it."""
    return rule_texts(RulesetSchema().load(json.loads(canonical)["ruleset"]))


def rule_texts(ruleset: Mapping[str, Any]) -> dict[str, dict]:
    """Title, reference and condition as written of each rule of a ruleset file (as
    RulesetSchema loads it), by rule key: the rule id, or for a table row its key (the same
    helpers build ``Rule.table`` and ``Rule.source`` in _compile_rules)."""
    texts = {}
    for raw in ruleset["rules"]:
        condition = raw["require"] if "require" in raw else raw.get("when", "true")
        texts[raw["id"]] = {"title": raw["title"], "reference": raw["reference"],
                            "condition": condition}
    for raw in ruleset["tables"]:
        keys = _table_keys(raw)
        for key in keys:
            for r, row in enumerate(raw["rows"]):
                texts[_table_row_key(raw, r, key, keys)] = {
                    "title": raw["title"], "reference": row.get("reference", raw["reference"]),
                    "condition": _table_row_source(raw, key, row)}
    return texts


def _table_keys(raw: Mapping[str, Any]) -> list[str]:
    return [raw["key"]] if isinstance(raw["key"], str) else raw["key"]


def _table_row_key(raw: Mapping[str, Any], r: int, key: str, keys: list[str]) -> str:
    return f"{raw['id']}#{r + 1}" + (f"@{key}" if len(keys) > 1 else "")


def _table_row_source(raw: Mapping[str, Any], key: str, row: dict) -> str:
    source = _row_source(key, row)
    return f"{raw['when']} and {source}" if "when" in raw else source


def _row_source(key: str, row: dict) -> str:
    if "range" in row:
        return f"{row['range'][0]} <= {key} <= {row['range'][1]}"
    if "at_least" in row:
        return f"{key} >= {row['at_least']}"
    if "at_most" in row:
        return f"{key} <= {row['at_most']}"
    if "equals" in row:
        return f"{key} == {row['equals']!r}"
    return f"{key} in {row['in_']!r}"


def _check_overlaps(raw: dict, keys: list, v: RulesetVersion, base: tuple, problem) -> None:
    """Two rows of one table that can match the same value would award or derive twice."""
    spans = []
    for r, row in enumerate(raw["rows"]):
        if "range" in row:
            spans.append((row["range"][0], row["range"][1], r))
        elif "at_least" in row:
            spans.append((row["at_least"], float("inf"), r))
        elif "at_most" in row:
            spans.append((float("-inf"), row["at_most"], r))
        elif "equals" in row and isinstance(row["equals"], int | float) \
                and not isinstance(row["equals"], bool):
            spans.append((row["equals"], row["equals"], r))
    spans.sort()
    for (_lo1, hi1, r1), (lo2, _hi2, r2) in zip(spans, spans[1:], strict=False):
        if lo2 <= hi1:
            problem(base + ("rows", r2), f"overlaps row {r1 + 1}: one value would match both")
    seen: dict[Any, int] = {}
    for r, row in enumerate(raw["rows"]):
        for value in ([row["equals"]] if "equals" in row and not isinstance(
                row["equals"], int | float) else row.get("in_", [])):
            if value in seen:
                problem(base + ("rows", r), f"{value!r} is also matched by row {seen[value] + 1}")
            seen[value] = r


# ------------------------------------------------------------------------------------ facts input
def facts_schema(specs: Mapping[str, dict]) -> Schema:
    """A marshmallow schema for a facts contract: unknown fields, wrong types and out-of-range
    values are rejected with the field path."""
    return Schema.from_dict({name: _fact_field(spec) for name, spec in specs.items()},
                            name="Facts")(unknown=RAISE)


class _StrictBool(fields.Boolean):
    truthy = {True}
    falsy = {False}


class _IsoDateTime(fields.AwareDateTime):
    def _deserialize(self, value, attr, data, **kwargs):
        parsed = super()._deserialize(value, attr, data, **kwargs)
        return parsed.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


class _IsoDate(fields.Date):
    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).isoformat()


class _Number(fields.Float):
    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError("Not a valid number.")
        return super()._deserialize(value, attr, data, **kwargs) if isinstance(value, float) \
            else value


class _Str(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError("Not a valid string.")
        return value


def _fact_field(spec: Mapping[str, Any]) -> fields.Field:
    checks = []
    kind = spec["type"]
    if spec.get("enum"):
        checks.append(validate.OneOf(spec["enum"]))
    if "min" in spec or "max" in spec:
        checks.append(validate.Range(min=spec.get("min"), max=spec.get("max")))
    if "pattern" in spec:
        checks.append(validate.Regexp(spec["pattern"]))
    if "min_length" in spec or "max_length" in spec:
        checks.append(validate.Length(min=spec.get("min_length"), max=spec.get("max_length")))
    options: dict[str, Any] = {"validate": checks, "allow_none": spec.get("nullable", False)}
    if "default" in spec:
        options["load_default"] = spec["default"]
    elif spec.get("required", True):
        options["required"] = True
    elif spec.get("nullable"):
        options["load_default"] = None
    if kind == "object":
        inner = facts_schema(spec["fields"])
        return fields.Nested(inner, **options)
    return {"string": _Str, "integer": fields.Integer, "number": _Number,
            "boolean": _StrictBool, "date": _IsoDate, "datetime": _IsoDateTime}[kind](
        **({"strict": True} if kind == "integer" else {}), **options)


def validate_facts(contract: Mapping[str, dict] | Schema, facts: Any) -> dict:
    """Check caller facts against a contract (its specs or its schema); FactsError maps each field
    path to its messages."""
    if not isinstance(facts, dict):
        raise FactsError("facts must be an object", errors={"facts": ["must be an object"]})
    schema = contract if isinstance(contract, Schema) else facts_schema(contract)
    try:
        return schema.load(facts)
    except ValidationError as exc:
        errors = flatten_messages(exc.messages, root="facts")
        raise FactsError("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()),
                         errors=errors) from None
