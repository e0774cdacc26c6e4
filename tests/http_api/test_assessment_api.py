"""express-entry.assessment with the Express Entry categories (issue 20, item 5): one decision
says which programs and which categories a candidate is eligible for on a date, with why-not for
the rest; before the first categories (2023-05-31) it decides no category."""

from __future__ import annotations

import datetime as dt

from service.live.decision_service import _compared
from tests.apps import bearer
from tests.conftest import PROFILE

ACCOUNTANT = {**PROFILE, "candidate_id": "C-020501", "primary_noc": "11100", "noc_version": "2021",
              "second_language": {"test": "nclc", "reading": 7, "writing": 7, "listening": 7,
                                  "speaking": 7},
              "work_history": [{"noc": "11100", "noc_version": "2021", "start": "2023-04-03",
                                "end": None, "hours_per_week": 37.5, "in_canada": True}]}


def assess(client, facts: dict, day: str, lang: str = "en") -> dict:
    response = client.post("/v1/decisions", json={"ruleset": "express-entry.assessment",
                                                  "facts": facts, "as_of": day},
                           headers={**bearer("decider"), "Accept-Language": lang})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_one_decision_lists_the_programs_and_the_categories_with_why_not(client):
    body = assess(client, ACCOUNTANT, "2024-06-03")
    assert body["outcome"] == "eligible_for_express_entry"  # the outcome it always had
    used = {r["as"]: r for r in body["rulesets"]}
    assert (used["fsw"]["met"], used["cec"]["met"], used["fst"]["met"]) == (True, True, False)
    categories = used["categories"]
    assert (categories["id"], categories["version"]) == ("express-entry.categories",
                                                          "2023-05-31")
    assert categories["outcome"] == "eligible_for_a_category" and categories["met_by"] == ["french"]
    assert "met_by" not in used["assessment"] and "met_by" not in used["fsw"]
    listed = {r["rule"]: r for r in body["requirements"]
              if r["ruleset"] == "express-entry.categories"}
    assert set(listed) == {"french", "healthcare", "stem", "trades", "transport", "agriculture"}
    assert listed["french"]["met"] and "because" not in listed["french"]
    for rule in ("healthcare", "stem", "trades", "transport", "agriculture"):
        assert not listed[rule]["met"]
        assert "6 months" in listed[rule]["because"] and listed[rule]["why_not"]
    french = assess(client, ACCOUNTANT, "2024-06-03", "fr")
    stem = next(r for r in french["requirements"] if r["rule"] == "stem")
    assert "6 mois" in stem["because"] and stem["because"] != listed["stem"]["because"]


def test_a_candidate_in_no_category_reads_each_why_not(client):
    facts = {**ACCOUNTANT, "second_language": None}
    body = assess(client, facts, "2025-03-03")
    categories = next(r for r in body["rulesets"] if r["as"] == "categories")
    assert categories["version"] == "2025-02-27"  # the lists in force, picked by date
    assert categories["outcome"] == "eligible_for_no_category" and categories["met_by"] == []
    not_met = [r for r in body["requirements"] if r["ruleset"] == "express-entry.categories"]
    assert {r["rule"] for r in not_met} == {"french", "healthcare", "stem", "trades",
                                             "agriculture", "education"}
    assert all(not r["met"] and r["because"] for r in not_met)
    # the two requirements named education, each under its own ruleset
    education = {r["ruleset"]: r["met"] for r in body["requirements"] if r["rule"] == "education"}
    assert education == {"express-entry.categories": False, "oinp.hcp": True}


def test_before_2023_05_31_the_assessment_decides_no_category(client):
    before = assess(client, ACCOUNTANT, "2023-05-30")
    assert [r["version"] for r in before["rulesets"] if r["id"] == "express-entry.assessment"] \
        == ["2019-07-11"]
    assert not any(r["id"] == "express-entry.categories" for r in before["rulesets"])
    assert not any(r["ruleset"] == "express-entry.categories" for r in before["requirements"])
    first_day = assess(client, ACCOUNTANT, "2023-05-31")
    assert {r["id"]: r["version"] for r in first_day["rulesets"]}["express-entry.categories"] \
        == "2023-05-31"


def test_an_assessment_with_categories_replays_identically(client, app):
    decided = assess(client, ACCOUNTANT, "2026-03-02")
    response = client.post(f"/v1/decisions/{decided['decision_id']}/replay",
                           headers=bearer("auditor"))
    assert response.status_code == 200
    assert response.get_json()["result"] == "identical"


def test_a_decision_logged_before_met_by_compares_equal_in_a_replay(catalog, engine):
    from service.decisions import decide

    now = decide(catalog, engine, "express-entry.categories", ACCOUNTANT, dt.date(2024, 6, 3))
    logged_before = {**now, "rulesets": [{k: v for k, v in r.items() if k != "met_by"}
                                         for r in now["rulesets"]]}
    assert _compared(logged_before) == _compared(now)
    changed = {**now, "requirements": [{**r, "met": not r["met"]} if r["rule"] == "french"
                                       else r for r in now["requirements"]]}
    assert _compared(changed) != _compared(now)  # what met_by says is still compared
