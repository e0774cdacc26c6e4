"""Pages over a fresh app: sign in through the form (with its CSRF token), seed decisions through
the API, read pages as a browser would (cookies), without a browser (tests/browser has one). The
app and client fixtures are the shared ones (tests/conftest.py)."""

from __future__ import annotations

import re

import pytest

from tests.apps import TOKENS, bearer
from tests.conftest import PROFILE

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client, path: str = "/") -> str:
    page = client.get(path)
    found = CSRF.search(page.get_data(as_text=True))
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def sign_in(client, name: str = "auditor") -> None:
    response = client.post("/sign-in", data={"token": TOKENS[name][1],
                                              "csrf_token": csrf_token(client, "/sign-in")})
    assert response.status_code == 303, response.get_data(as_text=True)[:500]


def decide(client, facts: dict, ruleset: str = "oinp.hcp.tech-draw",
           as_of: str = "2019-07-15") -> str:
    response = client.post("/v1/decisions", json={"ruleset": ruleset, "facts": facts,
                                                  "as_of": as_of}, headers=bearer("decider"))
    assert response.status_code == 201, response.get_json()
    return response.get_json()["decision_id"]


NOT_IN_ONTARIO = {**PROFILE, "candidate_id": "C-000124", "intends_to_reside_in": "BC"}


@pytest.fixture(scope="module")
def seeded(app):
    """Three logged decisions: met, not met (lives in BC), and a CRS assessment."""
    client = app.test_client()
    return {"met": decide(client, PROFILE), "not_met": decide(client, NOT_IN_ONTARIO),
            "crs": decide(client, {**PROFILE, "candidate_id": "C-000200"},
                          ruleset="express-entry.crs")}


@pytest.fixture
def auditor(app, seeded):
    client = app.test_client()
    sign_in(client, "auditor")
    return client
