"""POST /v1/decisions/what-would-change: the body of POST /v1/decisions, an answer in the language
asked for that its documented schema holds, nothing logged, and the one problem shape for bad
facts. The search itself: tests/test_what_would_change.py."""

from __future__ import annotations

from service.web import schemas as s
from tests.apps import bearer
from tests.conftest import PROFILE

URL = "/v1/decisions/what-would-change"
# CLB 9 in all four, 37: 438 CRS points, one below the 2019-07-12 draw's range (439 to 459);
# CLB 10 in any one ability adds 3 (tests/test_what_would_change.py works the grid).
REQUEST = {"ruleset": "oinp.hcp.draw.tech-2019-07-12", "facts": {**PROFILE, "age": 37},
           "as_of": "2019-07-12"}


def test_the_answer_in_both_languages_and_nothing_logged(client, app):
    store = app.extensions["decisions"].store
    before = store.count()
    english = client.post(URL, json=REQUEST, headers=bearer("decider"))
    assert english.status_code == 200, english.get_json()
    assert english.headers["Content-Language"] == "en"
    body = english.get_json()
    assert s.WhatWouldChangeSchema().validate(body) == {}
    assert body["outcome"] == "does_not_meet_draw_criteria" and body["scores"]["crs"] == 438
    assert [c["facts"][0]["fact"] for c in body["changes"]] == [
        "first_language.reading", "first_language.writing", "first_language.listening",
        "first_language.speaking"]
    first = body["changes"][0]
    assert first["scores"]["crs"] == {"from": 438, "to": 441}
    assert first["text"] == ("With the CLB level in reading 10 instead of 9, the Comprehensive "
                             "Ranking System score would be 441 instead of 438 and the outcome "
                             "would be “Meets the criteria of the 2019-07-12 tech draw”.")
    assert body["summary"] == "Smallest changes found: 4."

    french = client.post(URL, json=REQUEST, headers={**bearer("decider"),
                                                     "Accept-Language": "fr"})
    assert french.status_code == 200 and french.headers["Content-Language"] == "fr"
    answer = french.get_json()
    assert answer["changes"][0]["text"] == (
        "Avec le niveau NCLC en compréhension de l'écrit à 10 au lieu de 9, la note serait de "
        "441 au lieu de 438 (Note du Système de classement global) et le résultat serait "
        "« Satisfait aux critères du tirage technologique du 2019-07-12 ».")
    assert answer["summary"] == "Plus petits changements trouvés : 4."
    assert answer["not_met"][0]["title"] == "Une note SCG de 439 à 459"
    assert store.count() == before, "what would change is not a decision: nothing is logged"


def test_bad_facts_are_a_422_naming_the_field(client):
    response = client.post(URL, json={**REQUEST, "facts": {**PROFILE, "age": "old"}},
                           headers=bearer("decider"))
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert "facts.age" in response.get_json()["errors"]
    unknown = client.post(URL, json={**REQUEST, "ruleset": "oinp.nope"},
                          headers=bearer("decider"))
    assert unknown.status_code == 404


def test_it_takes_the_decide_role_and_is_in_the_openapi_document(client):
    assert client.post(URL, json=REQUEST, headers=bearer("auditor")).status_code == 403
    assert client.get(URL, headers=bearer("auditor")).status_code == 405
    spec = client.get("/openapi.json").get_json()
    operation = spec["paths"][URL]["post"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/WhatWouldChange"}
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/DecisionRequestByRuleset"}
