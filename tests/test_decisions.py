"""Explained decisions: scores with caps, requirements with why-not, fired rules, languages."""

from __future__ import annotations

import datetime as dt

import pytest

from service.decisions import because_text, decide, localized, tally
from service.errors import FactsError
from service.i18n import localize, negotiate

from .conftest import PROFILE

DAY = dt.date(2019, 7, 15)


def test_tally_applies_caps_from_the_leaves_up_and_the_maximum():
    spec = {"max": 120, "buckets": {
        "core": {"title": "c"},
        "transfer": {"cap": 100, "title": "t", "buckets": {
            "education": {"cap": 50, "title": "e"}, "foreign": {"cap": 50, "title": "f"}}}}}
    summary, details = tally("s", spec, {"s.core": 40, "s.transfer.education": 75,
                                         "s.transfer.foreign": 50})
    assert summary == {"total": 120, "core": 40, "transfer": 100}
    by_bucket = {d["bucket"]: d for d in details}
    assert by_bucket["s.transfer.education"]["points"] == 75
    assert by_bucket["s.transfer.education"]["counted"] == 50
    assert by_bucket["s.transfer"]["points"] == 100


def test_eligible_tech_draw_candidate_gets_a_complete_explanation(catalog, engine):
    d = decide(catalog, engine, "oinp.hcp.tech-draw", PROFILE, DAY)
    assert d["outcome"] == "meets_criteria"
    used = [r["id"] for r in d["rulesets"]]
    assert used[0] == "express-entry.language" and used[-1] == "oinp.hcp.tech-draw"
    assert {"express-entry.crs", "express-entry.fsw", "express-entry.cec", "oinp.hcp"} <= set(used)
    assert all(len(r["sha256"]) == 64 for r in d["rulesets"])
    assert all(r["met"] for r in d["requirements"] if r["ruleset"].startswith("oinp."))
    fired = {f["rule"]: f for f in d["fired"]}
    assert fired["tech-occupation"]["matched"] == {"occupation.tech_2016": "2173"}
    assert fired["tech-occupation"]["effect"] == {"requirement": "met"}
    assert fired["tech-occupation"]["reference"].startswith("https://")
    assert fired["first-lowest-level"]["effect"] == {"derive": "first_clb.min", "value": 9}
    assert fired["first-lowest-level"]["matched"] == {
        "first_clb.reading": 9, "first_clb.writing": 9, "first_clb.listening": 9,
        "first_clb.speaking": 9}
    # The CRS is part of the chain and shows its subtotals (worked from the published grid:
    # age 29 110, bachelor's 120, CLB 9 x4 124, 1 year in Canada 40 = core 394; transferability
    # education 25 + 13, foreign work 50 + 25 capped at 50 = 88).
    assert d["scores"]["crs"] == {"total": 482, "core": 394, "spouse": 0,
                                  "transferability": 88, "additional": 0}


def test_ineligible_candidate_is_told_why_not_in_both_languages(catalog, engine):
    facts = {**PROFILE, "primary_noc": "1111", "intends_to_reside_in": "BC",
             "first_language": {"test": "clb", "reading": 9, "writing": 6, "listening": 9,
                                "speaking": 9}}
    d = decide(catalog, engine, "oinp.hcp.tech-draw", facts, DAY)
    assert d["outcome"] == "does_not_meet_criteria"
    unmet = {(r["ruleset"], r["rule"]): r for r in d["requirements"] if not r["met"]}
    assert {("oinp.hcp.tech-draw", "tech-occupation"), ("oinp.hcp", "language"),
            ("oinp.hcp", "reside-in-ontario")} <= set(unmet)
    assert unmet[("oinp.hcp.tech-draw", "tech-occupation")]["because"] == {
        "en": "occupation.tech_2016 = none, needs one of tech_nocs "
              "(2173, 2174, 2147, 2175, 2172, 0213)",
        "fr": "occupation.tech_2016 = none, doit être l'une des valeurs tech_nocs "
              "(2173, 2174, 2147, 2175, 2172, 0213)"}
    assert unmet[("oinp.hcp", "language")]["because"]["en"] == (
        "either first_clb.min = 6, needs >= min_clb (7) or second_clb.min is not given, "
        "needs >= min_clb (7)")
    assert unmet[("oinp.hcp", "reside-in-ontario")]["because"]["fr"] == \
        "intends_to_reside_in = BC, doit être ON"
    french = localize(d, "fr")
    assert french["outcome_title"] == "Ne satisfait pas aux critères du tirage technologique"
    assert all(isinstance(r["title"], str) for r in french["requirements"])


def test_boolean_why_not_reads_yes_and_no():
    reason = {"fact": "education_assessed", "value": False, "op": "==", "expected": True,
              "constant": None, "missing": False}
    assert because_text(reason) == {"en": "education_assessed = no, needs yes",
                                    "fr": "education_assessed = non, doit être oui"}


def test_bad_facts_are_refused_before_the_engine_runs(catalog, engine):
    with pytest.raises(FactsError) as err:
        decide(catalog, engine, "oinp.hcp.tech-draw", {**PROFILE, "age": -1}, DAY)
    assert "age" in err.value.extra["errors"]


def test_replay_with_pinned_versions_gives_the_same_decision(catalog, engine):
    first = decide(catalog, engine, "oinp.hcp.tech-draw", PROFILE, DAY)
    pinned = {r["id"]: r["version"] for r in first["rulesets"]}
    again = decide(catalog, engine, "oinp.hcp.tech-draw", PROFILE, DAY, pinned=pinned)
    for key in ("decision_id", "decided_at"):
        first.pop(key)
        again.pop(key)
    assert again == first


@pytest.mark.parametrize("header, lang", [("fr-CA,fr;q=0.9,en;q=0.8", "fr"), ("en-CA", "en"),
                                          ("de", "en"), (None, "en"), ("en;q=0.2, fr", "fr")])
def test_language_negotiation(header, lang):
    assert negotiate(header) == lang


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_localized_picks_every_text_and_touches_no_fact(catalog, engine, lang):
    for facts in (PROFILE, {**PROFILE, "primary_noc": "0011", "age": 50}):
        d = decide(catalog, engine, "express-entry.assessment", facts, DAY)
        # The generic walk and the decision-aware one agree on a real decision...
        assert localized(d, lang) == localize(d, lang)
    # ...but only the latter leaves alone a fact that merely looks like a text.
    lookalike = {"en": "a fact", "fr": "un fait"}
    d["fired"][0]["matched"] = {"note": lookalike}
    assert localized(d, lang)["fired"][0]["matched"] == {"note": lookalike}
    assert localized(d, lang)["fired"][0]["title"] == d["fired"][0]["title"][lang]
