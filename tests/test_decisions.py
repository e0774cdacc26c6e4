"""Explained decisions: scores with caps, requirements with why-not, fired rules, languages."""

from __future__ import annotations

import datetime as dt

import pytest

from service.decisions import (
    NO_TEXTS,
    because_text,
    catalog_texts,
    decide,
    localized,
    tally,
    with_texts,
    without_texts,
)
from service.decisions.why_not import Words
from service.errors import FactsError, UnknownRulesetError
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
    # The decision names each rule; its texts are the version's, filled in to be shown.
    assert "reference" not in fired["tech-occupation"] and "title" not in fired["tech-occupation"]
    shown = {f["rule"]: f for f in with_texts(d, catalog_texts(catalog))["fired"]}
    assert shown["tech-occupation"]["reference"].startswith("https://")
    assert shown["tech-occupation"]["title"]["fr"]
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
    made = decide(catalog, engine, "oinp.hcp.tech-draw", facts, DAY)
    assert made["outcome"] == "does_not_meet_criteria"
    # The decision keeps the why-not trees and the facts read; the words are written where it
    # is read, from the versions it names.
    assert all("because" not in r and r["why_not"] for r in made["requirements"] if not r["met"])
    d = with_texts(made, catalog_texts(catalog))
    unmet = {(r["ruleset"], r["rule"]): r for r in d["requirements"] if not r["met"]}
    assert {("oinp.hcp.tech-draw", "tech-occupation"), ("oinp.hcp", "language"),
            ("oinp.hcp", "reside-in-ontario")} <= set(unmet)
    # In words: the fact's title, the candidate's value and where it came from, what is needed.
    tech = unmet[("oinp.hcp.tech-draw", "tech-occupation")]["because"]
    assert "Primary occupation (NOC code): 1111" in tech["en"]
    assert tech["en"].endswith("needs 2173, 2174, 2147, 2175, 2172, or 0213.")
    assert "Profession principale (code CNP)\u00a0: 1111" in tech["fr"]
    assert tech["fr"].endswith("il faut 2173, 2174, 2147, 2175, 2172 ou 0213.")
    assert unmet[("oinp.hcp", "language")]["because"]["en"] == (
        "One of these is needed: First official language, lowest of the four levels: 6 (from "
        "First official language: English levels given directly (Canadian Language Benchmarks, "
        "CLB), reading 9, writing 6, listening 9, speaking 9), "
        "needs at least 7 or Second official language, lowest of the four levels: not given, "
        "needs at least 7.")
    assert unmet[("oinp.hcp", "reside-in-ontario")]["because"]["fr"] == (
        "Province ou territoire où le candidat a l'intention de vivre\u00a0: Colombie-Britannique,"
        " il faut Ontario.")
    french = localized(with_texts(d, catalog_texts(catalog)), "fr")
    assert french["outcome_title"] == "Ne satisfait pas aux critères du tirage technologique"
    assert all(isinstance(r["title"], str) for r in french["requirements"])


ONTARIO_OFFER = {"noc": "21231", "full_time": True, "permanent": True, "employer_eligible": True,
                 "occupation_months_last_five_years": 30}


def test_ontario_workforce_category_is_explained_in_both_languages_from_its_regulation(
        catalog, engine):
    """O. Reg. 204/26 (made and filed 2026-06-25) created the TEER 0-3 category: a decision in
    December 2026 explains every criterion in English and French, the job offer's own NOC
    deciding the TEER (44101 home support workers: second digit 4); a profile without a job
    offer is told the offer is not given; the day before the regulation there is no category."""
    day = dt.date(2026, 12, 2)
    facts = {**PROFILE, "ontario_job_offer": {**ONTARIO_OFFER, "noc": "44101"}}
    d = with_texts(decide(catalog, engine, "oinp.workforce.teer-0-3", facts, day),
                   catalog_texts(catalog))
    assert [r["id"] for r in d["rulesets"]] == [
        "express-entry.language", "oinp.workforce.job-offer", "oinp.workforce.teer-0-3"]
    assert d["derived"]["offer_occupation.teer"] == 4
    expected = {"en": ("Does not meet the criteria of the TEER 0-3 category",
                       "NOC 2021 TEER category (0 to 5) of the Ontario job offer: 4 (from Ontario "
                       "job offer: NOC 2021 code of the position 44101 (Home support workers, "
                       "caregivers and related occupations)), needs at most 3."),
                "fr": ("Ne satisfait pas aux critères de la catégorie FEER 0 à 3",
                       "Catégorie FEER (0 à 5) de l'offre d'emploi de l'Ontario selon la CNP "
                       "2021\u00a0: 4 (d'après Offre d'emploi de l'Ontario\u00a0: code CNP 2021 "
                       "du poste 44101 (Aides de maintien à domicile, aides familiaux/familiales "
                       "et personnel assimilé)), il faut au plus 3.")}
    for lang, (outcome_title, because) in expected.items():
        shown = localized(d, lang)
        assert (shown["outcome"], shown["outcome_title"]) == ("does_not_meet_criteria",
                                                              outcome_title)
        unmet = {r["rule"]: r for r in shown["requirements"] if not r["met"]}
        assert set(unmet) == {"owp-teer-0-3"}
        assert unmet["owp-teer-0-3"]["because"] == because
        assert unmet["owp-teer-0-3"]["reference"].count("https://www.ontario.ca/laws/") == 1
        assert all(isinstance(r["title"], str) and r["title"] for r in shown["requirements"])
    met = localized(with_texts(decide(catalog, engine, "oinp.workforce.teer-0-3",
                                      {**PROFILE, "ontario_job_offer": ONTARIO_OFFER}, day),
                               catalog_texts(catalog)), "fr")
    assert met["outcome"] == "meets_public_criteria"
    assert met["outcome_title"].startswith("Satisfait aux critères publics de la catégorie FEER")
    # No job offer: the offer criteria are "not given", never guessed; education and language
    # are still judged.
    without = with_texts(decide(catalog, engine, "oinp.workforce.teer-0-3", PROFILE, day),
                         catalog_texts(catalog))
    unmet = {r["rule"]: r["because"] for r in without["requirements"] if not r["met"]}
    assert set(unmet) == {"owp-full-time-permanent-offer", "owp-eligible-employer",
                          "owp-teer-0-3", "owp-experience"}
    assert unmet["owp-eligible-employer"] == {
        "en": "Ontario job offer, eligible employer: not given, needs yes.",
        "fr": "Offre d'emploi de l'Ontario, employeur admissible\u00a0: non indiqué, il faut oui."}
    with pytest.raises(UnknownRulesetError,
                       match=r"^no version of 'oinp\.workforce\.teer-0-3' is in force on "
                             r"2026-06-24$"):
        decide(catalog, engine, "oinp.workforce.teer-0-3", facts, dt.date(2026, 6, 24))


def test_boolean_why_not_reads_yes_and_no():
    reason = {"fact": "education_assessed", "value": False, "op": "==", "expected": True,
              "constant": None, "missing": False}
    words = Words(titles={"education_assessed": {"en": "Education assessed",
                                                 "fr": "Études évaluées"}})
    assert because_text(reason, words) == {"en": "Education assessed: no, needs yes.",
                                           "fr": "Études évaluées\u00a0: non, il faut oui."}


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
        d = with_texts(decide(catalog, engine, "express-entry.assessment", facts, DAY),
                       catalog_texts(catalog))
        # The generic walk and the decision-aware one agree on a real decision...
        assert localized(d, lang) == localize(d, lang)
    # ...but only the latter leaves alone a fact that merely looks like a text.
    lookalike = {"en": "a fact", "fr": "un fait"}
    d["fired"][0]["matched"] = {"note": lookalike}
    assert localized(d, lang)["fired"][0]["matched"] == {"note": lookalike}
    assert localized(d, lang)["fired"][0]["title"] == d["fired"][0]["title"][lang]


def test_rule_texts_come_from_the_version_the_decision_names(catalog, engine):
    d = decide(catalog, engine, "express-entry.crs", PROFILE, DAY)
    shown = with_texts(d, catalog_texts(catalog))
    for entry, full in zip(d["fired"] + d["requirements"],
                           shown["fired"] + shown["requirements"], strict=True):
        version = next(v for v in catalog.by_id[entry["ruleset"]]
                       if v.sha256 == {r["id"]: r for r in d["rulesets"]}[entry["ruleset"]][
                           "sha256"])
        rule = next(r for r in version.rules if r.key == (entry.get("row") or entry["rule"]))
        assert (full["title"], full["reference"]) == (rule.title, rule.reference)
        assert full.get("condition", rule.source) == rule.source
        assert {k: v for k, v in full.items() if k not in ("title", "reference",
                                                             "condition", "because")} == entry
    # Dropping the texts again gives the decision back; a decision logged with its texts (as
    # before) is left as it is, and compares equal once both are without them.
    assert without_texts(shown) == d
    assert with_texts(shown, NO_TEXTS) == shown
    # A version nobody has any more: the rule's key stands in for its title, nothing breaks.
    lost = with_texts(d, NO_TEXTS)
    assert lost["fired"][0]["title"] == {"en": d["fired"][0].get("row") or d["fired"][0]["rule"],
                                         "fr": d["fired"][0].get("row") or d["fired"][0]["rule"]}
    assert lost["fired"][0]["reference"] is None


def test_a_version_edited_in_place_does_not_lend_its_texts(catalog, engine):
    d = decide(catalog, engine, "express-entry.noc", PROFILE, DAY)
    edited = {**d, "rulesets": [{**r, "sha256": "0" * 64} for r in d["rulesets"]]}
    assert with_texts(edited, catalog_texts(catalog))["fired"][0]["reference"] is None
