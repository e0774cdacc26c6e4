"""Fuzz the API from its own OpenAPI document: whatever schemathesis sends (valid bodies, broken
ones, odd query strings and path parameters), the answer is never a 5xx, its status is one the
document lists, and its body matches the documented schema and media type. The document carries
each ruleset's facts contract, so schemathesis's valid requests are decided by the engine; and
a contract fuzzer of our own draws facts from each ruleset's contract and decides them.

Bounded: a fixed number of examples per operation and generation mode (under a minute).
Hypothesis drives schemathesis's strategies directly: its pytest plugin does not run under
pytest 9 yet."""

from __future__ import annotations

import datetime as dt

import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.decisions import Limits
from service.errors import FactsError
from tests.apps import bearer
from tests.conftest import PROFILE

EXAMPLES = 30
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
OPERATIONS = [  # (method, path, takes input: fuzzed with invalid data too)
    ("POST", "/v1/decisions", True), ("POST", "/v1/decisions/batch", True),
    ("POST", "/v1/decisions/what-would-change", True),
    ("GET", "/v1/decisions", True), ("GET", "/v1/decisions/export", True),
    ("GET", "/v1/decisions/{decision_id}", True),
    ("POST", "/v1/decisions/{decision_id}/replay", True), ("GET", "/v1/rulesets", False),
    ("GET", "/v1/names", False),
    ("GET", "/v1/ruleset-versions/{sha256}", True),
    ("GET", "/v1/rulesets/{ruleset_id}", True),
    ("GET", "/v1/rulesets/{ruleset_id}/versions/{version}", True),
    ("GET", "/healthz", False), ("GET", "/readyz", False), ("GET", "/metrics", False),
    ("GET", "/openapi.json", False), ("GET", "/docs", False),
    ("POST", "/v1/draws", True), ("GET", "/v1/draws/{draw_id}", True),
    ("GET", "/v1/draws/{draw_id}/invitations", True),
    ("GET", "/v1/draws/{draw_id}/candidates/{candidate_id}", True),
    ("GET", "/v1/drafts", True), ("GET", "/v1/drafts/{draft_id}", True),
    ("GET", "/v1/drafts/{draft_id}/trail", True), ("GET", "/v1/trail", False),
    ("GET", "/v1/drafts/{draft_id}/impact/{run_id}", True),
]
# The workbench's writes are tested in tests/workbench: a valid one checks a copy of the ruleset
# folder and runs its cases in a child process (seconds each), or publishes into the folder.
WORKBENCH_WRITES = {("POST", "/v1/drafts"), ("PUT", "/v1/drafts/{draft_id}"),
                    *(("POST", f"/v1/drafts/{{draft_id}}/{step}") for step in (
                        "try", "cases", "cover", "update", "submit", "review", "publish",
                        "impact"))}
CASES = [pytest.param(method, path, mode, id=f"{method} {path} {mode.value}")
         for method, path, takes_input in OPERATIONS
         for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
         if takes_input or mode is GenerationMode.POSITIVE]
SIBLING_ROUTES = ("export", "batch", "what-would-change")
# Left out: POST /v1/admin/reload recompiles every ruleset (a second each) and takes no input
# worth fuzzing; test_audit_api covers it.


@pytest.fixture(scope="module")
def api_schema(app):
    # What would change: a few engine decisions per answer are enough to reach every branch of
    # the view, and keep the fuzzing of it within seconds (its own tests use the defaults).
    app.extensions["decisions"].what_would_change_limits = Limits(decisions=12, ms=500)
    return schemathesis.openapi.from_wsgi("/openapi.json", app)


def test_the_fuzzed_operations_are_all_but_reload(api_schema):
    documented = {(method.upper(), path) for path, ops in api_schema.raw_schema["paths"].items()
                  for method in ops}
    fuzzed = {(method, path) for method, path, _ in OPERATIONS}
    assert documented - fuzzed == {("POST", "/v1/admin/reload")} | WORKBENCH_WRITES


@pytest.mark.slow
@pytest.mark.parametrize("method, path, mode", CASES)
def test_no_input_gets_a_server_error_or_an_undocumented_answer(api_schema, method, path, mode):
    operation = api_schema[path][method]

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def fuzz(data):
        case = data.draw(operation.as_strategy(generation_mode=mode))
        # /v1/decisions/export and /batch are operations of their own, fuzzed as such: a
        # decision id drawn as one of those names reaches that operation, not this one.
        assume((case.path_parameters or {}).get("decision_id") not in SIBLING_ROUTES)
        case.call_and_validate(headers=bearer("everything"), checks=CHECKS)

    fuzz()


def fuzz_decisions(operation, examples: int, status, batch_results=None) -> None:
    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def fuzz(data):
        case = data.draw(operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
        response = case.call_and_validate(headers=bearer("everything"), checks=CHECKS)
        status(response.status_code)
        if batch_results and response.status_code == 200:
            batch_results(response.json()["results"])

    fuzz()


@pytest.mark.slow
def test_schemathesis_reaches_the_engine_through_the_facts_contracts(api_schema):
    """The document carries each ruleset's facts contract (DecisionRequestByRuleset), so the
    requests schemathesis builds from it are decided, not only refused: no 5xx, every answer
    documented, and many of them decisions (201)."""
    statuses: list[int] = []
    fuzz_decisions(api_schema["/v1/decisions"]["POST"], 150, statuses.append)
    fuzz_decisions(api_schema["/v1/decisions/batch"]["POST"], 30, lambda status: None,
                   lambda results: statuses.extend(r["status"] for r in results))
    assert not [s for s in statuses if s >= 500]
    # One in eight at least: the contract's checks that JSON Schema cannot say (a degree above
    # the education level, a job that starts after the decision's date, a second language in
    # the first one's language...) refuse part of what the document alone allows.
    assert statuses.count(201) >= len(statuses) // 8, sorted(statuses)


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


# The contract fuzzer: each ruleset's own facts contract (Catalog.facts_for, the specs of
# rulesets.facts) turned into a hypothesis strategy, decided over HTTP on a day one of its
# versions is in force.
def fact_values(spec: dict) -> st.SearchStrategy:
    kind = spec["type"]
    if kind == "object":
        values = facts_from_contract(spec["fields"])
    elif kind == "list":  # short lists: each item is drawn from the fields of the list
        values = st.lists(facts_from_contract(spec["fields"]),
                          max_size=min(spec["max_length"], 4))
    elif spec.get("enum"):
        values = st.sampled_from(spec["enum"])
    elif kind == "integer":
        values = st.integers(int(spec.get("min", -(2**31))), int(spec.get("max", 2**31)))
    elif kind == "number":
        low, high = spec.get("min", -1e9), spec.get("max", 1e9)
        values = st.integers(int(low), int(high)) | st.floats(low, high, allow_nan=False)
    elif kind == "boolean":
        values = st.booleans()
    elif kind == "date":
        values = st.dates(dt.date(1950, 1, 1), dt.date(2040, 12, 31)).map(dt.date.isoformat)
    elif kind == "datetime":
        values = st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2040, 1, 1),
                              timezones=st.just(dt.UTC)).map(dt.datetime.isoformat)
    elif "pattern" in spec:
        values = st.from_regex(spec["pattern"], fullmatch=True)
    else:
        values = st.text(min_size=spec.get("min_length", 0),
                         max_size=min(spec.get("max_length", 40), 40))
    return values | st.none() if spec.get("nullable") else values


def facts_from_contract(specs: dict) -> st.SearchStrategy:
    required = {name: fact_values(spec) for name, spec in specs.items()
                if spec.get("required", True) and "default" not in spec}
    optional = {name: fact_values(spec) for name, spec in specs.items() if name not in required}
    return st.fixed_dictionaries(required, optional=optional)


@st.composite
def contract_requests(draw, catalog) -> dict:
    version = draw(st.sampled_from(list(catalog.all_versions())))
    last = version.effective_to or version.effective_from + dt.timedelta(days=365)
    return {"ruleset": version.id,
            "facts": draw(facts_from_contract(catalog.facts_for(version))),
            "as_of": draw(st.dates(version.effective_from, last)).isoformat()}


@pytest.mark.slow
def test_facts_drawn_from_each_rulesets_contract_are_decided_without_a_server_error(client,
                                                                                     catalog):
    statuses: list[int] = []

    @settings(max_examples=360, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(body=contract_requests(catalog))
    def fuzz(body):
        response = client.post("/v1/decisions", json=body, headers=bearer("decider"))
        assert response.status_code in (201, 404, 422), (body, response.get_json())
        if response.status_code != 201:
            assert response.mimetype == "application/problem+json"
        # Each field is drawn from its spec, so many profiles break a contract check (partner
        # facts that disagree, two results in one language): those are 422s. Every profile the
        # contract accepts, checks included, must be decided.
        day = dt.date.fromisoformat(body["as_of"])
        try:
            catalog.validate(catalog.in_force(body["ruleset"], day), body["facts"], day)
        except FactsError:
            return
        statuses.append(response.status_code)
        assert response.status_code == 201, (body, response.get_json())

    fuzz()
    assert len(statuses) >= 60, "too few drawn profiles pass the contract to reach the engine"
