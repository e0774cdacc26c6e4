"""POST /v1/decisions and /v1/decisions/batch: decided, logged before the answer, localized, and
every error in the one problem+json shape."""

from __future__ import annotations

import datetime as dt
import io

import orjson
import pytest

from service.decisions import localized
from service.store import StoreUnavailableError
from tests.apps import bearer
from tests.conftest import PROFILE

DAY = "2019-07-15"
REQUEST = {"ruleset": "oinp.hcp.tech-draw", "facts": PROFILE, "as_of": DAY}


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.data
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status and body["type"].startswith("urn:decisions:problem:")
    assert body["title"] and body["detail"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


def test_a_decision_is_created_logged_and_answered_whole(client, app, catalog, engine):
    response = client.post("/v1/decisions", json=REQUEST, headers=bearer("decider"))
    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["Location"] == f"/v1/decisions/{body['decision_id']}"

    record = app.extensions["decisions"].store.get(body["decision_id"])
    assert record is not None, "answered but not in the log"
    logged = orjson.loads(record.decision)
    service = app.extensions["decisions"]
    # The response is the logged decision with its rule texts filled in, in English.
    assert body == localized(service.shown(logged), "en")
    # The log holds the decision without the rule texts, and keeps each version it names.
    assert all("title" not in f and "reference" not in f for f in logged["fired"])
    kept = service.store.version_contents(r["sha256"] for r in logged["rulesets"])
    assert set(kept) == {r["sha256"] for r in logged["rulesets"]}
    assert len(record.decision) < 25_000
    assert orjson.loads(record.facts) == PROFILE and record.caller == "decider"
    assert record.request_id == response.headers["X-Request-ID"]
    from service.decisions import decide
    expected = decide(catalog, engine, "oinp.hcp.tech-draw", PROFILE, dt.date(2019, 7, 15))
    assert body["outcome"] == expected["outcome"]
    assert body["rulesets"] == [{k: r[k] for k in ("id", "version", "sha256", "as", "outcome",
                                                   "met")} for r in expected["rulesets"]]


def test_texts_follow_accept_language(client, catalog):
    headers = {**bearer("decider"), "Accept-Language": "fr-CA,fr;q=0.9,en;q=0.5"}
    response = client.post("/v1/decisions", json=REQUEST, headers=headers)
    english = client.post("/v1/decisions", json=REQUEST, headers=bearer("decider")).get_json()
    body = response.get_json()
    assert response.headers["Content-Language"] == "fr"
    assert "Accept-Language" in response.headers["Vary"]
    title = catalog.in_force("oinp.hcp.tech-draw", dt.date(2019, 7, 15)).title
    assert (body["title"], english["title"]) == (title["fr"], title["en"])
    assert body["outcome"] == english["outcome"]  # codes are not translated


@pytest.mark.parametrize("ruleset", ["oinp.hcp", "oinp.hcp.tech-draw"])
def test_a_program_revoked_on_the_decision_date_is_answered_and_explained(client, ruleset):
    """Ontario revoked Human Capital Priorities from 2026-05-30 (O. Reg. 47/26): a decision as of
    today is an explained 'revoked' naming the regulation, in both languages, never 'meets' and
    never a 404; the day before, the old criteria still apply."""
    request = {"ruleset": ruleset, "facts": PROFILE, "as_of": "2026-12-02"}
    for lang, words in (("en", ("O. Reg. 47/26", "revoked")),
                        ("fr", ("Règl. de l'Ont. 47/26", "abrogé"))):
        response = client.post("/v1/decisions", json=request,
                               headers={**bearer("decider"), "Accept-Language": lang})
        assert response.status_code == 201, response.data
        body = response.get_json()
        assert body["outcome"] == "revoked" and words[1] in body["outcome_title"].lower()
        [requirement] = body["requirements"]
        assert requirement["rule"] == "in-force" and requirement["met"] is False
        assert all(w in requirement["because"] for w in words[:1])
        assert requirement["reference"] == "https://www.ontario.ca/laws/regulation/r26047"
        assert body["rulesets"][-1]["version"] == "2026-05-30"
    # a fact an earlier version took (declared by a ruleset it included) is still taken
    extra = {**request, "facts": {**PROFILE, "authorized_to_work_in_canada": True}}
    assert client.post("/v1/decisions", json=extra, headers=bearer("decider")).status_code == 201
    before = client.post("/v1/decisions", json={**request, "as_of": "2026-05-29"},
                         headers=bearer("decider")).get_json()
    assert before["outcome"] == "meets_criteria"


CELPIP = {"test": "celpip", "reading": 9, "writing": 9, "listening": 9, "speaking": 9}


@pytest.mark.parametrize(("facts", "path", "words"), [
    # an IELTS (English) first language and a CELPIP (English) second: one language twice
    ({**PROFILE, "first_language": {**CELPIP, "test": "ielts", "reading": 8.0, "writing": 7.5,
                                    "listening": 8.5, "speaking": 7.5},
      "second_language": CELPIP}, "facts.second_language.test", "other official language"),
    # a single candidate with an accompanying spouse
    ({**PROFILE, "spouse_accompanying": True}, "facts.marital_status", "single, divorced"),
    ({**PROFILE, "marital_status": "divorced", "spouse_is_citizen_or_pr": True},
     "facts.marital_status", "no spouse or common-law partner"),
])
def test_facts_that_contradict_each_other_are_refused_with_the_field(client, facts, path,
                                                                      words):
    """Issue 18 items 4 and 5: such a profile used to earn second-language or spouse points;
    the contract's checks refuse it before any ruleset decides."""
    for ruleset in ("express-entry.crs", "express-entry.fsw.grid", "oinp.hcp.tech-draw"):
        response = client.post("/v1/decisions", json={**REQUEST, "ruleset": ruleset,
                                                      "facts": facts}, headers=bearer("decider"))
        body = problem(response, 422)
        assert words in " ".join(body["errors"][path]), body
    french = {**PROFILE, "second_language": {**CELPIP, "test": "nclc"}}
    assert client.post("/v1/decisions", json={**REQUEST, "facts": french},
                       headers=bearer("decider")).status_code == 201


def test_an_undated_tef_result_is_refused_from_the_day_tef_changed_scale(client):
    """Issue 18 item 6: TEF Canada writing 400 is NCLC 10 on the old scale and NCLC 6 on the /699
    scale of tests from 2023-12-11; undated, it was read on the old scale and could be inflated."""
    tef = {"test": "tef", "reading": 300, "writing": 400, "listening": 350, "speaking": 400}
    facts = {**PROFILE, "first_language": tef}
    for day, status in (("2023-12-10", 201), ("2023-12-11", 422), ("2026-12-02", 422)):
        response = client.post("/v1/decisions", json={"ruleset": "express-entry.crs",
                                                      "facts": facts, "as_of": day},
                               headers=bearer("decider"))
        assert response.status_code == status, (day, response.get_json())
    body = problem(response, 422)
    assert "new scale (/699)" in body["errors"]["facts.first_language.test_date"][0]
    dated = {**facts, "first_language": {**tef, "test_date": "2025-09-01"}}
    response = client.post("/v1/decisions", json={"ruleset": "express-entry.crs", "facts": dated,
                                                  "as_of": "2026-12-02"}, headers=bearer("decider"))
    assert response.status_code == 201


def test_no_answer_without_a_committed_log_record(client, app, monkeypatch):
    def broken_append(*_entries_and_versions):
        raise StoreUnavailableError("the decision log cannot be reached: OperationalError")

    monkeypatch.setattr(app.extensions["decisions"].store, "append", broken_append)
    body = problem(client.post("/v1/decisions", json=REQUEST, headers=bearer("decider")), 503)
    assert "decision_id" not in body and "outcome" not in body


def test_invalid_facts_give_422_with_paths_into_the_body(client):
    facts = {**PROFILE, "age": 130, "nickname": "Al",
             "first_language": {**PROFILE["first_language"], "reading": "nine"}}
    body = problem(client.post("/v1/decisions", json={**REQUEST, "facts": facts},
                               headers=bearer("decider")), 422)
    assert set(body["errors"]) == {"facts.age", "facts.nickname",
                                   "facts.first_language.reading"}


def test_a_422_is_in_french_when_french_is_asked_for_with_the_same_field_paths(client):
    """Issue 19, item 6: marshmallow's own messages, the service's and a contract check's come
    out in French through the catalogue (or the contract's own French); paths, values and codes
    stay as they are; English is unchanged."""
    facts = {**PROFILE, "age": 130, "nickname": "Al", "first_language": {
        **PROFILE["first_language"], "reading": "nine"}}
    facts.pop("marital_status")
    request = {**REQUEST, "facts": facts}
    english = problem(client.post("/v1/decisions", json=request, headers=bearer("decider")), 422)
    french = problem(client.post("/v1/decisions", json=request, headers={
        **bearer("decider"), "Accept-Language": "fr-CA,fr;q=0.9"}), 422)
    assert set(french["errors"]) == set(english["errors"]) == {
        "facts.age", "facts.nickname", "facts.first_language.reading", "facts.marital_status"}
    assert english["title"] == "Invalid facts" and french["title"] == "Faits non valides"
    assert english["errors"]["facts.marital_status"] == ["Missing data for required field."]
    assert french["errors"]["facts.marital_status"] == ["Champ obligatoire manquant."]
    assert french["errors"]["facts.nickname"] == ["Champ inconnu."]
    assert french["errors"]["facts.first_language.reading"] == ["Nombre non valide."]
    assert english["errors"]["facts.age"] == [
        "Must be greater than or equal to 0.0 and less than or equal to 120.0."]
    assert french["errors"]["facts.age"] == [
        "Doit être supérieur ou égal à 0 et inférieur ou égal à 120."]
    assert "Champ obligatoire manquant." in french["detail"]
    assert "Missing data" not in french["detail"] and french["type"] == english["type"]
    # The body's own schema (marshmallow) and a contract's check, in French too.
    body = problem(client.post("/v1/decisions", json={"facts": PROFILE, "as_of": 20190715},
                               headers={**bearer("decider"), "Accept-Language": "fr"}), 422)
    assert body["errors"] == {"ruleset": ["Champ obligatoire manquant."],
                              "as_of": ["Date non valide\u00a0: écrivez-la AAAA-MM-JJ."]}
    divorced = {**PROFILE, "marital_status": "divorced", "spouse_is_citizen_or_pr": True}
    checked = problem(client.post("/v1/decisions", json={**REQUEST, "facts": divorced},
                                  headers={**bearer("decider"), "Accept-Language": "fr"}), 422)
    [message] = checked["errors"]["facts.marital_status"]
    assert message.startswith("un candidat célibataire, divorcé, séparé ou veuf n'a pas d'époux")


def test_an_address_nothing_answers_is_a_problem_in_the_language_asked_for(client):
    english = problem(client.get("/v1/nothing-here", headers=bearer("decider")), 404)
    french = problem(client.get("/v1/nothing-here", headers={
        **bearer("decider"), "Accept-Language": "fr"}), 404)
    assert english["title"] == "Not Found"
    assert (french["title"], french["detail"]) == ("Introuvable", "Il n'y a rien à cette adresse.")
    moved = problem(client.delete("/v1/decisions", headers={
        **bearer("decider"), "Accept-Language": "fr"}), 405)
    assert moved["title"] == "Méthode non permise"


def test_a_string_with_a_control_character_is_refused_with_its_path(client):
    """"2173\n" once passed the NOC pattern (re.match: `$` matches before a final newline) and
    was decided unlike "2173"; alone or in a batch it is now a 422 naming the field."""
    for noc in ("2173\n", "21\x0073"):
        facts = {**PROFILE, "primary_noc": noc}
        body = problem(client.post("/v1/decisions", json={**REQUEST, "facts": facts},
                                   headers=bearer("decider")), 422)
        assert set(body["errors"]) == {"facts.primary_noc"}
        assert "Control characters are not allowed" in body["errors"]["facts.primary_noc"][0]
    batch = client.post("/v1/decisions/batch", json={"items": [
        {**REQUEST, "facts": {**PROFILE, "primary_noc": "2173\n"}}, REQUEST]},
        headers=bearer("decider")).get_json()
    assert [r["status"] for r in batch["results"]] == [422, 201]
    assert set(batch["results"][0]["problem"]["errors"]) == {"items[0].facts.primary_noc"}


@pytest.mark.parametrize("payload, paths", [
    ({"facts": PROFILE}, {"ruleset"}),
    ({"ruleset": "oinp.hcp.tech-draw"}, {"facts"}),
    ({**REQUEST, "as_of": "15/07/2019"}, {"as_of"}),
    # Issue 17, 17e: only YYYY-MM-DD, though Python 3.11's fromisoformat takes the others.
    ({**REQUEST, "as_of": "20190715"}, {"as_of"}),
    ({**REQUEST, "as_of": "2019-W29-1"}, {"as_of"}),
    ({**REQUEST, "as_of": "2019-07-15T00:00:00"}, {"as_of"}),
    ({**REQUEST, "as_of": "２０１９-07-15"}, {"as_of"}),
    ({**REQUEST, "as_of": 20190715}, {"as_of"}),
    ({**REQUEST, "pinned": {"x": "1"}}, {"pinned"}),
    ({**REQUEST, "facts": [1, 2]}, {"facts"}),
    ({**REQUEST, "ruleset": "Not An Id"}, {"ruleset"}),
    ([REQUEST], {"body"}),
])
def test_a_body_that_breaks_the_schema_gives_422(client, payload, paths):
    body = problem(client.post("/v1/decisions", json=payload, headers=bearer("decider")), 422)
    assert set(body["errors"]) == paths


def test_unknown_ruleset_and_no_version_in_force_give_404(client):
    problem(client.post("/v1/decisions", json={**REQUEST, "ruleset": "oinp.hcp.tech-drawz"},
                        headers=bearer("decider")), 404)
    problem(client.post("/v1/decisions", json={**REQUEST, "as_of": "1990-01-01"},
                        headers=bearer("decider")), 404)


def test_malformed_json_gives_400(client):
    for raw in (b"{", b"", b'{"ruleset": NaN}', b"\xff\xfe"):
        problem(client.post("/v1/decisions", data=raw, content_type="application/json",
                            headers=bearer("decider")), 400)


@pytest.mark.parametrize("raw, path", [
    (b'{"ruleset": "oinp.hcp.tech-draw", "ruleset": "express-entry.crs", "facts": {}}',
     "ruleset"),
    (orjson.dumps(REQUEST)[:-1] + b', "facts": {"age": 1}}', "facts"),
    (orjson.dumps(REQUEST).replace(b'"age":29', b'"age":29,"age":99'), "facts.age"),
    (orjson.dumps(REQUEST).replace(b'"reading":9', b'"reading":9,"reading":4'),
     "facts.first_language.reading"),
    (b'{"items": [' + orjson.dumps(REQUEST) + b", "
     + orjson.dumps(REQUEST).replace(b'"age":29', b'"age":29,"age":99') + b"]}",
     "items[1].facts.age"),
])
def test_a_key_written_twice_in_one_object_gives_422_naming_it(client, raw, path):
    # Issue 17, 17f: orjson kept the last of them silently; the decision then differed from
    # what a reader of the body (or another parser) saw.
    url = "/v1/decisions/batch" if raw.startswith(b'{"items"') else "/v1/decisions"
    body = problem(client.post(url, data=raw, content_type="application/json",
                               headers=bearer("decider")), 422)
    assert set(body["errors"]) == {path}
    assert "more than once" in body["errors"][path][0]


def test_a_body_nested_as_deep_as_orjson_reads_is_refused_not_a_server_error(client):
    # orjson reads 1,024 levels, the stdlib parser that looks for duplicate keys fewer.
    deep = b'{"ruleset": "oinp.hcp.tech-draw", "facts": {"x": ' + b"[" * 1020 + b"]" * 1020 \
        + b"}}"
    response = client.post("/v1/decisions", data=deep, content_type="application/json",
                           headers=bearer("decider"))
    assert 400 <= response.status_code < 500, response.data[:300]


def test_equal_keys_in_different_objects_are_not_duplicates(client):
    same = {"items": [REQUEST, REQUEST]}
    assert client.post("/v1/decisions/batch", json=same,
                       headers=bearer("decider")).get_json()["succeeded"] == 2


def test_a_body_that_is_not_json_gives_415(client):
    problem(client.post("/v1/decisions", data=orjson.dumps(REQUEST),
                        content_type="text/plain", headers=bearer("decider")), 415)
    problem(client.post("/v1/decisions", data=b"ruleset=x", headers=bearer("decider")), 415)


def test_a_body_over_the_configured_limit_gives_413(make_app):
    client = make_app(max_body_bytes=2048).test_client()
    big = {**REQUEST, "facts": {**PROFILE, "candidate_id": "x" * 4096}}
    problem(client.post("/v1/decisions", json=big, headers=bearer("decider")), 413)
    assert client.post("/v1/decisions", json=REQUEST,
                       headers=bearer("decider")).status_code == 201


def streamed(client, body: bytes, url: str = "/v1/decisions"):
    """POST ``body`` as a server hands on a chunked one: no Content-Length, the stream ended
    by the server (``wsgi.input_terminated``, as gunicorn sets it)."""
    return client.post(url, input_stream=io.BytesIO(body), content_type="application/json",
                       headers={**bearer("decider"), "Transfer-Encoding": "chunked"},
                       environ_overrides={"wsgi.input_terminated": True})


def test_a_streamed_body_over_the_limit_gives_413_not_its_prefix_decided(make_app):
    # Issue 17, 17a: a chunked body was cut at the limit and the prefix decided (201), when
    # the prefix was valid JSON (here: the request, then spaces).
    client = make_app(max_body_bytes=2048).test_client()
    request = orjson.dumps(REQUEST)
    assert len(request) < 2048
    assert streamed(client, request).status_code == 201
    assert streamed(client, request.ljust(2048)).status_code == 201  # exactly the limit
    problem(streamed(client, request.ljust(2049)), 413)
    problem(streamed(client, request.ljust(10_000)), 413)


def test_wrong_method_and_unknown_path(client):
    body = problem(client.delete("/v1/decisions", headers=bearer("everything")), 405)
    assert "Method" in body["title"]
    problem(client.get("/v1/no-such-thing", headers=bearer("everything")), 404)


def test_reading_the_batch_route_is_a_405_naming_post_not_an_unknown_decision(client):
    # Issue 17 item 17g: GET /v1/decisions/batch answered "no decision 'batch'" (404).
    response = client.get("/v1/decisions/batch", headers=bearer("everything"))
    body = problem(response, 405)
    assert "POST" in response.headers["Allow"] and "batch" not in body["detail"]
    assert client.get("/v1/decisions/export", headers=bearer("auditor")).status_code == 200
    problem(client.get("/v1/decisions/no-such-id", headers=bearer("auditor")), 404)


def test_request_ids_are_echoed_when_sane_and_made_otherwise(client):
    sent = client.post("/v1/decisions", json=REQUEST,
                       headers={**bearer("decider"), "X-Request-ID": "caller-abc.123"})
    assert sent.headers["X-Request-ID"] == "caller-abc.123"
    unsafe = client.get("/healthz", headers={"X-Request-ID": "bad id; with spaces"})
    assert unsafe.headers["X-Request-ID"] != "bad id; with spaces"
    assert len(unsafe.headers["X-Request-ID"]) == 32
    assert client.get("/healthz").headers["X-Request-ID"] != unsafe.headers["X-Request-ID"]


# ------------------------------------------------------------------------------------- batch
def test_a_batch_answers_each_item_in_order(client, app):
    items = [REQUEST, {"ruleset": "no.such-ruleset", "facts": PROFILE}, "not an object",
             {**REQUEST, "facts": {**PROFILE, "age": -1}}, {**REQUEST, "extra": 1}, REQUEST]
    response = client.post("/v1/decisions/batch", json={"items": items},
                           headers={**bearer("decider"), "X-Request-ID": "batch-1"})
    assert response.status_code == 200
    body = response.get_json()
    assert [r["index"] for r in body["results"]] == list(range(6))
    assert [r["status"] for r in body["results"]] == [201, 404, 422, 422, 422, 201]
    assert (body["succeeded"], body["failed"]) == (2, 4)
    assert body["results"][2]["problem"]["errors"] == {"items[2]": ["Invalid input type."]}
    assert set(body["results"][3]["problem"]["errors"]) == {"items[3].facts.age"}
    assert set(body["results"][4]["problem"]["errors"]) == {"items[4].extra"}

    store = app.extensions["decisions"].store
    assert [r.request_id for r in store.scan() if r.request_id.startswith("batch-1/")] == [
        "batch-1/0", "batch-1/5"]
    for index in (0, 5):
        decision = body["results"][index]["decision"]
        record = store.get(decision["decision_id"])
        assert record.request_id == f"batch-1/{index}"
        assert decision == localized(
            app.extensions["decisions"].shown(orjson.loads(record.decision)), "en")


def test_a_batch_holds_one_to_a_thousand_items(client):
    problem(client.post("/v1/decisions/batch", json={"items": []},
                        headers=bearer("decider")), 422)
    problem(client.post("/v1/decisions/batch", json={"items": [REQUEST] * 1001},
                        headers=bearer("decider")), 422)
    problem(client.post("/v1/decisions/batch", json=[REQUEST], headers=bearer("decider")), 422)


def test_a_full_batch_of_a_thousand_is_decided_and_logged(client, app):
    store = app.extensions["decisions"].store
    before = store.count()
    items = [{**REQUEST, "facts": {**PROFILE, "candidate_id": f"C-{i:04d}"}}
             for i in range(1000)]
    body = client.post("/v1/decisions/batch", json={"items": items},
                       headers=bearer("decider")).get_json()
    assert body["succeeded"] == 1000
    assert store.count() == before + 1000 and store.verify().intact


def test_an_engine_crash_costs_one_request_and_is_not_logged(make_app, monkeypatch):
    from service.engine import CRASH_ENV

    monkeypatch.setenv(CRASH_ENV, "C-CRASH")  # the engine process segfaults on this candidate
    app = make_app(isolate_engine=True)
    client = app.test_client()
    crash = {**REQUEST, "facts": {**PROFILE, "candidate_id": "C-CRASH"}}
    problem(client.post("/v1/decisions", json=crash, headers=bearer("decider")), 503)
    after = client.post("/v1/decisions", json=REQUEST, headers=bearer("decider"))
    assert after.status_code == 201
    store = app.extensions["decisions"].store
    assert [r.decision_id for r in store.scan()] == [after.get_json()["decision_id"]]


def test_a_number_in_exponent_form_is_decided_like_any_other(client):
    """`reading: 1e-7` (valid JSON, within the contract) once failed in the engine with error 204:
    durable-rules cannot parse an exponent after a bare digit. Sent as raw JSON text, it is
    decided, alone and in a batch, and decided as the engine must: like any reading below 1."""
    facts = orjson.dumps({**REQUEST, "facts": {**PROFILE, "first_language": {
        **PROFILE["first_language"], "reading": 0}}})
    tiny = facts.replace(b'"reading":0', b'"reading":1e-7')
    assert tiny != facts
    headers = {**bearer("decider"), "Content-Type": "application/json"}
    zero = client.post("/v1/decisions", data=facts, headers=headers).get_json()
    single = client.post("/v1/decisions", data=tiny, headers=headers)
    assert single.status_code == 201, single.data
    batch = client.post("/v1/decisions/batch", data=b'{"items": [' + tiny + b"]}",
                        headers=headers).get_json()
    assert batch["results"][0]["status"] == 201, batch
    for decision in (single.get_json(), batch["results"][0]["decision"]):
        assert (decision["outcome"], decision["scores"]) == (zero["outcome"], zero["scores"])


def test_facts_nested_500_deep_cost_their_batch_item_only(make_app):
    """They once failed pickling on the way to the engine process: a 500 for the whole batch."""
    from service.rulesets import MAX_FACTS_DEPTH

    client = make_app(isolate_engine=True).test_client()
    deep = top = {}
    for _ in range(500):
        deep["a"] = deep = {}
    items = [{**REQUEST, "facts": {**PROFILE, "second_language": top}}, REQUEST]
    response = client.post("/v1/decisions/batch", json={"items": items},
                           headers=bearer("decider"))
    assert response.status_code == 200, response.data
    body = response.get_json()
    assert [r["status"] for r in body["results"]] == [422, 201]
    assert list(body["results"][0]["problem"]["errors"]) == [
        "items[0].facts.second_language" + ".a" * MAX_FACTS_DEPTH]
    problem(client.post("/v1/decisions", json=items[0], headers=bearer("decider")), 422)


def test_a_batch_item_that_crashes_the_engine_costs_that_item_only(make_app, monkeypatch):
    from service.engine import CRASH_ENV

    monkeypatch.setenv(CRASH_ENV, "C-CRASH")
    app = make_app(isolate_engine=True)
    crash = {**REQUEST, "facts": {**PROFILE, "candidate_id": "C-CRASH"}}
    response = app.test_client().post("/v1/decisions/batch", json={
        "items": [REQUEST, crash, REQUEST]}, headers=bearer("decider"))
    body = response.get_json()
    assert [r["status"] for r in body["results"]] == [201, 503, 201]
    assert "exit code -11" in body["results"][1]["problem"]["detail"]
    store = app.extensions["decisions"].store
    assert sorted(r.decision_id for r in store.scan()) == sorted(
        body["results"][i]["decision"]["decision_id"] for i in (0, 2))


def test_a_hung_engine_costs_its_request_a_503_not_the_worker(make_app, monkeypatch):
    """Before the engine had a deadline, the request waited until gunicorn killed the worker (an
    HTML 500 after 60 s) and the engine process stayed behind."""
    import time

    from service.engine import HANG_ENV

    monkeypatch.setenv(HANG_ENV, "C-HANG")
    app = make_app(isolate_engine=True, engine_timeout=2)
    client = app.test_client()
    hung = {**REQUEST, "facts": {**PROFILE, "candidate_id": "C-HANG"}}
    started = time.monotonic()
    body = problem(client.post("/v1/decisions", json=hung, headers=bearer("decider")), 503)
    assert time.monotonic() - started < 8
    assert "did not answer within 2 s" in body["detail"]
    assert client.post("/v1/decisions", json=REQUEST, headers=bearer("decider")).status_code \
        == 201


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_answers_hold_to_the_documented_schemas(client, lang):
    """Decisions are written as built, not dumped field by field: the documented schemas (the
    OpenAPI document) must still describe every answer exactly, no field missing or extra."""
    from service.web import schemas as s

    headers = {**bearer("decider"), "Accept-Language": lang}
    not_met = {**REQUEST, "facts": {**PROFILE, "primary_noc": "0011"}}
    for request_ in (REQUEST, not_met):
        body = client.post("/v1/decisions", json=request_, headers=headers).get_json()
        assert s.DecisionSchema().validate(body) == {}
        assert isinstance(body["title"], str) and all(
            isinstance(r["because"], str) for r in body["requirements"] if not r["met"])
    assert body["outcome"] != "eligible" and not all(r["met"] for r in body["requirements"])
    batch = client.post("/v1/decisions/batch", json={"items": [REQUEST, not_met, "bad"]},
                        headers=headers).get_json()
    assert s.BatchResponseSchema().validate(batch) == {}
    assert [r["status"] for r in batch["results"]] == [201, 201, 422]


def test_a_work_history_that_cannot_be_is_refused_with_the_path_of_the_job(client):
    """Issue 20: a job that ends before it starts, or starts after the decision date, is refused
    (422) at its place in the list; a consistent history is decided."""
    job = {"noc": "21231", "noc_version": "2021", "start": "2024-01-01", "end": "2024-06-30",
           "hours_per_week": 30, "in_canada": True}
    history = [job, {**job, "end": None}, {**job, "end": "2023-12-31"},
               {**job, "start": "2024-12-02", "end": None}]
    request = {"ruleset": "express-entry.categories", "as_of": "2024-12-01",
               "facts": {**PROFILE, "work_history": history}}
    body = problem(client.post("/v1/decisions", json=request, headers=bearer("decider")), 422)
    assert set(body["errors"]) == {"facts.work_history.2.end", "facts.work_history.3.start"}
    request["facts"]["work_history"] = history[:2]
    response = client.post("/v1/decisions", json=request, headers=bearer("decider"))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["outcome"] == "eligible_for_a_category"  # 6 months of STEM
