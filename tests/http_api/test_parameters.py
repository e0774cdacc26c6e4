"""Query and path parameters with control characters (issue 17, item 3): a NUL byte (%00) in a
parameter was a 500 on PostgreSQL, whose text cannot hold it, on eight operations. Every such
parameter is now a 422 problem naming it, before anything reaches the database, on both
databases; so is every other control character (C0, DEL, C1)."""

from __future__ import annotations

import pytest

from tests.apps import bearer

BAD = ["%00", "a%00b", "%01", "%0A", "%1F", "%7F", "%C2%85"]  # NUL, C0, DEL, C1 (NEL)
OPERATIONS = [  # (method, URL with {bad}, the parameter named in the problem)
    ("GET", "/v1/decisions?candidate_id={bad}", "candidate_id"),
    ("GET", "/v1/decisions?ruleset={bad}&limit=5", "ruleset"),
    ("GET", "/v1/decisions?outcome={bad}", "outcome"),
    ("GET", "/v1/decisions?version={bad}", "version"),
    ("GET", "/v1/decisions/export?candidate_id={bad}", "candidate_id"),
    ("GET", "/v1/decisions/{bad}", "decision_id"),
    ("POST", "/v1/decisions/{bad}/replay", "decision_id"),
    ("GET", "/v1/ruleset-versions/{bad}", "sha256"),
    ("GET", "/v1/rulesets/{bad}", "ruleset_id"),
    ("GET", "/v1/rulesets/oinp.hcp.tech-draw/versions/{bad}", "version"),
    ("GET", "/v1/draws/{bad}", "draw_id"),
    ("GET", "/v1/draws/{bad}/invitations", "draw_id"),
    ("GET", "/v1/draws/d1/invitations?cursor={bad}", "cursor"),
    ("GET", "/v1/draws/d1/candidates/{bad}", "candidate_id"),
    ("GET", "/v1/draws/{bad}/candidates/C-1", "draw_id"),
    ("GET", "/v1/rulesets?lang={bad}", "lang"),  # undocumented parameters too
]


@pytest.fixture
def client(make_app, database_url):
    return make_app(database_url=database_url).test_client()


@pytest.mark.parametrize("method, url, name", OPERATIONS)
def test_a_control_character_in_a_parameter_is_a_422_naming_it(client, method, url, name):
    for bad in BAD:
        response = client.open(url.format(bad=bad), method=method,
                               headers=bearer("everything"))
        assert response.status_code == 422, (bad, response.data[:300])
        assert response.mimetype == "application/problem+json"
        body = response.get_json()
        assert set(body["errors"]) == {name}, (bad, body)
        assert "control character" in body["errors"][name][0]


def test_a_control_character_in_a_parameter_name_is_named_escaped(client):
    response = client.get("/v1/decisions?candidate%00id=C-1", headers=bearer("auditor"))
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"candidate\\x00id"}


def test_the_same_parameters_without_them_are_answered(client):
    assert client.get("/v1/decisions?candidate_id=C-1%20x%C3%A9",
                      headers=bearer("auditor")).status_code == 200
    assert client.get("/v1/decisions/nothing", headers=bearer("auditor")).status_code == 404
    assert client.get("/v1/draws/d1/candidates/%C3%A9t%C3%A9",
                      headers=bearer("auditor")).status_code == 404
