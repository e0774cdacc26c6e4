"""Health, readiness, metrics, JSON logs without candidate facts, the OpenAPI document and its
page."""

from __future__ import annotations

import io
import logging
import re

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.jsonlog import JsonFormatter
from tests.apps import bearer
from tests.conftest import PROFILE

REQUEST = {"ruleset": "oinp.hcp.tech-draw", "facts": PROFILE, "as_of": "2019-07-15"}


def metric(client, name: str, **labels) -> float:
    """The value of one sample of /metrics (0 when it has none yet)."""
    for family in text_string_to_metric_families(client.get("/metrics").data.decode()):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def test_metrics_count_requests_latency_and_decisions(client):
    decided = client.post("/v1/decisions", json=REQUEST, headers=bearer("decider")).get_json()
    labels = {"ruleset": "oinp.hcp.tech-draw", "outcome": decided["outcome"]}
    before = metric(client, "decisions_made_total", **labels)
    requests_before = metric(client, "decisions_http_requests_total", method="POST",
                             route="/v1/decisions", status="201")
    latency_before = metric(client, "decisions_http_request_duration_seconds_count",
                            method="POST", route="/v1/decisions")
    for _ in range(3):
        client.post("/v1/decisions", json=REQUEST, headers=bearer("decider"))
    client.post("/v1/decisions/batch", json={"items": [REQUEST, REQUEST]},
                headers=bearer("decider"))
    assert metric(client, "decisions_made_total", **labels) == before + 5
    assert metric(client, "decisions_http_requests_total", method="POST",
                  route="/v1/decisions", status="201") == requests_before + 3
    assert metric(client, "decisions_http_request_duration_seconds_count", method="POST",
                  route="/v1/decisions") == latency_before + 3


def test_unmatched_paths_do_not_grow_the_metric_labels(client):
    for n in range(3):
        client.get(f"/random-{n}")
    text = client.get("/metrics").data.decode()
    assert "random-" not in text and 'route="unmatched"' in text


@pytest.fixture
def log_lines():
    """Everything the service logs during a test, as the JSON lines it writes."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield lambda: [orjson.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)


def test_logs_are_json_and_carry_no_candidate_facts(client, log_lines):
    secret = "CANDIDATE-7Q4-SECRET"
    facts = {**PROFILE, "candidate_id": secret, "settlement_funds_cad": 987654}
    client.post("/v1/decisions", json={**REQUEST, "facts": facts},
                headers={**bearer("decider"), "X-Request-ID": "log-test-1"})
    client.post("/v1/decisions", json={**REQUEST, "facts": {**facts, "age": 999}},
                headers=bearer("decider"))  # a 422 quotes nothing of the facts either
    client.get(f"/v1/decisions?candidate_id={secret}", headers=bearer("auditor"))
    logging.getLogger("decisions.test").info("with extra", extra={"facts": facts})
    lines = log_lines()
    text = "\n".join(orjson.dumps(line).decode() for line in lines)
    assert secret not in text and "987654" not in text
    request = next(line for line in lines if line.get("request_id") == "log-test-1")
    assert request["route"] == "/v1/decisions" and request["status"] == 201
    assert request["caller"] == "decider" and request["duration_ms"] > 0
    assert any(line["route"] == "/v1/decisions" and line["status"] == 422 for line in lines
               if "route" in line)


def test_health_and_readiness(client, app, monkeypatch):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz").get_json()
    assert ready == {"status": "ready",
                     "checks": {"rulesets": "ok", "database": "ok", "tokens": "ok"}}

    def unreachable():
        raise OSError("connection refused")

    monkeypatch.setattr(app.extensions["decisions"].store, "revision", unreachable)
    response = client.get("/readyz")
    assert response.status_code == 503 and response.mimetype == "application/problem+json"
    assert response.get_json()["checks"]["database"] == "unreachable (OSError)"


def test_every_route_is_in_the_openapi_document(app, client):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"] == "3.1.0"
    documented = {(method.upper(), path) for path, ops in spec["paths"].items()
                  for method in ops}
    served = {(method, re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule))
              for rule in app.url_map.iter_rules()
              if rule.endpoint != "static" and not rule.endpoint.startswith("pages.")  # HTML
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert documented == served
    create = spec["paths"]["/v1/decisions"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/DecisionRequestByRuleset"}
    assert {"201", "400", "401", "403", "404", "413", "415", "422", "503"} <= set(
        create["responses"])
    batch = spec["components"]["schemas"]["BatchRequest"]["properties"]["items"]
    assert batch["items"]["$ref"] == "#/components/schemas/DecisionRequestByRuleset"
    assert batch["maxItems"] == 1000


def test_the_openapi_document_carries_each_rulesets_facts_contract(client, catalog):
    """Generated clients and schemathesis reach the engine through it: a request that holds to
    DecisionRequest_<ruleset> is one the service decides, one that breaks it is refused."""
    import jsonschema_rs  # schemathesis's own validator

    spec = client.get("/openapi.json").get_json()
    schemas = spec["components"]["schemas"]

    def validator(name: str):
        return jsonschema_rs.Draft202012Validator({
            "$ref": f"#/components/schemas/{name}", "components": spec["components"]})

    assert {f"Facts_{i}" for i in catalog.ids()} <= set(schemas)
    by_ruleset = schemas["DecisionRequestByRuleset"]["anyOf"]
    assert len(by_ruleset) == len(catalog.ids()) + 1
    facts = schemas["Facts_oinp.hcp.tech-draw"]
    assert facts["additionalProperties"] is False and "age" in facts["required"]
    assert facts["properties"]["age"] == {"type": "integer", "minimum": 0, "maximum": 120,
                                          "title": "Age"}
    assert facts["properties"]["second_language"]["type"] == ["object", "null"]
    assert "canadian_work_years" not in facts["required"]  # it has a default
    request = validator("DecisionRequest_oinp.hcp.tech-draw")
    assert request.is_valid({"ruleset": "oinp.hcp.tech-draw", "facts": PROFILE,
                             "as_of": "2019-07-15"})
    for broken in ({**PROFILE, "age": 130}, {**PROFILE, "nickname": "x"},
                   {**PROFILE, "primary_noc": "21734x"}, {**PROFILE, "marital_status": None},
                   {k: v for k, v in PROFILE.items() if k != "age"}):
        assert not request.is_valid({"ruleset": "oinp.hcp.tech-draw", "facts": broken})
        assert client.post("/v1/decisions", json={**REQUEST, "facts": broken},
                           headers=bearer("decider")).status_code == 422
    assert validator("DecisionRequestByRuleset").is_valid(
        {"ruleset": "no.such-ruleset", "facts": {}})  # a 404, documented



def test_the_docs_page_lists_every_operation(client):
    page = client.get("/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.data.decode()
    spec = client.get("/openapi.json").get_json()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert f'id="{op["operationId"]}"' in html, (method, path)
    assert "<script" not in html and "http://" not in html.split("<body>")[0]
