"""GET /v1/rulesets...: what is in force today, what is scheduled, hashes, rules, contract."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.apps import bearer, write_min_age


@pytest.fixture
def versions_app(make_app, tmp_path):
    """test.min-age in three versions: expired, in force today, scheduled for later."""
    root = tmp_path / "rulesets"
    write_min_age(root, "2019-01-01", "2019-01-01")
    write_min_age(root, "2020-01-01", "2020-01-01", minimum=19)
    later = dt.date.today() + dt.timedelta(days=30)
    write_min_age(root, later.isoformat(), later.isoformat(), minimum=21)
    (root / "test" / "min-age-2019-01-01.yaml").write_text(
        (root / "test" / "min-age-2019-01-01.yaml").read_text().replace(
            "effective: {from: 2019-01-01}", "effective: {from: 2019-01-01, to: 2019-12-31}"))
    app = make_app(rulesets_dir=str(root))
    app.later = later.isoformat()
    return app


def test_the_list_shows_each_version_with_its_status_and_hash(versions_app):
    body = versions_app.test_client().get("/v1/rulesets", headers=bearer("auditor")).get_json()
    [ruleset] = body["rulesets"]
    assert ruleset["id"] == "test.min-age" and ruleset["in_force"] == "2020-01-01"
    assert [(v["version"], v["status"]) for v in ruleset["versions"]] == [
        ("2019-01-01", "expired"), ("2020-01-01", "in_force"), (versions_app.later, "scheduled")]
    catalog = versions_app.extensions["decisions"].rules.catalog
    assert [v["sha256"] for v in ruleset["versions"]] == [
        v.sha256 for v in catalog.versions("test.min-age")]


def test_a_ruleset_shows_the_version_in_force_in_full(versions_app):
    response = versions_app.test_client().get(
        "/v1/rulesets/test.min-age", headers={**bearer("decider"), "Accept-Language": "fr"})
    body = response.get_json()
    assert body["title"] == "Âge minimum" and body["in_force"] == "2020-01-01"
    current = body["current"]
    assert current["version"] == "2020-01-01" and current["status"] == "in_force"
    assert current["rules"] == [{
        "id": "adult", "kind": "require", "title": "Est majeur",
        "reference": "https://example.org/min-age#adult", "condition": "age >= 19"}]
    assert current["facts"]["age"] == {"type": "integer", "min": 0.0, "max": 120.0,
                                       "required": True, "nullable": False}


def test_a_scheduled_version_can_be_read_before_it_is_in_force(versions_app):
    client = versions_app.test_client()
    body = client.get(f"/v1/rulesets/test.min-age/versions/{versions_app.later}",
                      headers=bearer("decider")).get_json()
    assert body["status"] == "scheduled"
    assert body["rules"][0]["condition"] == "age >= 21"


def test_a_bundled_ruleset_lists_its_includes_rules_and_facts_contract(client):
    body = client.get("/v1/rulesets/oinp.hcp.tech-draw", headers=bearer("decider")).get_json()
    # in force today: the version that records the revocation (O. Reg. 47/26), no rules of its own
    assert body["current"]["version"] == "2026-05-30"
    assert [r["id"] for r in body["current"]["rules"]] == ["in-force"]
    current = client.get("/v1/rulesets/oinp.hcp.tech-draw/versions/2022-11-16",
                         headers=bearer("decider")).get_json()
    assert current["includes"] and current["rules"]
    assert all(rule["reference"] and rule["title"] for rule in current["rules"])
    language = current["facts"]["first_language"]
    assert language["type"] == "object" and "reading" in language["fields"]
    second = current["facts"]["second_language"]
    assert second["required"] is False and second["nullable"] is True


@pytest.mark.parametrize("path", ["/v1/rulesets/no.such-thing",
                                  "/v1/rulesets/oinp.hcp.tech-draw/versions/1999-01-01"])
def test_unknown_rulesets_and_versions_are_404(client, path):
    response = client.get(path, headers=bearer("decider"))
    assert response.status_code == 404 and response.mimetype == "application/problem+json"
