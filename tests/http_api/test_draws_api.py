"""The draw endpoints: hold a draw over a JSON Lines pool or a stored pool, read it, page its
invitations, explain one candidate; idempotent by draw id; roles, media types, problems."""

from __future__ import annotations

import hashlib

import orjson
import pytest
import sqlalchemy as sa

from service.store import draws as draw_store
from service.store.tables import draw_candidates
from tests.apps import bearer
from tests.test_draws import POOL, small_draw_rulesets

JSONL = "application/jsonl"
BODY = b"".join(orjson.dumps(c) + b"\n" for c in POOL)


@pytest.fixture(scope="module")
def rulesets(tmp_path_factory):
    return str(small_draw_rulesets(tmp_path_factory.mktemp("draw-rulesets")))


@pytest.fixture
def client(make_app, rulesets):
    return make_app(rulesets_dir=rulesets).test_client()


def post_pool(client, query: str = "ruleset=test.draw.small&draw_id=d1", body: bytes = BODY,
              who: str = "decider", **headers):
    return client.post(f"/v1/draws?{query}", data=body, headers={
        **bearer(who), "Content-Type": JSONL, **headers})


def test_hold_read_and_page_a_draw(client):
    response = post_pool(client)
    assert response.status_code == 201, response.get_json()
    assert response.headers["Location"].endswith("/v1/draws/d1")
    draw = response.get_json()
    assert draw["draw_id"] == "d1" and draw["replayed"] is False
    assert draw["cutoff"] == {"score": 449, "rank": 3, "tie_break_at": "2019-01-01T10:00:00Z",
                              "tie_break_applied": True}
    assert draw["counts"]["invited"] == 3 and draw["counts"]["tie_break"] == 1
    assert draw["caller"] == "decider" and draw["title"] == "A small test draw"

    read = client.get("/v1/draws/d1", headers={**bearer("auditor"), "Accept-Language": "fr"})
    assert read.status_code == 200 and read.get_json()["title"] == "Un petit tirage d'essai"
    assert read.get_json()["results_sha256"] == draw["results_sha256"]

    page = client.get("/v1/draws/d1/invitations?limit=2", headers=bearer("auditor")).get_json()
    assert [i["candidate_id"] for i in page["items"]] == ["B", "A"]
    rest = client.get(f"/v1/draws/d1/invitations?limit=2&cursor={page['next_cursor']}",
                      headers=bearer("auditor")).get_json()
    assert [i["candidate_id"] for i in rest["items"]] == ["C"] and rest["next_cursor"] is None
    decision_id = page["items"][0]["decision_id"]
    logged = client.get(f"/v1/decisions/{decision_id}", headers=bearer("auditor")).get_json()
    assert logged["candidate_id"] == "B" and logged["request_id"] == "draw:d1/1"


def test_a_candidate_not_invited_is_told_why_in_the_language_asked_for(client):
    post_pool(client)
    response = client.get("/v1/draws/d1/candidates/E",
                          headers={**bearer("decider"), "Accept-Language": "fr"})
    assert response.status_code == 200
    [outcome] = response.get_json()["outcomes"]
    assert outcome["status"] == "below_cutoff"
    assert outcome["detail"]["because"] == "444 points, sous le seuil de 449 points"
    f = client.get("/v1/draws/d1/candidates/F", headers=bearer("auditor")).get_json()
    [why] = f["outcomes"][0]["detail"]["requirements"]
    assert why["because"] == ("Province or territory where the candidate intends to live: "
                              "British Columbia, needs Ontario.")
    both = client.get("/v1/draws/d1/candidates/A", headers=bearer("auditor")).get_json()
    assert [o["status"] for o in both["outcomes"]] == ["invited", "duplicate"]
    missing = client.get("/v1/draws/d1/candidates/Z", headers=bearer("auditor"))
    assert missing.status_code == 404
    assert missing.mimetype == "application/problem+json"


def test_the_same_draw_id_returns_the_first_draw(client):
    first = post_pool(client).get_json()
    again = post_pool(client)
    assert again.status_code == 200 and again.get_json()["replayed"] is True
    assert again.get_json()["held_at"] == first["held_at"]
    conflict = post_pool(client, body=b"".join(orjson.dumps(c) + b"\n" for c in POOL[:3]))
    assert conflict.status_code == 409
    assert "another pool" in conflict.get_json()["detail"]


def test_a_draw_over_a_stored_pool(client):
    store = client.application.extensions["decisions"].store
    lines = [orjson.dumps(c) for c in POOL]
    draw_store.save_pool(store, "p1", lines, hashlib.sha256(BODY).hexdigest(), "tests")
    response = client.post("/v1/draws", json={"ruleset": "test.draw.small", "pool_id": "p1"},
                           headers=bearer("decider"))
    assert response.status_code == 201
    draw = response.get_json()
    assert draw["pool"] == {"size": 9, "sha256": hashlib.sha256(BODY).hexdigest(),
                            "source": "pool:p1"}
    assert draw["draw_id"].startswith("test.draw.small-")
    unknown = client.post("/v1/draws", json={"ruleset": "test.draw.small", "pool_id": "nope"},
                          headers=bearer("decider"))
    assert unknown.status_code == 404


@pytest.mark.parametrize("case, status", [
    ("auditor posts", 403), ("no token", 401), ("text body", 415),
    ("no ruleset", 422), ("unknown ruleset", 404), ("not a draw", 422),
    ("bad draw id", 422), ("unknown field", 422), ("query with json", 422),
    ("unknown draw", 404), ("bad cursor", 422)])
def test_problems(client, case, status):
    if case == "auditor posts":
        response = post_pool(client, who="auditor")
    elif case == "no token":
        response = client.post("/v1/draws?ruleset=test.draw.small", data=BODY,
                               headers={"Content-Type": JSONL})
    elif case == "text body":
        response = post_pool(client, **{"Content-Type": "text/plain"})
    elif case == "no ruleset":
        response = post_pool(client, query="draw_id=x")
    elif case == "unknown ruleset":
        response = post_pool(client, query="ruleset=test.draw.nope")
    elif case == "not a draw":
        response = post_pool(client, query="ruleset=oinp.hcp.tech-draw")
    elif case == "bad draw id":
        response = post_pool(client, query="ruleset=test.draw.small&draw_id=a/b")
    elif case == "unknown field":
        response = client.post("/v1/draws", json={"ruleset": "test.draw.small",
                                                  "pool_id": "p", "size": 3},
                               headers=bearer("decider"))
    elif case == "query with json":
        response = client.post("/v1/draws?ruleset=test.draw.small",
                               json={"ruleset": "test.draw.small", "pool_id": "p"},
                               headers=bearer("decider"))
    elif case == "unknown draw":
        response = client.get("/v1/draws/nope", headers=bearer("auditor"))
    else:
        post_pool(client)
        response = client.get("/v1/draws/d1/invitations?cursor=xyz", headers=bearer("auditor"))
    assert response.status_code == status, response.get_json()
    assert response.mimetype == "application/problem+json"


def test_the_draw_operations_are_in_the_openapi_document(client):
    spec = client.get("/openapi.json").get_json()
    post = spec["paths"]["/v1/draws"]["post"]
    assert set(post["requestBody"]["content"]) == {"application/json", "application/jsonl"}
    assert {"200", "201", "401", "403", "404", "409", "413", "415", "422"} <= set(
        post["responses"])
    assert {"/v1/draws/{draw_id}", "/v1/draws/{draw_id}/invitations",
            "/v1/draws/{draw_id}/candidates/{candidate_id}"} <= set(spec["paths"])


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_candidate_id_with_a_control_character_is_that_candidates_invalid_not_a_failed_draw(
        make_app, rulesets, database_url):
    # Issue 17, item 3: a pool holding a candidate id with NUL failed the whole draw (500) on
    # PostgreSQL, whose text cannot hold NUL.
    client = make_app(rulesets_dir=rulesets, database_url=database_url).test_client()
    bad = [{**POOL[0], "candidate_id": "A\u0000X"}, {**POOL[1], "candidate_id": "B\u0007"}]
    body = b"".join(orjson.dumps(c) + b"\n" for c in [*bad, *POOL])
    response = post_pool(client, body=body)
    assert response.status_code == 201, response.get_json()
    draw = response.get_json()
    assert draw["counts"]["invalid"] == 3 and draw["counts"]["pool"] == len(POOL) + 2
    assert draw["counts"]["invited"] == 3  # the others are held as before
    store = client.application.extensions["decisions"].store
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(draw_candidates).where(draw_candidates.c.position <= 2)
                            .order_by(draw_candidates.c.position)).all()
    assert [(r.position, r.candidate_id, r.status) for r in rows] == [
        (1, None, "invalid"), (2, None, "invalid")]
    assert orjson.loads(rows[0].detail)["problem"]["errors"] == {"candidate_id": [
        "must not hold a control character (U+0000-U+001F, U+007F-U+009F)"]}


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_stored_pool_id_with_a_control_character_is_a_422(make_app, rulesets, database_url):
    client = make_app(rulesets_dir=rulesets, database_url=database_url).test_client()
    response = client.post("/v1/draws", json={"ruleset": "test.draw.small", "pool_id": "p\u0000"},
                           headers=bearer("decider"))
    assert response.status_code == 422, response.get_json()
    assert set(response.get_json()["errors"]) == {"pool_id"}
