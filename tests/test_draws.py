"""Draws: ranking, tie-break, cutoff, explanations of the candidates not invited, idempotency,
recording in the decision log, and the bundled 2019 tech draws over a synthetic pool."""

from __future__ import annotations

import copy
import datetime as dt
import shutil
import textwrap
from pathlib import Path

import orjson
import pytest

from service.decisions import InlineDecider
from service.draws import (
    DrawConflictError,
    DrawError,
    Pool,
    blame,
    definition,
    run_draw,
)
from service.engine import Engine
from service.errors import EngineUnavailableError
from service.rulesets import load_catalog
from tests.conftest import PROFILE, RULESETS

SMALL_DRAW = """\
    # A draw of three invitations over the tech draw criteria, for the tests.
    id: test.draw.small
    version: "2019-07-12"
    effective: {from: 2019-07-12, to: 2019-07-12}
    title: {en: A small test draw, fr: Un petit tirage d'essai}
    reference: tests/test_draws.py
    contract: candidate-profile
    includes:
      - {ruleset: oinp.hcp.tech-draw, as: tech_draw}
    constants:
      crs_min: 400
    rules:
      - id: crs-floor
        title: {en: CRS 400 or more, fr: SCG 400 ou plus}
        reference: tests/test_draws.py
        require: scores.crs.total >= crs_min
      - id: tech-draw-criteria
        title: {en: Tech draw criteria, fr: Critères du tirage technologique}
        reference: tests/test_draws.py
        require: tech_draw.met
    draw: {date: 2019-07-12, invitations: 3, validity_days: 45, reference: tests/test_draws.py}
"""


def small_draw_rulesets(root: Path) -> Path:
    """The bundled rulesets and test.draw.small, in ``root``."""
    target = root / "rulesets"
    shutil.copytree(RULESETS, target)
    (target / "test").mkdir()
    (target / "test" / "draw-small-2019-07-12.yaml").write_text(textwrap.dedent(SMALL_DRAW),
                                                                encoding="utf-8")
    return target


def candidate(candidate_id: str, submitted: str | None, **changes) -> dict:
    facts = copy.deepcopy(PROFILE)
    facts.update(candidate_id=candidate_id, profile_submitted_at=submitted, **changes)
    return facts


# The base profile scores 482 at 29; 455 at 34, 449 at 35, 444 at 36 (tests of the tech draws).
POOL = [
    candidate("A", "2019-06-01T10:00:00Z", age=34),          # 455, later: rank 2
    candidate("B", "2019-05-01T10:00:00Z", age=34),          # 455, earlier: rank 1
    candidate("C", "2019-01-01T10:00:00Z", age=35),          # 449: rank 3, the last invited
    candidate("D", "2019-02-01T10:00:00Z", age=35),          # 449, later than C: tie-break
    candidate("E", "2018-12-01T10:00:00Z", age=36),          # 444: below the cutoff
    candidate("F", "2019-01-01T10:00:00Z", intends_to_reside_in="BC"),   # ineligible
    candidate("G", "2019-01-01T10:00:00Z", primary_noc="1111", age=40),  # ineligible twice
    {**candidate("H", "2019-01-01T10:00:00Z"), "age": "old"},            # invalid facts
    candidate("A", "2019-01-01T10:00:00Z", age=29),          # duplicate of A
]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = small_draw_rulesets(tmp_path_factory.mktemp("draws"))
    catalog = load_catalog(root)
    engine = Engine()
    engine.prepare_all(v for vs in catalog.by_id.values() for v in vs)
    return catalog, InlineDecider(catalog, engine)


@pytest.fixture
def store(tmp_path):
    from service.store import Store

    store = Store(f"sqlite:///{tmp_path / 'decisions.db'}")
    store.upgrade()
    yield store
    store.close()


def hold(small, pool=POOL, **kwargs):
    catalog, decider = small
    rows: list[dict] = []
    result = run_draw(catalog, [decider], "test.draw.small", Pool.from_records(pool),
                      on_candidate=rows.append, batch_size=4, **kwargs)
    return result, {r["candidate_id"] if r["status"] != "duplicate" else "A (again)": r
                    for r in rows}


def test_the_eligible_are_ranked_by_score_then_by_submission_time(small):
    result, _ = hold(small)
    assert [(i["rank"], i["candidate_id"], i["score"]) for i in result["invitations"]] == [
        (1, "B", 455), (2, "A", 455), (3, "C", 449)]
    assert all(i["expires_on"] == "2019-08-26" for i in result["invitations"])  # + 45 days
    assert result["expires_on"] == "2019-08-26" and result["draw_date"] == "2019-07-12"


def test_the_cutoff_is_the_last_invited_score_and_its_tie_break_time(small):
    result, _ = hold(small)
    assert result["cutoff"] == {"score": 449, "rank": 3, "tie_break_at": "2019-01-01T10:00:00Z",
                                "tie_break_applied": True}
    counts = result["counts"]
    assert {k: counts[k] for k in ("pool", "assessed", "eligible", "invited", "below_cutoff",
                                   "tie_break", "ineligible", "invalid", "duplicate", "error")} \
        == {"pool": 9, "assessed": 7, "eligible": 5, "invited": 3, "below_cutoff": 1,
            "tie_break": 1, "ineligible": 2, "invalid": 1, "duplicate": 1, "error": 0}
    assert counts["ineligible_by_requirement"] == {"tech-draw-criteria": 2}
    assert counts["ineligible_by_reason"] == {"oinp.hcp:reside-in-ontario": 1,
                                              "oinp.hcp.tech-draw:tech-occupation": 1}


def test_no_tie_break_is_applied_when_the_next_candidate_scores_less(small):
    result, rows = hold(small, [c for c in POOL if c["candidate_id"] != "D"])
    assert result["cutoff"]["tie_break_applied"] is False
    assert rows["E"]["status"] == "below_cutoff"


def test_a_candidate_not_invited_is_told_why(small):
    _, rows = hold(small)
    assert rows["B"]["status"] == "invited" and rows["B"]["rank"] == 1
    assert rows["D"]["status"] == "tie_break" and rows["D"]["rank"] == 4
    assert rows["D"]["detail"]["because"]["en"] == (
        "449 points equals the cutoff, but the profile was submitted on February 1, 2019 at "
        "10:00:00 UTC, after the tie-break time, January 1, 2019 at 10:00:00 UTC")
    assert rows["D"]["detail"]["because"]["fr"] == (
        "449 points, égal au seuil, mais le profil a été soumis le 1er février 2019 à 10:00:00 "
        "UTC, après l'heure de départage, le 1er janvier 2019 à 10:00:00 UTC")
    assert rows["E"]["status"] == "below_cutoff"
    assert rows["E"]["detail"]["because"]["en"] == "444 points is below the cutoff of 449 points"
    f = rows["F"]
    assert f["status"] == "ineligible" and f["detail"]["failed"] == ["tech-draw-criteria"]
    [why] = f["detail"]["requirements"]
    assert (why["ruleset"], why["rule"]) == ("oinp.hcp", "reside-in-ontario")
    assert why["path"] == ["tech-draw-criteria", "hcp-criteria", "reside-in-ontario"]
    assert why["because"]["en"] == ("Province or territory where the candidate intends to "
                                    "live: British Columbia, needs Ontario.")
    g = {(r["ruleset"], r["rule"]) for r in rows["G"]["detail"]["requirements"]}
    assert g == {("oinp.hcp.tech-draw", "tech-occupation")}
    assert rows["H"]["status"] == "invalid"
    assert "age" in rows["H"]["detail"]["problem"]["errors"]
    again = rows["A (again)"]
    assert again["status"] == "duplicate" and again["detail"]["first_position"] == 1


def test_blame_follows_both_programs_down_to_the_facts(small):
    catalog, decider = small
    decision = decider.decide("test.draw.small", candidate(
        "X", "2019-01-01T10:00:00Z", canadian_work_years=0, foreign_work_years=0),
        dt.date(2019, 7, 12))
    failed, leaves = blame(decision, catalog)
    assert failed == ["crs-floor", "tech-draw-criteria"]  # 379 points, and no program
    assert leaves[0] == {"ruleset": "test.draw.small", "rule": "crs-floor", "path": [
        "crs-floor"], "because": {
            "en": "Comprehensive Ranking System score: 379, needs at least 400.",
            "fr": "Note du Système de classement global\u00a0: 379, il faut au moins 400."}}
    found = {(leaf["ruleset"], leaf["rule"]) for leaf in leaves[1:]}
    assert {("express-entry.fsw", "fsw-skilled-work"),
            ("express-entry.cec", "cec-canadian-work")} <= found
    assert all(leaf["path"][:3] == ["tech-draw-criteria", "hcp-criteria", "program-route"]
               for leaf in leaves[1:])


def test_a_candidate_without_a_submission_time_loses_every_tie(small):
    pool = [candidate("late", None, age=34), candidate("known", "2019-07-01T00:00:00Z", age=34)]
    result, _ = hold(small, pool)
    assert [i["candidate_id"] for i in result["invitations"]] == ["known", "late"]


def test_submission_times_in_other_zones_are_compared_as_instants(small):
    pool = [candidate("toronto", "2019-05-01T09:00:00-04:00", age=34),   # 13:00 UTC
            candidate("utc", "2019-05-01T12:00:00Z", age=34)]
    result, _ = hold(small, pool)
    assert [i["candidate_id"] for i in result["invitations"]] == ["utc", "toronto"]
    assert result["invitations"][1]["profile_submitted_at"] == "2019-05-01T13:00:00Z"


def test_an_empty_pool_invites_nobody(small):
    result, rows = hold(small, [])
    assert result["cutoff"] is None and result["invitations"] == [] and rows == {}


def test_a_ruleset_without_draw_parameters_is_not_a_draw(small):
    catalog, decider = small
    with pytest.raises(DrawError, match="not a draw"):
        run_draw(catalog, [decider], "oinp.hcp.tech-draw", Pool.from_records(POOL))


class CrashingDecider(InlineDecider):
    """Crashes like a dead engine process on any batch that holds candidate C."""

    def decide_many(self, requests, reduce=None):
        requests = list(requests)
        if any(facts.get("candidate_id") == "C" for _, facts, *_ in requests):
            raise EngineUnavailableError("the decision engine stopped while deciding")
        return super().decide_many(requests, reduce)


def test_an_engine_crash_costs_only_the_candidate_that_caused_it(small):
    catalog, decider = small
    crashing = CrashingDecider(catalog, decider.engine)
    rows: list[dict] = []
    result = run_draw(catalog, [crashing], "test.draw.small", Pool.from_records(POOL),
                      batch_size=4, on_candidate=rows.append)
    assert result["counts"]["error"] == 1
    assert [r["status"] for r in rows if r["candidate_id"] == "C"] == ["error"]
    assert [i["candidate_id"] for i in result["invitations"]] == ["B", "A", "D"]


# ---------------------------------------------------------------------------------- recording
def test_a_draw_is_recorded_and_holding_it_again_returns_the_first_result(small, store):
    from service.store import draws as draw_store

    first, _ = hold(small, store=store, draw_id="small-1", caller="tests")
    assert first["recorded"] and not first["replayed"]
    logged = store.count()
    assert logged == 3  # the invited decisions, in the hash-chained decision log
    again, rows = hold(small, store=store, draw_id="small-1", caller="tests")
    assert again["replayed"] and rows == {}  # nothing was decided again
    assert store.count() == logged
    assert [i["decision_id"] for i in again["invitations"]] == \
        [i["decision_id"] for i in first["invitations"]]
    assert again["cutoff"] == first["cutoff"] and again["counts"] == first["counts"]
    assert again["results_sha256"] == first["results_sha256"]
    record = store.get(first["invitations"][0]["decision_id"])
    assert record.request_id == "draw:small-1/1" and record.caller == "tests"
    assert record.candidate_id == "B" and store.verify().intact
    outcome = draw_store.candidate_outcomes(store, "small-1", "E")
    assert outcome[0]["status"] == "below_cutoff"
    page, after = draw_store.invitations_page(store, "small-1", None, 2)
    assert [i["rank"] for i in page] == [1, 2] and after == 2
    assert page[0]["log_seq"] == 1


def test_the_same_draw_id_over_another_pool_is_a_conflict(small, store):
    hold(small, store=store, draw_id="small-2")
    with pytest.raises(DrawConflictError, match="another pool"):
        hold(small, POOL[:4], store=store, draw_id="small-2")


def test_the_default_draw_id_makes_the_same_draw_over_the_same_pool_idempotent(small, store):
    first, _ = hold(small, store=store)
    assert first["draw_id"].startswith("test.draw.small-")
    again, _ = hold(small, store=store)
    assert again["draw_id"] == first["draw_id"] and again["replayed"]


def test_the_draw_tables_refuse_updates_and_deletes(small, store):
    import sqlalchemy as sa

    hold(small, store=store, draw_id="small-3")
    for statement in ("UPDATE draws SET pool_size = 0", "DELETE FROM draw_invitations",
                      "UPDATE draw_candidates SET status = 'invited'"):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            with store.engine.begin() as conn:
                conn.execute(sa.text(statement))


# ------------------------------------------------------------------------- the bundled draws
def test_the_bundled_tech_draws_keep_their_published_parameters(catalog):
    first = definition(catalog, "oinp.hcp.draw.tech-2019-07-12")
    assert (first.date, first.invitations, first.validity_days, first.score) == (
        dt.date(2019, 7, 12), 1623, 45, "crs")
    assert first.expires_on == dt.date(2019, 8, 26)
    assert first.version.constants["crs_min"]["value"] == 439
    assert first.version.constants["crs_max"]["value"] == 459
    second = definition(catalog, "oinp.hcp.draw.tech-2019-08-01")
    assert (second.date, second.invitations) == (dt.date(2019, 8, 1), 1773)
    assert second.version.constants["crs_min"]["value"] == 435
    assert "crs_max" not in second.version.constants  # the upper bound is unverified


def test_the_first_tech_draw_over_a_synthetic_pool(catalog, engine):
    from service.draws.pool import generate

    profiles, _ = generate(400, 3, as_of=dt.date(2019, 7, 12))
    rows: list[dict] = []
    result = run_draw(catalog, [InlineDecider(catalog, engine)],
                      "oinp.hcp.draw.tech-2019-07-12", Pool.from_records(list(profiles)),
                      on_candidate=rows.append)
    counts = result["counts"]
    assert counts["pool"] == counts["assessed"] == 400 and counts["invalid"] == 0
    assert counts["invited"] == counts["eligible"] > 0  # fewer eligible than 1,623 NOIs
    assert all(439 <= i["score"] <= 459 for i in result["invitations"])
    assert result["cutoff"]["score"] >= 439
    assert all("2018-07-12" <= i["profile_submitted_at"] < "2019-07-13"
               for i in result["invitations"])
    for row in rows:
        if row["status"] == "ineligible":
            assert row["detail"]["failed"] and row["detail"]["requirements"]
    scores = [r["score"] for r in rows if r["status"] == "ineligible" and
              r["detail"]["failed"] == ["crs-range"]]
    assert all(not 439 <= s <= 459 for s in scores)


def test_holding_a_draw_through_engine_processes_gives_the_same_ranking(small, tmp_path):
    from service.decisions import ProcessDecider

    catalog, _ = small
    inline, _ = hold(small)
    deciders = [ProcessDecider(catalog, str(catalog.root)) for _ in range(2)]
    try:
        result = run_draw(catalog, deciders, "test.draw.small", Pool.from_records(POOL),
                          batch_size=2)
    finally:
        for decider in deciders:
            decider.close()
    key = ("rank", "candidate_id", "score", "profile_submitted_at")
    assert [tuple(i[k] for k in key) for i in result["invitations"]] == \
        [tuple(i[k] for k in key) for i in inline["invitations"]]
    assert result["results_sha256"] != inline["results_sha256"]  # decision ids differ
    assert result["counts"] == inline["counts"]


def test_a_pool_file_is_read_line_by_line(small, tmp_path):
    path = tmp_path / "pool.jsonl"
    path.write_bytes(b"".join(orjson.dumps(c) + b"\n" for c in POOL[:3]) + b"\n[1, 2]\nnot json\n")
    catalog, decider = small
    rows: list[dict] = []
    result = run_draw(catalog, [decider], "test.draw.small", Pool.from_file(path),
                      on_candidate=rows.append)
    assert result["counts"]["pool"] == 5 and result["counts"]["invalid"] == 2
    assert [r["position"] for r in rows] == [1, 2, 3, 5, 6]  # line numbers; line 4 is blank
    assert "not a JSON object" in rows[3]["detail"]["problem"]["detail"]
