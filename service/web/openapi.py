"""The OpenAPI 3.1 document, generated from the app's routes and the marshmallow schemas their
``@operation`` names, and a plain HTML page that lists it (served by the app: no CDN, no script).

Nothing here is written by hand twice: a route without ``@operation`` is not in the spec, and a
test checks that every route has one.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask
from marshmallow import Schema

from ..errors import PLAIN_TEXT
from ..rulesets import ID_PATTERN
from . import schemas

PROBLEM_TITLES = {
    400: "Malformed JSON",
    401: "No valid bearer token",
    403: "The token lacks the role this operation needs",
    404: "Not found",
    409: "Conflict",
    413: "Body larger than the configured limit",
    415: "Content-Type is not application/json",
    422: "Invalid request: messages by field or parameter in `errors`",
    503: "Not available now; retry later",
}
# Path parameters hold no control character (web.plumbing refuses them: 422).
PATH_PARAMETERS = {
    "ruleset_id": {"type": "string", "pattern": ID_PATTERN, "maxLength": 200},
    "version": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": PLAIN_TEXT},
    "decision_id": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": PLAIN_TEXT},
}
PLAIN_PARAMETER = {"type": "string", "pattern": PLAIN_TEXT}


@dataclass(frozen=True)
class Success:
    schema: type[Schema] | None
    description: str
    media: str = "application/json"


@dataclass(frozen=True)
class Operation:
    """What the spec says of one view; ``api.operation`` also enforces roles, body and query."""

    summary: str
    tag: str
    responses: Mapping[int, Success]
    roles: tuple[str, ...] | None = None  # None: public; (): any valid token
    body: type[Schema] | None = None
    query: type[Schema] | None = None
    headers: type[Schema] | None = None  # request headers, validated like the query
    problems: tuple[int, ...] = ()
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def problem_codes(self) -> list[int]:
        # 422 on every operation: a path or query parameter with a control character, taken or
        # not (web.plumbing).
        codes = set(self.problems) | {422}
        if self.roles is not None:
            codes |= {401, 403} if self.roles else {401}
        if self.body is not None:
            codes |= {400, 413, 415, 422}
        if self.query is not None or self.headers is not None:
            codes.add(422)
        return sorted(codes)


def _batch_item_as_request(self, field_obj, **kwargs) -> dict:
    if isinstance(field_obj, schemas.BatchItem):
        return {"$ref": "#/components/schemas/DecisionRequest"}
    return {}


def build_spec(app: Flask, version: str) -> dict:
    plugin = MarshmallowPlugin()
    spec = APISpec(
        title="Decisions API", version=version, openapi_version="3.1.0", plugins=[plugin],
        info={"description": "Explained rules-engine decisions for Express Entry and OINP "
                             "selection, with an append-only decision log for auditors. "
                             "Errors are RFC 9457 problem details (application/problem+json)."})
    plugin.converter.add_attribute_function(_batch_item_as_request)
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer",
                                               "description": "a token from the tokens file"})
    spec.components.schema("Problem", schema=schemas.ProblemSchema)
    spec.components.schema("DecisionRequest", schema=schemas.DecisionRequestSchema)
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        op: Operation | None = getattr(app.view_functions[rule.endpoint], "operation", None)
        if op is None:
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        parameters = [{"in": "path", "name": name, "required": True,
                       "schema": PATH_PARAMETERS.get(name, PLAIN_PARAMETER)}
                      for name in sorted(rule.arguments)]
        operations = {method.lower(): _operation(op, rule.endpoint, parameters)
                      for method in sorted(rule.methods - {"HEAD", "OPTIONS"})}
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def _operation(op: Operation, endpoint: str, path_parameters: list[dict]) -> dict:
    parameters = list(path_parameters)
    if op.query is not None:
        parameters.append({"in": "query", "schema": op.query})
    if op.headers is not None:
        parameters.append({"in": "header", "schema": op.headers})
    responses: dict[str, Any] = {}
    for status, success in op.responses.items():
        content: dict[str, Any] = {}
        if success.schema is not None:
            content = {success.media: {"schema": success.schema}}
        elif success.media:  # a document that has no marshmallow schema of its own
            kind = "object" if success.media == "application/json" else "string"
            content = {success.media: {"schema": {"type": kind}}}
        responses[str(status)] = {"description": success.description, "content": content}
    for status in op.problem_codes():
        responses[str(status)] = {
            "description": PROBLEM_TITLES[status],
            "content": {"application/problem+json": {
                "schema": {"$ref": "#/components/schemas/Problem"}}}}
    out: dict[str, Any] = {"operationId": endpoint.split(".")[-1], "summary": op.summary,
                           "tags": [op.tag], "responses": responses, **op.extra}
    description = op.description
    if op.roles:
        description = (f"Role: {', '.join(op.roles)}.\n\n" + description).strip()
    if description:
        out["description"] = description
    if parameters:
        out["parameters"] = parameters
    if op.roles is not None:
        out["security"] = [{"bearer": []}]
    if op.body is not None:
        out["requestBody"] = {"required": True,
                              "content": {"application/json": {"schema": op.body}}}
    return out


# ----------------------------------------------------------------------------- facts contracts
# Each ruleset's facts contract as JSON Schema, so that generated clients and schema-driven
# fuzzers (schemathesis, in the test suite) build facts the engine decides, not only 404s and
# 422s: ``Facts_<ruleset>`` (the contracts of its versions: the one, or anyOf when they differ),
# ``DecisionRequest_<ruleset>`` (that ruleset, its facts), and ``DecisionRequestByRuleset``, what
# POST /v1/decisions and each batch item take: any of those, or any other ruleset id (404).
# Built from the rulesets in use, so a reload changes the document too.
FACT_TYPES = {"string": {"type": "string"}, "integer": {"type": "integer"},
              "number": {"type": "number"}, "boolean": {"type": "boolean"},
              "date": {"type": "string", "format": "date"},
              "datetime": {"type": "string", "format": "date-time"}}
BY_RULESET = "DecisionRequestByRuleset"


def fact_schema(spec: Mapping[str, Any]) -> dict:
    """One fact of a contract (``rulesets.facts``: type, enum, min, max, pattern, min_length,
    max_length, nullable, default, required, fields) as JSON Schema."""
    def number(value: Any) -> Any:
        return int(value) if isinstance(value, float) and value.is_integer() else value

    if spec["type"] == "object":
        out: dict[str, Any] = contract_schema(spec["fields"])
    elif spec["type"] == "list":  # of objects; min_length and max_length bound the items
        out = {"type": "array", "items": contract_schema(spec["fields"])}
    else:
        out = dict(FACT_TYPES[spec["type"]])
    lengths = ("minItems", "maxItems") if spec["type"] == "list" else ("minLength", "maxLength")
    for key, name in (("min", "minimum"), ("max", "maximum"), ("min_length", lengths[0]),
                      ("max_length", lengths[1])):
        if key in spec:
            out[name] = number(spec[key])
    if "pattern" in spec:  # the whole value matches, whatever the pattern's own anchors
        out["pattern"] = f"^(?:{spec['pattern']})$"
    if spec.get("enum"):
        out["enum"] = list(spec["enum"])
    if spec.get("nullable"):
        out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"].append(None)
    if "default" in spec:
        out["default"] = spec["default"]
    title = spec.get("title")
    if title:
        out["title"] = title.get("en") if isinstance(title, Mapping) else title
    return out


def contract_schema(specs: Mapping[str, Mapping[str, Any]]) -> dict:
    required = [name for name, spec in specs.items()
                if spec.get("required", True) and "default" not in spec]
    out: dict[str, Any] = {"type": "object", "additionalProperties": False,
                           "properties": {name: fact_schema(spec) for name, spec in specs.items()}}
    if required:
        out["required"] = required
    return out


def with_facts_contracts(spec: dict, catalog: Any) -> dict:
    """``spec`` with the facts contract of every ruleset in ``catalog`` (a ``Catalog``)."""
    spec = copy.deepcopy(spec)
    schemas = spec["components"]["schemas"]
    as_of = schemas["DecisionRequest"]["properties"]["as_of"]
    choices = []
    for ruleset_id in catalog.ids():
        contracts: list[dict] = []
        for version in catalog.versions(ruleset_id):
            contract = contract_schema(catalog.facts_for(version))
            if contract not in contracts:
                contracts.append(contract)
        schemas[f"Facts_{ruleset_id}"] = contracts[0] if len(contracts) == 1 \
            else {"anyOf": contracts}
        schemas[f"DecisionRequest_{ruleset_id}"] = {
            "type": "object", "additionalProperties": False, "required": ["ruleset", "facts"],
            "properties": {"ruleset": {"const": ruleset_id},
                           "facts": {"$ref": f"#/components/schemas/Facts_{ruleset_id}"},
                           "as_of": as_of}}
        choices.append({"$ref": f"#/components/schemas/DecisionRequest_{ruleset_id}"})
    schemas[BY_RULESET] = {
        "description": "A decision request: for a ruleset this server has, its facts contract "
                       "(DecisionRequest_<ruleset>); any other ruleset id is a 404.",
        "anyOf": [*choices, {"$ref": "#/components/schemas/DecisionRequest"}]}
    by_ruleset = {"$ref": f"#/components/schemas/{BY_RULESET}"}
    for path in ("/v1/decisions", "/v1/decisions/what-would-change"):
        if path in spec["paths"]:
            spec["paths"][path]["post"]["requestBody"]["content"]["application/json"][
                "schema"] = by_ruleset
    schemas["BatchRequest"]["properties"]["items"]["items"] = by_ruleset
    return spec


# ------------------------------------------------------------------------------------ docs page
def docs_model(spec: dict) -> dict:
    """The spec arranged for the HTML page: operations by tag, then every schema's fields."""
    tags: dict[str, list[dict]] = {}
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            tags.setdefault(op["tags"][0], []).append({
                "method": method.upper(), "path": path, "id": op["operationId"],
                "summary": op["summary"], "description": op.get("description", ""),
                "secured": "security" in op,
                "parameters": [_parameter(p) for p in op.get("parameters", [])],
                "body": _ref_name(op.get("requestBody", {}).get("content", {})
                                  .get("application/json", {}).get("schema")),
                "responses": [{"status": status, "description": r["description"],
                               "media": ", ".join(r.get("content", {})),
                               "schema": _ref_name(next(iter(r.get("content", {}).values()),
                                                        {}).get("schema"))}
                              for status, r in op["responses"].items()]})
    components = {name: [{"name": prop, "type": _type(sub),
                          "required": prop in body.get("required", []),
                          "description": sub.get("description", "")}
                         for prop, sub in body.get("properties", {}).items()]
                  for name, body in sorted(spec["components"]["schemas"].items())}
    return {"title": spec["info"]["title"], "version": spec["info"]["version"],
            "description": spec["info"].get("description", ""), "tags": tags,
            "schemas": components}


def _parameter(p: dict) -> dict:
    return {"name": p["name"], "in": p["in"], "required": p.get("required", False),
            "type": _type(p.get("schema", {})), "description": p.get("description", "")}


def _ref_name(schema: dict | None) -> str | None:
    if schema and "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    return None


def _type(schema: dict) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    kind = schema.get("type", "any")
    if isinstance(kind, list):
        kind = " or ".join(kind)
    if kind == "array":
        return f"list of {_type(schema.get('items', {}))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"map of {_type(schema['additionalProperties'])}"
    fmt = schema.get("format")
    if "enum" in schema:
        return f"{kind}: " + " | ".join(map(str, schema["enum"]))
    return f"{kind} ({fmt})" if fmt else kind
