"""The workbench over HTTP: bearer tokens with the author and review roles, the one error shape
(403 four eyes, 409 states, 422 with the field path), try side by side in the language asked
for, the journey to a published version, impact runs with their progress, and the trail."""

from __future__ import annotations

import time

import pytest

from tests.apps import bearer
from tests.pages.conftest import sign_in

DRAFT = {"ruleset": "test.min-age", "effective_from": "2027-01-01",
         "reason": "the minimum age becomes 21"}


@pytest.fixture
def api(make_app, live):
    return make_app(rulesets_dir=str(live)).test_client()


def started(api) -> dict:
    answer = api.post("/v1/drafts", json=DRAFT, headers=bearer("author"))
    assert answer.status_code == 201, answer.get_json()
    assert answer.headers["Location"].endswith(answer.get_json()["draft_id"])
    return answer.get_json()


def test_only_an_author_drafts_and_bad_input_names_its_field(api):
    refused = api.post("/v1/drafts", json=DRAFT, headers=bearer("decider"))
    assert refused.status_code == 403 and refused.mimetype == "application/problem+json"
    bad = api.post("/v1/drafts", json={**DRAFT, "effective_from": "2027-13-01"},
                   headers=bearer("author"))
    assert bad.status_code == 422 and "effective_from" in bad.get_json()["errors"]
    missing = api.post("/v1/drafts", json={**DRAFT, "ruleset": "test.nothing"},
                       headers=bearer("author"))
    assert missing.status_code == 422 and "path" in missing.get_json()["detail"]


def test_a_draft_reads_with_its_form_its_check_and_its_diff(api):
    draft = started(api)
    read = api.get(f"/v1/drafts/{draft['draft_id']}", headers=bearer("reviewer")).get_json()
    assert read["state"] == "draft" and read["base_version"] == "2019-01-01"
    assert {"version", "effective.from", "title.en", "title.fr"} <= \
        {f["key"] for f in read["form"]}
    assert "+effective: {from: 2027-01-01}" in read["diff"]["file"]
    assert read["check"]["cases"]["uncovered"] == {"test.min-age 2027-01-01": [
        "any rule: no case decides with this version (add cases with an as_of from "
        "2027-01-01 on)"]}
    listed = api.get("/v1/drafts?state=draft", headers=bearer("auditor")).get_json()
    assert [d["draft_id"] for d in listed["items"]] == [draft["draft_id"]]
    bad = api.put(f"/v1/drafts/{draft['draft_id']}", json={"fields": {"effective.from": "x"}},
                  headers=bearer("author"))
    assert bad.status_code == 422 and list(bad.get_json()["errors"]) == ["effective.from"]
    other = api.put(f"/v1/drafts/{draft['draft_id']}", json={"reason": "mine now"},
                    headers=bearer("author2"))
    assert other.status_code == 403


def test_try_decides_with_the_draft_and_in_force_side_by_side(api):
    draft = started(api)
    text = draft["content"].replace("require: age >= 18", "require: age >= 21")
    api.put(f"/v1/drafts/{draft['draft_id']}", json={"content": text}, headers=bearer("author"))
    tried = api.post(f"/v1/drafts/{draft['draft_id']}/try",
                     json={"facts": {"candidate_id": "T9", "age": 19}, "as_of": "2027-01-01"},
                     headers={**bearer("author"), "Accept-Language": "fr"})
    assert tried.status_code == 200, tried.get_json()
    body = tried.get_json()
    assert body["draft"]["decision"]["outcome"] == "not_eligible"
    assert body["in_force"]["decision"]["outcome"] == "eligible"
    assert body["in_force"]["decision"]["rulesets"][0]["version"] == "2019-01-01"
    assert body["draft"]["decision"]["title"] == "Âge minimum"  # in the language asked for
    [adult] = body["draft"]["decision"]["requirements"]
    assert adult["met"] is False and adult["because"]


def test_the_journey_over_http_to_a_published_version(api):
    draft = started(api)
    url = f"/v1/drafts/{draft['draft_id']}"
    text = draft["content"].replace("require: age >= 18", "require: age >= 21")
    api.put(url, json={"content": text}, headers=bearer("author"))
    covered = api.post(f"{url}/cover", headers=bearer("author")).get_json()
    assert covered["check"]["cases"]["failed"] == 1
    for body in ({"name": "From 2027 a candidate of 18 is too young", "as_of": "2027-01-01",
                  "facts": {"candidate_id": "T1", "age": 18},
                  "expect": {"outcome": "not_eligible"}, "replaces": 0},
                 {"name": "From 2027 a candidate of 21 is old enough", "as_of": "2027-01-01",
                  "facts": {"candidate_id": "T3", "age": 21}, "expect": {"outcome": "eligible"}}):
        answer = api.post(f"{url}/cases", json=body, headers=bearer("author"))
        assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["checked_ok"]
    assert api.post(f"{url}/submit", json={"reason": "21 from 2027"},
                    headers=bearer("author")).status_code == 200
    own = api.post(f"{url}/review", json={"decision": "approve"}, headers=bearer("both"))
    assert own.status_code == 200  # "both" is not the author: another person may approve
    published = api.post(f"{url}/publish", json={}, headers=bearer("reviewer"))
    assert published.status_code == 200, published.get_json()
    assert published.get_json()["state"] == "published"
    versions = api.get("/v1/rulesets/test.min-age", headers=bearer("decider")).get_json()
    assert [v["version"] for v in versions["versions"]] == ["2019-01-01", "2027-01-01"]
    decided = api.post("/v1/decisions", json={"ruleset": "test.min-age", "as_of": "2027-01-02",
                                              "facts": {"candidate_id": "T5", "age": 20}},
                       headers=bearer("decider")).get_json()
    assert decided["outcome"] == "not_eligible"
    assert decided["rulesets"][0]["version"] == "2027-01-01"
    trail = api.get(f"{url}/trail", headers=bearer("auditor")).get_json()["items"]
    assert [r["action"] for r in trail][-3:] == ["submitted", "approved", "published"]
    assert trail[-2]["actor"] == "both" and trail[-1]["actor"] == "reviewer"
    assert api.get("/v1/trail", headers=bearer("author")).status_code == 403
    assert len(api.get("/v1/trail", headers=bearer("auditor")).get_json()["items"]) == len(trail)


def test_four_eyes_over_http(api):
    answer = api.post("/v1/drafts", json=DRAFT, headers=bearer("both"))
    url = f"/v1/drafts/{answer.get_json()['draft_id']}"
    refused = api.post(f"{url}/submit", json={"reason": "x"}, headers=bearer("both"))
    assert refused.status_code == 409 and "does not check" in refused.get_json()["detail"]
    assert api.post(f"{url}/review", json={"decision": "approve"},
                    headers=bearer("both")).status_code == 403


def test_an_impact_run_reports_progress_and_its_result(api):
    draft = started(api)
    url = f"/v1/drafts/{draft['draft_id']}"
    text = draft["content"].replace("require: age >= 18", "require: age >= 21")
    api.put(url, json={"content": text}, headers=bearer("author"))
    api.post(f"{url}/cover", headers=bearer("author"))
    assert api.post(f"{url}/impact", json={"log": 10},
                    headers=bearer("author")).status_code == 403  # the log needs audit
    started_run = api.post(f"{url}/impact", json={"pool": 40}, headers=bearer("reviewer"))
    assert started_run.status_code == 202, started_run.get_json()
    location = started_run.headers["Location"]
    deadline = time.monotonic() + 240
    while True:
        run = api.get(location, headers=bearer("reviewer")).get_json()
        if run["state"] != "running" or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert run["state"] == "done", run
    assert run["done"] == run["total"] == 4 + 40  # two cases on two days, and the pool
    cases = run["report"]["cases"]
    assert (cases["from"], cases["to"], cases["cases"]) == ("2019-01-01", "2027-01-01", 4)
    # both versions decide every case: the 18-year-old is no longer eligible (on either of
    # the case's days), the 17-year-old was not and is not
    assert {(o["from"], o["to"]): o["count"] for o in cases["outcomes"]} == {
        ("eligible", "not_eligible"): 2, ("not_eligible", "not_eligible"): 2}
    assert run["report"]["pool"]["cases"] == 40
    # Its examples carry their texts, written where the draft's version was loaded (the review
    # page reads them when no catalog has that version): titles and why-nots, not rule keys.
    example = cases["examples"]["outcome eligible -> not_eligible"][0]
    unmet = [r for r in example["to"]["requirements"] if not r["met"]]
    assert unmet[0]["title"]["fr"] and "21" in unmet[0]["because"]["en"], unmet
    assert example["from"]["requirements"][0]["title"] == unmet[0]["title"]
    sign_in(api, "reviewer")
    review = api.get(f"/drafts/{draft['draft_id']}/review").get_data(as_text=True)
    shown = review.split('id="impact-cases"')[1].split("</article>")[0]
    assert "Examples: the outcome changes from" in shown, shown[:3000]
    assert unmet[0]["because"]["en"].replace("'", "&#39;") in shown


def test_an_impact_run_over_a_stored_pool(api):
    """A pool stored for draws (`decisions pool store`) decided with both versions on the
    draft's first day; an unknown or too large pool, or an id no pool can have, is a 422."""
    import hashlib

    import orjson

    from service.store.draws import save_pool

    draft = started(api)
    url = f"/v1/drafts/{draft['draft_id']}"
    text = draft["content"].replace("require: age >= 18", "require: age >= 21")
    api.put(url, json={"content": text}, headers=bearer("author"))
    lines = [orjson.dumps({"candidate_id": f"S{age}", "age": age})
             for age in (17, 19, 20, 30)]
    store = api.application.extensions["decisions"].store
    save_pool(store, "spring", lines, hashlib.sha256(b"\n".join(lines)).hexdigest(), "tests")
    for bad, said in (("autumn", "no stored pool 'autumn'"),
                      ("spr\x00ing", "must not hold a control character")):
        refused = api.post(f"{url}/impact", json={"stored_pool": bad},
                           headers=bearer("reviewer"))
        assert refused.status_code == 422 and said in refused.get_json()["detail"], \
            refused.get_json()
    started_run = api.post(f"{url}/impact", json={"stored_pool": "spring"},
                           headers=bearer("reviewer"))
    assert started_run.status_code == 202, started_run.get_json()
    deadline = time.monotonic() + 240
    while (run := api.get(started_run.headers["Location"], headers=bearer("reviewer"))
           .get_json())["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert run["state"] == "done", run
    stored = run["report"]["stored"]
    assert run["total"] == run["report"]["cases"]["cases"] + 4 and stored["cases"] == 4
    # 19 and 20 were old enough at 18 and are not at 21; 17 never was, 30 still is.
    assert {(o["from"], o["to"]): o["count"] for o in stored["outcomes"]} == {
        ("eligible", "not_eligible"): 2, ("not_eligible", "not_eligible"): 1,
        ("eligible", "eligible"): 1}
    assert [e["case"] for e in stored["examples"]["outcome eligible -> not_eligible"]] == [
        "spring #2", "spring #3"]


def test_a_case_is_named_in_english_and_french_or_in_english_only(api):
    url = f"/v1/drafts/{started(api)['draft_id']}"
    body = {"as_of": "2027-01-01", "facts": {"candidate_id": "T3", "age": 30},
            "expect": {"outcome": "eligible"}}
    both = api.post(f"{url}/cases", json={**body, "name": {
        "en": "A candidate of 30 is old enough", "fr": "Un candidat de 30 ans a l'âge requis"}},
        headers=bearer("author"))
    assert both.status_code == 200, both.get_json()
    assert ('  - name:\n      en: "A candidate of 30 is old enough"\n'
            '      fr: "Un candidat de 30 ans a l\'âge requis"\n    as_of: 2027-01-01\n') \
        in both.get_json()["cases_content"]
    results = both.get_json()["check"]["cases"]["results"]
    named = next(r for r in results if r["name"] == "A candidate of 30 is old enough")
    assert named["names"] == {"en": "A candidate of 30 is old enough",
                              "fr": "Un candidat de 30 ans a l'âge requis"}
    assert named["as_of"] == "2027-01-01" and named["passed"]
    # the cases the fixture wrote in English only: their names are English alone
    assert {"en": "A candidate of 18 is old enough"} in [r["names"] for r in results]
    for name in ({"fr": "Un candidat de 31 ans a l'âge requis"},
                 {"en": "A candidate of 31 is old enough", "de": "Ein Kandidat von 31 Jahren"},
                 {"en": "A candidate of 31 is old enough", "fr": "Trop bref"}, "Too short"):
        refused = api.post(f"{url}/cases", json={**body, "name": name}, headers=bearer("author"))
        assert refused.status_code == 422 and "name" in refused.get_json()["errors"], name
    english = api.post(f"{url}/cases", json={**body, "name": "A candidate of 31 is old enough"},
                       headers=bearer("author"))
    assert '  - name: "A candidate of 31 is old enough"\n' in english.get_json()["cases_content"]


def test_the_workbench_refuses_in_french_when_french_is_asked_for(api):
    """Its field messages and its details said from a template (tests/http_api/
    test_problem_details.py), with the field paths unchanged."""
    url = f"/v1/drafts/{started(api)['draft_id']}"
    fr = {**bearer("author"), "Accept-Language": "fr"}
    unsaid = api.post(f"{url}/submit", json={"reason": " "}, headers=fr).get_json()
    assert unsaid["status"] == 422
    assert unsaid["errors"] == {"reason": ["dites pourquoi ce changement est fait"]}
    other = api.post(f"{url}/submit", json={"reason": "mine"},
                     headers={**bearer("author2"), "Accept-Language": "fr"}).get_json()
    assert other["status"] == 403 and other["detail"].startswith("l'ébauche d-"), other
    assert "seul son auteur la soumet" in other["detail"]
    missing = api.get("/v1/drafts/d-nothing", headers=fr).get_json()
    assert missing["detail"] == "aucune ébauche « d-nothing »"
