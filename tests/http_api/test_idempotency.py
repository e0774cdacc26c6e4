"""Idempotency-Key on POST /v1/decisions: a decision sent again (as docs/api.md tells clients to
after a 503 or a lost answer) gets the first answer and is logged once; the key cannot be reused
for another request; the batch call refuses one. On SQLite and on PostgreSQL."""

from __future__ import annotations

import threading

import pytest

from service.store import IdempotencyKey, IdempotencyKeyTaken, Store
from tests.apps import bearer
from tests.conftest import PROFILE
from tests.databases import SYNTHETIC_VERSION, synthetic_entry

REQUEST = {"ruleset": "oinp.hcp.tech-draw", "facts": PROFILE, "as_of": "2019-07-15"}


@pytest.fixture
def client(make_app, database_url):
    app = make_app(database_url=database_url)
    client = app.test_client()
    client.store = app.extensions["decisions"].store
    return client


def send(client, body=REQUEST, key: str | None = "key-1", who: str = "decider", **headers):
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post("/v1/decisions", json=body, headers={**bearer(who), **headers})


def test_the_same_request_sent_twice_is_decided_and_logged_once(client):
    first = send(client)
    again = send(client)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.get_json() == first.get_json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert client.store.count() == 1
    # Same request, other spelling: key order does not make another request.
    reordered = {"as_of": REQUEST["as_of"], "facts": PROFILE, "ruleset": REQUEST["ruleset"]}
    assert send(client, reordered).get_json()["decision_id"] == first.get_json()["decision_id"]
    # The answer follows this request's language, the decision is the first one.
    french = send(client, **{"Accept-Language": "fr"})
    assert french.headers["Content-Language"] == "fr"
    assert french.get_json()["decision_id"] == first.get_json()["decision_id"]
    assert client.store.count() == 1


def test_the_key_cannot_be_reused_for_another_request(client):
    first = send(client)
    other = send(client, {**REQUEST, "facts": {**PROFILE, "age": 45}})
    assert other.status_code == 422 and other.mimetype == "application/problem+json"
    body = other.get_json()
    assert body["type"] == "urn:decisions:problem:idempotencykeyreused"
    assert first.get_json()["decision_id"] in body["detail"]
    assert client.store.count() == 1


def test_keys_are_each_callers_own_and_a_new_key_is_a_new_decision(client):
    mine = send(client, who="decider")
    theirs = send(client, who="everything")
    assert mine.get_json()["decision_id"] != theirs.get_json()["decision_id"]
    fresh = send(client, key="key-2")
    assert fresh.get_json()["decision_id"] != mine.get_json()["decision_id"]
    unkeyed = [send(client, key=None) for _ in range(2)]
    assert len({r.get_json()["decision_id"] for r in unkeyed}) == 2
    assert client.store.count() == 5


def test_a_request_that_was_not_decided_does_not_use_its_key_up(client):
    unknown = send(client, {**REQUEST, "ruleset": "no.such-ruleset"})
    assert unknown.status_code == 404
    assert send(client).status_code == 201  # the same key, the request mended
    assert client.store.count() == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "with space", "é"])
def test_a_malformed_key_is_refused(client, key):
    response = client.post("/v1/decisions", json=REQUEST, headers={
        **bearer("decider"), "Idempotency-Key": key.encode().decode("latin-1")})
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"Idempotency-Key"}
    assert client.store.count() == 0


def test_the_batch_call_refuses_a_key(client):
    response = client.post("/v1/decisions/batch", json={"items": [REQUEST]},
                           headers={**bearer("decider"), "Idempotency-Key": "batch-1"})
    assert response.status_code == 422
    assert "Idempotency-Key" in response.get_json()["errors"]
    assert client.store.count() == 0


def test_the_header_is_in_the_openapi_document(client):
    spec = client.get("/openapi.json").get_json()
    parameters = spec["paths"]["/v1/decisions"]["post"]["parameters"]
    [header] = [p for p in parameters if p["in"] == "header"]
    assert header["name"] == "Idempotency-Key" and not header.get("required")
    assert header["schema"]["maxLength"] == 255


# ----------------------------------------------------------------------------------- the store
def test_two_sends_at_once_log_one_record(store):
    """The race the service's look-up cannot close: both find no key, both append. The key is
    checked again under the append lock, so the second append writes nothing."""
    key = IdempotencyKey("decider", "race-1", "ab" * 32)
    stores = [Store(store.url) for _ in range(4)]  # separate engines, as workers have
    start = threading.Barrier(len(stores))
    outcomes: list[object] = [None] * len(stores)

    def send_once(i: int) -> None:
        start.wait()
        try:
            outcomes[i] = stores[i].append([synthetic_entry(i)], [SYNTHETIC_VERSION], key)
        except IdempotencyKeyTaken as taken:
            outcomes[i] = taken

    threads = [threading.Thread(target=send_once, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for own in stores:
        own.close()
    written = [o for o in outcomes if isinstance(o, list)]
    taken = [o for o in outcomes if isinstance(o, IdempotencyKeyTaken)]
    assert len(written) == 1 and len(taken) == len(stores) - 1
    assert store.count() == 1
    [record] = store.scan()
    assert {t.decision_id for t in taken} == {record.decision_id}
    assert store.idempotent("decider", "race-1") == (record.decision_id, "ab" * 32)
