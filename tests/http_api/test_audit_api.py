"""The auditor's side: read a decision, list and filter the log page by page, export it, and
replay a decision with the ruleset versions it used."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import textwrap

import orjson
import pytest

from service.store import record_hash
from tests.apps import bearer, write_min_age
from tests.conftest import PROFILE

REQUEST = {"ruleset": "oinp.hcp.tech-draw", "facts": PROFILE, "as_of": "2019-07-15"}


def decide(client, candidate: str, **changes) -> dict:
    facts = {**PROFILE, "candidate_id": candidate, **changes}
    response = client.post("/v1/decisions", json={**REQUEST, "facts": facts},
                           headers=bearer("decider"))
    assert response.status_code == 201
    return response.get_json()


@pytest.fixture
def audit_client(make_app):
    """A fresh log holding five decisions: candidates A1..A5, A4 not meeting the criteria."""
    client = make_app().test_client()
    client.decided = [decide(client, f"A{i}", **({"primary_noc": "9999"} if i == 4 else {}))
                      for i in range(1, 6)]
    return client


def test_an_auditor_reads_a_decision_as_it_was_logged(audit_client):
    first = audit_client.decided[0]
    response = audit_client.get(f"/v1/decisions/{first['decision_id']}",
                                headers={**bearer("auditor"), "Accept-Language": "fr"})
    assert response.status_code == 200
    record = response.get_json()
    assert response.headers["Content-Language"] == "fr"
    assert record["seq"] == 1 and record["caller"] == "decider"
    assert record["facts"]["candidate_id"] == "A1"
    assert record["decision"]["outcome"] == first["outcome"]
    assert record["decision"]["title"] != first["title"]  # the same decision, read in French
    assert [r["id"] for r in record["rulesets"]] == [r["id"] for r in first["rulesets"]]
    assert all(len(r["sha256"]) == 64 for r in record["rulesets"])


def test_an_unknown_decision_is_404(audit_client):
    response = audit_client.get("/v1/decisions/nope", headers=bearer("auditor"))
    assert response.status_code == 404 and response.mimetype == "application/problem+json"
    assert audit_client.post("/v1/decisions/nope/replay",
                             headers=bearer("auditor")).status_code == 404


def ids(client, query: str = "", headers=None) -> list[str]:
    response = client.get(f"/v1/decisions{query}", headers=headers or bearer("auditor"))
    assert response.status_code == 200, response.get_json()
    return [item["candidate_id"] for item in response.get_json()["items"]]


def test_the_log_filters_by_outcome_candidate_ruleset_version_and_time(audit_client):
    odd_one = audit_client.decided[3]
    assert ids(audit_client) == ["A1", "A2", "A3", "A4", "A5"]
    assert ids(audit_client, f"?outcome={odd_one['outcome']}") == ["A4"]
    assert ids(audit_client, "?candidate_id=A2") == ["A2"]
    assert ids(audit_client, "?ruleset=oinp.hcp.tech-draw&version=2019-07-11") == [
        "A1", "A2", "A3", "A4", "A5"]
    assert ids(audit_client, "?ruleset=express-entry.crs") == []
    third = dt.datetime.fromisoformat(audit_client.decided[2]["decided_at"])
    after = ids(audit_client, f"?from={third.isoformat().replace('+00:00', 'Z')}")
    assert after[0] == "A3" and "A1" not in after
    assert ids(audit_client, "?to=2000-01-01T00:00:00") == []


def test_the_log_pages_with_cursors(audit_client):
    seen, query = [], "?limit=2"
    while True:
        body = audit_client.get(f"/v1/decisions{query}", headers=bearer("auditor")).get_json()
        seen += [item["candidate_id"] for item in body["items"]]
        if body["next_cursor"] is None:
            break
        query = f"?limit=2&cursor={body['next_cursor']}"
    assert seen == ["A1", "A2", "A3", "A4", "A5"]
    assert ids(audit_client, "?order=desc&limit=3") == ["A5", "A4", "A3"]


@pytest.mark.parametrize("query, field", [
    ("?cursor=garbage", "cursor"), ("?limit=0", "limit"), ("?limit=501", "limit"),
    ("?from=yesterday", "from"), ("?order=sideways", "order"), ("?colour=red", "colour")])
def test_a_bad_query_gives_422_naming_the_parameter(client, query, field):
    response = client.get(f"/v1/decisions{query}", headers=bearer("auditor"))
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {field}


def test_the_export_is_json_lines_whose_hashes_check_out(audit_client):
    response = audit_client.get("/v1/decisions/export", headers=bearer("auditor"))
    assert response.status_code == 200 and response.mimetype == "application/jsonl"
    lines = [orjson.loads(line) for line in response.data.splitlines()]
    assert [line["candidate_id"] for line in lines] == ["A1", "A2", "A3", "A4", "A5"]
    prev = "0" * 64
    for line in lines:  # the recipe of docs/operations.md, from the export alone
        row = {**line, "ruleset_id": line["ruleset"], "ruleset_version": line["version"],
               **{k: orjson.dumps(line[k], option=orjson.OPT_SORT_KEYS).decode()
                  for k in ("facts", "rulesets", "decision")}}
        assert line["prev_hash"] == prev
        assert record_hash(row) == line["record_hash"]
        prev = line["record_hash"]
    assert line["decision"]["title"] == {"en": line["decision"]["title"]["en"],
                                         "fr": line["decision"]["title"]["fr"]}
    only_a4 = audit_client.get("/v1/decisions/export?candidate_id=A4",
                               headers=bearer("auditor")).data.splitlines()
    assert len(only_a4) == 1


def test_replay_with_the_same_rules_is_identical(audit_client):
    decision_id = audit_client.decided[3]["decision_id"]
    response = audit_client.post(f"/v1/decisions/{decision_id}/replay",
                                 headers=bearer("auditor"))
    assert response.status_code == 200
    body = response.get_json()
    assert body["result"] == "identical" and body["differences"] == []
    assert {r["id"] for r in body["rulesets"]} >= {"oinp.hcp.tech-draw"}


@pytest.fixture
def min_age(make_app, tmp_path):
    """An app over a one-rule ruleset folder that tests edit (adults from 18)."""
    root = tmp_path / "rulesets"
    write_min_age(root, "2019-01-01", "2019-01-01")
    app = make_app(rulesets_dir=str(root))
    app.rulesets_root = root
    return app


def test_replay_reports_each_difference_when_a_version_was_edited_in_place(min_age):
    client = min_age.test_client()
    decided = client.post("/v1/decisions", json={
        "ruleset": "test.min-age", "facts": {"candidate_id": "B1", "age": 19},
        "as_of": "2020-01-01"}, headers=bearer("decider")).get_json()
    assert decided["outcome"] == "eligible"

    # Someone edits the version in place (the hash changes, the version name does not).
    write_min_age(min_age.rulesets_root, "2019-01-01", "2019-01-01", minimum=21)
    assert client.post("/v1/admin/reload", headers=bearer("admin")).status_code == 200
    body = client.post(f"/v1/decisions/{decided['decision_id']}/replay",
                       headers=bearer("auditor")).get_json()
    assert body["result"] == "different"
    paths = {d["path"] for d in body["differences"]}
    assert {"outcome", "rulesets[0].sha256", "requirements[0].met"} <= paths
    outcome = next(d for d in body["differences"] if d["path"] == "outcome")
    assert (outcome["logged"], outcome["replayed"]) == ("eligible", "not_eligible")


def test_a_correction_decides_from_now_on_and_the_log_replays_as_decided(min_age):
    """The way to fix a version that encoded the rules wrongly: a correction over its period.
    New decisions on a day of that period take the correction; a decision already logged with
    the corrected version replays identically, and the versions list says which is which."""
    client = min_age.test_client()
    request = {"ruleset": "test.min-age", "facts": {"candidate_id": "B5", "age": 19},
               "as_of": "2020-01-01"}
    before = client.post("/v1/decisions", json=request, headers=bearer("decider")).get_json()
    assert before["outcome"] == "eligible"

    path = write_min_age(min_age.rulesets_root, "2019-01-01.2", "2019-01-01", minimum=21)
    path.write_text(path.read_text(encoding="utf-8") + textwrap.dedent("""\
        corrects:
          version: "2019-01-01"
          made: 2026-12-04
          because: {en: The minimum age is 21, fr: L'âge minimum est de 21 ans}
        """), encoding="utf-8")
    # The old version's cases are now decided by the correction: they state the new minimum too.
    folder = min_age.rulesets_root / "test"
    (folder / "min-age-2019-01-01.cases.yaml").write_text(
        (folder / "min-age-2019-01-01.2.cases.yaml").read_text(encoding="utf-8"),
        encoding="utf-8")
    response = client.post("/v1/admin/reload", headers=bearer("admin"))
    assert response.status_code == 200, response.get_json()

    after = client.post("/v1/decisions", json=request, headers=bearer("decider")).get_json()
    assert after["outcome"] == "not_eligible"
    assert after["rulesets"][0]["version"] == "2019-01-01.2"
    body = client.post(f"/v1/decisions/{before['decision_id']}/replay",
                       headers=bearer("auditor")).get_json()
    assert body["result"] == "identical", body["differences"]
    versions = {v["version"]: v for v in client.get(
        "/v1/rulesets/test.min-age", headers=bearer("auditor")).get_json()["versions"]}
    assert versions["2019-01-01"]["status"] == "corrected"
    assert versions["2019-01-01"]["corrected_by"] == "2019-01-01.2"
    assert versions["2019-01-01.2"]["corrects"] == "2019-01-01"
    assert versions["2019-01-01.2"]["status"] == "in_force"


def test_replay_is_409_when_the_version_is_gone(min_age):
    client = min_age.test_client()
    decided = client.post("/v1/decisions", json={
        "ruleset": "test.min-age", "facts": {"candidate_id": "B2", "age": 30},
        "as_of": "2020-01-01"}, headers=bearer("decider")).get_json()
    (min_age.rulesets_root / "test" / "min-age-2019-01-01.yaml").unlink()
    (min_age.rulesets_root / "test" / "min-age-2019-01-01.cases.yaml").unlink()
    write_min_age(min_age.rulesets_root, "2021-01-01", "2021-01-01")
    client.post("/v1/admin/reload", headers=bearer("admin"))
    response = client.post(f"/v1/decisions/{decided['decision_id']}/replay",
                           headers=bearer("auditor"))
    assert response.status_code == 409
    assert "2019-01-01" in response.get_json()["detail"]


def test_a_broken_reload_changes_nothing(min_age):
    client = min_age.test_client()
    (min_age.rulesets_root / "test" / "broken.yaml").write_text("id: [unclosed\n")
    response = client.post("/v1/admin/reload", headers=bearer("admin"))
    assert response.status_code == 422
    assert response.get_json()["problems"][0]["file"].endswith("broken.yaml")
    assert client.post("/v1/decisions", json={
        "ruleset": "test.min-age", "facts": {"candidate_id": "B3", "age": 30}},
        headers=bearer("decider")).status_code == 201


def test_a_reload_whose_cases_fail_changes_nothing(min_age):
    """Policy staff raise the age without updating the cases: the new set is refused with the
    failing case, and decisions go on with the set in use."""
    client = min_age.test_client()
    path = min_age.rulesets_root / "test" / "min-age-2019-01-01.yaml"
    path.write_text(path.read_text().replace("age >= 18", "age >= 21"))
    response = client.post("/v1/admin/reload", headers=bearer("admin"))
    assert response.status_code == 422
    detail = response.get_json()["problems"][0]["message"]
    assert "its test cases do not pass" in detail
    assert "A candidate of 18 is old enough" in detail
    assert "outcome: expected 'eligible', got 'not_eligible'" in detail
    decided = client.post("/v1/decisions", json={
        "ruleset": "test.min-age", "facts": {"candidate_id": "B4", "age": 19},
        "as_of": "2020-01-01"}, headers=bearer("decider")).get_json()
    assert decided["outcome"] == "eligible"


def write_other(root) -> list:
    """A second ruleset beside test.min-age, test.other-age: its files."""
    files = []
    for suffix in (".yaml", ".cases.yaml"):
        source = root / "test" / f"min-age-2019-01-01{suffix}"
        target = root / "test" / f"other-age-2019-01-01{suffix}"
        target.write_text(source.read_text().replace("test.min-age", "test.other-age")
                          .replace("min-age-2019-01-01.cases", "other-age-2019-01-01.cases"))
        files.append(target)
    return files


def decide_age(client, ruleset: str) -> int:
    return client.post("/v1/decisions", json={
        "ruleset": ruleset, "facts": {"candidate_id": "R1", "age": 30}},
        headers=bearer("decider")).status_code


def test_a_reload_that_would_remove_a_ruleset_is_refused_unless_it_is_named(make_app,
                                                                           tmp_path):
    # Issue 17, item 1: an emptied folder was accepted ({"rulesets": 0}), and every decision
    # after it was a 404.
    root = tmp_path / "rulesets"
    write_min_age(root, "2019-01-01", "2019-01-01")
    other = write_other(root)
    client = make_app(rulesets_dir=str(root)).test_client()
    for path in other:
        path.unlink()
    refused = client.post("/v1/admin/reload", headers=bearer("admin"))
    assert refused.status_code == 409 and refused.mimetype == "application/problem+json"
    body = refused.get_json()
    assert body["removed"] == ["test.other-age"]
    assert "remove=test.other-age" in body["detail"]
    assert decide_age(client, "test.other-age") == 201  # nothing changed

    for wrong in ("test.min-age", "test.other-age,test.min-age", "test.nothing"):
        response = client.post(f"/v1/admin/reload?remove={wrong}", headers=bearer("admin"))
        assert response.status_code == 409, wrong
        assert response.get_json()["removed"] == ["test.other-age"]
    assert client.post("/v1/admin/reload?remove=Not%20an%20id",
                       headers=bearer("admin")).status_code == 422
    assert decide_age(client, "test.other-age") == 201

    schemas = client.get("/openapi.json").get_json()["components"]["schemas"]
    assert "Facts_test.other-age" in schemas  # the document follows the rulesets in use
    named = client.post("/v1/admin/reload?remove=test.other-age", headers=bearer("admin"))
    assert named.status_code == 200, named.get_json()
    assert named.get_json()["removed"] == ["test.other-age"]
    assert named.get_json()["rulesets"] == 1
    assert decide_age(client, "test.other-age") == 404
    assert decide_age(client, "test.min-age") == 201
    schemas = client.get("/openapi.json").get_json()["components"]["schemas"]
    assert "Facts_test.other-age" not in schemas and "Facts_test.min-age" in schemas
    plain = client.post("/v1/admin/reload", headers=bearer("admin")).get_json()
    assert plain["removed"] == [] and plain["rulesets"] == 1
    wrongly = client.post("/v1/admin/reload?remove=test.min-age", headers=bearer("admin"))
    assert wrongly.status_code == 409 and "removes no ruleset" in wrongly.get_json()["detail"]


def test_a_reload_that_would_leave_no_ruleset_is_refused(make_app, tmp_path):
    root = tmp_path / "rulesets"
    write_min_age(root, "2019-01-01", "2019-01-01")
    client = make_app(rulesets_dir=str(root)).test_client()
    for path in (root / "test").iterdir():
        path.unlink()
    refused = client.post("/v1/admin/reload", headers=bearer("admin"))
    assert refused.status_code == 409
    assert refused.get_json()["removed"] == ["test.min-age"]
    assert "every one" in refused.get_json()["detail"]
    assert decide_age(client, "test.min-age") == 201
    assert client.get("/readyz").status_code == 200
    # Named, it goes: the service then decides nothing and says so (not ready).
    emptied = client.post("/v1/admin/reload?remove=test.min-age", headers=bearer("admin"))
    assert emptied.status_code == 200 and emptied.get_json()["rulesets"] == 0
    assert client.get("/readyz").status_code == 503
    nothing = client.post("/v1/admin/reload", headers=bearer("admin"))
    assert nothing.status_code == 409 and "holds no ruleset" in nothing.get_json()["detail"]


def test_a_record_shows_the_rules_of_its_own_version_after_an_edit(min_age):
    client = min_age.test_client()
    decided = client.post("/v1/decisions", json={
        "ruleset": "test.min-age", "facts": {"candidate_id": "B3", "age": 19},
        "as_of": "2020-01-01"}, headers=bearer("decider")).get_json()
    write_min_age(min_age.rulesets_root, "2019-01-01", "2019-01-01", minimum=21)
    assert client.post("/v1/admin/reload", headers=bearer("admin")).status_code == 200

    # The server now has another version under that name: the record's rule texts come from
    # the version it was decided with, which the log keeps.
    record = client.get(f"/v1/decisions/{decided['decision_id']}",
                        headers={**bearer("auditor"), "Accept-Language": "fr"}).get_json()
    [requirement] = record["decision"]["requirements"]
    assert (requirement["title"], requirement["condition"]) == ("Est majeur", "age >= 18")
    assert requirement["reference"] == "https://example.org/min-age#adult"

    sha256 = record["rulesets"][0]["sha256"]
    kept = client.get(f"/v1/ruleset-versions/{sha256}", headers=bearer("auditor"))
    assert kept.status_code == 200
    body = kept.get_json()
    assert (body["ruleset_id"], body["version"]) == ("test.min-age", "2019-01-01")
    canonical = json.dumps(body["content"], sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False)
    assert hashlib.sha256(canonical.encode("utf-8")).hexdigest() == sha256
    assert client.get(f"/v1/ruleset-versions/{'0' * 64}",
                      headers=bearer("auditor")).status_code == 404
    assert client.get(f"/v1/ruleset-versions/{sha256}",
                      headers=bearer("decider")).status_code == 403
