"""Facts contracts: the marshmallow schema of a contract's facts, and the check of a caller's facts
against it (FactsError maps each field path to its messages)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from ..errors import FactsError, flatten_messages


def facts_schema(specs: Mapping[str, dict]) -> Schema:
    """A marshmallow schema for a facts contract: unknown fields, wrong types and out-of-range
    values are rejected with the field path."""
    return Schema.from_dict({name: _fact_field(spec) for name, spec in specs.items()},
                            name="Facts")(unknown=RAISE)


class _StrictBool(fields.Boolean):
    truthy = {True}
    falsy = {False}


# Control characters (Unicode category Cc: C0, DEL and C1). No fact of a candidate's profile
# holds one, and one is how a value slips past a check it seems to pass ("2173\n" read as a
# NOC); the log would keep it, and the engine would compare it with its own string rules.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _no_control_characters(value: str) -> str:
    found = _CONTROL.search(value)
    if found:
        raise ValidationError(f"Control characters are not allowed (U+{ord(found.group()):04X} "
                              f"at position {found.start()}).")
    return value


class _FullMatch(validate.Regexp):
    """A contract's ``pattern`` matches the whole string. marshmallow's Regexp uses re.match,
    whose ``$`` also matches before a trailing newline: ``^[0-9]{4}$`` let "2173\n" through, and
    it was decided unlike "2173"."""

    def __call__(self, value):
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


class _IsoDateTime(fields.AwareDateTime):
    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):  # fromisoformat takes "2019-06-30T14:05:00\nZ"
            _no_control_characters(value)
        parsed = super()._deserialize(value, attr, data, **kwargs)
        return parsed.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


class _IsoDate(fields.Date):
    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            _no_control_characters(value)
        return super()._deserialize(value, attr, data, **kwargs).isoformat()


# The whole numbers a double holds exactly. An integer fact stays within them: the engine
# compares an integer with a decimal threshold as doubles (C converts it), the explanation in
# Python compares exactly, and past 2**53 the two can disagree; JSON readers elsewhere (I-JSON,
# RFC 7493) keep only these exact too.
SAFE_INTEGER = 2**53 - 1


class _Integer(fields.Integer):
    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if not -SAFE_INTEGER <= value <= SAFE_INTEGER:
            raise ValidationError(f"Must be a whole number from -{SAFE_INTEGER} to "
                                  f"{SAFE_INTEGER}.")
        return value


class _Number(fields.Float):
    """A double (IEEE 754 binary64): any finite value, about 15 significant digits, in any JSON
    form (``1e-7``, ``2.5E+3``); the engine is given each in a form it reads as the same double
    (``service.engine.session._for_engine``). A whole number past 2**53 becomes the nearest
    double, as any JSON reader makes of it, so that the engine and the explanation compare the
    same value."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError("Not a valid number.")
        if isinstance(value, int):
            if -SAFE_INTEGER <= value <= SAFE_INTEGER:
                return value
            try:
                value = float(value)
            except OverflowError:
                raise ValidationError("Not a finite number.") from None
        return super()._deserialize(value, attr, data, **kwargs)


class _Str(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError("Not a valid string.")
        return _no_control_characters(value)


class _BoundedList(fields.List):
    """A list fact: its length is checked before any item is read (a list of a million items is
    refused at once, not after reading each)."""

    def __init__(self, inner, *, limit: validate.Length, **kwargs):
        super().__init__(inner, **kwargs)
        self.limit = limit

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, list):
            raise ValidationError("Not a valid list.")
        self.limit(value)
        return super()._deserialize(value, attr, data, **kwargs)


def _fact_field(spec: Mapping[str, Any]) -> fields.Field:
    checks = []
    kind = spec["type"]
    if spec.get("enum"):
        checks.append(validate.OneOf(spec["enum"]))
    if "min" in spec or "max" in spec:
        checks.append(validate.Range(min=spec.get("min"), max=spec.get("max")))
    if "pattern" in spec:
        checks.append(_FullMatch(spec["pattern"]))
    length = None
    if "min_length" in spec or "max_length" in spec:
        length = validate.Length(min=spec.get("min_length"), max=spec.get("max_length"))
        if kind != "list":
            checks.append(length)
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
    if kind == "list":  # of objects: their fields are single values
        if "default" in spec:
            options["load_default"] = list  # a new list each time, never one shared
        return _BoundedList(fields.Nested(facts_schema(spec["fields"])),
                            limit=length or validate.Length(), **options)
    return {"string": _Str, "integer": _Integer, "number": _Number,
            "boolean": _StrictBool, "date": _IsoDate, "datetime": _IsoDateTime}[kind](
        **({"strict": True} if kind == "integer" else {}), **options)


# How deep facts may nest objects and arrays below the top: facts.a.b...p (16 keys) may still
# be an object, one more level is refused. No contract comes near it (the profile's deepest fact
# is 2 levels down), and it bounds what every later step walks by recursion: pickling a request
# for the engine process failed past about 500 levels (a 500 for the whole batch).
MAX_FACTS_DEPTH = 16


def check_depth(facts: Any, limit: int = MAX_FACTS_DEPTH) -> None:
    """FactsError naming the first object or array nested more than ``limit`` levels below the
    top of ``facts``. Walks without recursion, however deep the facts are."""
    stack: list[tuple[Any, tuple]] = [(facts, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            children = value.items()
        elif isinstance(value, list):
            children = enumerate(value)
        else:
            continue
        for key, child in children:
            if isinstance(child, dict | list):
                where = (*path, key)
                if len(where) > limit:
                    # The path as FactsError names every field (flatten_messages).
                    name = "".join(f"[{k}]" if isinstance(k, int) else f".{k}"
                                   for k in where).removeprefix(".")
                    raise FactsError(f"{name}: nested more than {limit} levels deep",
                                     errors={name: [f"Nested more than {limit} levels deep."]})
                stack.append((child, where))


def validate_facts(contract: Mapping[str, dict] | Schema, facts: Any) -> dict:
    """Check caller facts against a contract (its specs or its schema); FactsError maps each field
    path to its messages."""
    if not isinstance(facts, dict):
        raise FactsError("facts must be an object", errors={"facts": ["must be an object"]})
    check_depth(facts)
    schema = contract if isinstance(contract, Schema) else facts_schema(contract)
    try:
        return schema.load(facts)
    except ValidationError as exc:
        errors = flatten_messages(exc.messages, root="facts")
        raise FactsError("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()),
                         errors=errors) from None
