"""Fuzz the API from its own OpenAPI document: whatever schemathesis sends (valid bodies, broken
ones, odd query strings and path parameters), the answer is never a 5xx, its status is one the
document lists, and its body matches the documented schema and media type.

Bounded: a fixed number of examples per operation and generation mode (under a minute).
Hypothesis drives schemathesis's strategies directly: its pytest plugin does not run under
pytest 9 yet."""

from __future__ import annotations

import datetime as dt

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.apps import bearer
from tests.conftest import PROFILE

EXAMPLES = 30
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
OPERATIONS = [  # (method, path, takes input: fuzzed with invalid data too)
    ("POST", "/v1/decisions", True), ("POST", "/v1/decisions/batch", True),
    ("GET", "/v1/decisions", True), ("GET", "/v1/decisions/export", True),
    ("GET", "/v1/decisions/{decision_id}", True),
    ("POST", "/v1/decisions/{decision_id}/replay", True), ("GET", "/v1/rulesets", False),
    ("GET", "/v1/ruleset-versions/{sha256}", True),
    ("GET", "/v1/rulesets/{ruleset_id}", True),
    ("GET", "/v1/rulesets/{ruleset_id}/versions/{version}", True),
    ("GET", "/healthz", False), ("GET", "/readyz", False), ("GET", "/metrics", False),
    ("GET", "/openapi.json", False), ("GET", "/docs", False),
    ("POST", "/v1/draws", True), ("GET", "/v1/draws/{draw_id}", True),
    ("GET", "/v1/draws/{draw_id}/invitations", True),
    ("GET", "/v1/draws/{draw_id}/candidates/{candidate_id}", True),
]
CASES = [pytest.param(method, path, mode, id=f"{method} {path} {mode.value}")
         for method, path, takes_input in OPERATIONS
         for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
         if takes_input or mode is GenerationMode.POSITIVE]
# Left out: POST /v1/admin/reload recompiles every ruleset (a second each) and takes no input
# worth fuzzing; test_audit_api covers it.


@pytest.fixture(scope="module")
def api_schema(app):
    return schemathesis.openapi.from_wsgi("/openapi.json", app)


def test_the_fuzzed_operations_are_all_but_reload(api_schema):
    documented = {(method.upper(), path) for path, ops in api_schema.raw_schema["paths"].items()
                  for method in ops}
    fuzzed = {(method, path) for method, path, _ in OPERATIONS}
    assert documented - fuzzed == {("POST", "/v1/admin/reload")}


@pytest.mark.slow
@pytest.mark.parametrize("method, path, mode", CASES)
def test_no_input_gets_a_server_error_or_an_undocumented_answer(api_schema, method, path, mode):
    operation = api_schema[path][method]

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def fuzz(data):
        case = data.draw(operation.as_strategy(generation_mode=mode))
        case.call_and_validate(headers=bearer("everything"), checks=CHECKS)

    fuzz()


# Random ruleset ids almost never name a ruleset, so the schema-driven cases above rarely reach
# the facts contract and the engine. These do: a known ruleset, a valid profile, a few changes.
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=12)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=6)
NEAR_VALUES = st.integers(-5, 1500) | st.floats(-5, 1000, allow_nan=False) | JSON_VALUES


@st.composite
def near_valid_facts(draw) -> dict:
    facts = dict(PROFILE)
    language = dict(facts["first_language"])
    for key in draw(st.lists(st.sampled_from(sorted(language)), max_size=2, unique=True)):
        language[key] = draw(NEAR_VALUES | st.sampled_from(
            ["ielts", "celpip", "tef", "tcf", "pte_core", "nclc", "clb"]))
    facts["first_language"] = language
    for key in draw(st.lists(st.sampled_from(sorted(PROFILE)), max_size=3, unique=True)):
        change = draw(st.sampled_from(["drop", "null", "replace"]))
        if change == "drop":
            facts.pop(key)
        else:
            facts[key] = None if change == "null" else draw(NEAR_VALUES)
    if draw(st.booleans()):
        facts["second_language"] = {**PROFILE["first_language"], "test": "tef"}
    return facts


@pytest.mark.slow
def test_near_valid_facts_for_every_ruleset_get_a_decision_or_a_4xx(client, catalog):
    @settings(max_examples=300, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(ruleset=st.sampled_from(catalog.ids()), facts=near_valid_facts(),
           as_of=st.none() | st.dates(dt.date(2015, 1, 1), dt.date(2030, 12, 31)))
    def fuzz(ruleset, facts, as_of):
        body = {"ruleset": ruleset, "facts": facts}
        if as_of:
            body["as_of"] = as_of.isoformat()
        response = client.post("/v1/decisions", json=body, headers=bearer("decider"))
        assert response.status_code in (201, 404, 422), response.get_json()
        if response.status_code == 201:
            assert response.get_json()["outcome"]
        else:
            assert response.mimetype == "application/problem+json"

    fuzz()
