"""What would change the outcome (service/decisions/what_would_change.py): worked examples whose
answers come from the published CRS grid and the programs' criteria, the declared changes as policy
data (a fact no change names is never suggested), the bounds, and the CLI.

CRS points used below (single candidate, no spouse; the 2019 grid,
https://www.canada.ca/en/immigration-refugees-citizenship/services/immigrate-canada/express-entry/eligibility/criteria-comprehensive-ranking-system/grid.html):
age 34: 83, 37: 66; bachelor's degree: 120; first official language per ability: CLB 8: 23,
CLB 9: 31, CLB 10: 34; Canadian work 1 year: 40, 2 years: 53. Skill transferability: education
with language, a post-secondary credential of one year or longer: 13 (CLB 7+, one under 9) or 25
(CLB 9+ in all four); education with Canadian work: 13 (1 year) or 25 (2 years); each capped at 50
with its pair. Foreign work 3 years with language: 25 (CLB 7+, one under 9) or 50 (CLB 9+);
foreign work 3 years with 1 year of Canadian work: 25, with 2 years: 50; capped at 50. Second
official language, NCLC 7 or 8: 3 per ability; additional points, NCLC 7 in all four French
abilities with CLB 5 or more in English: 30. IELTS General Training to CLB: writing 6.5 = CLB 8,
7.0 = CLB 9; reading 7.0-7.5 = CLB 9; listening 8.0 = CLB 9, 8.5 = CLB 10; speaking 7.0 = CLB 9,
7.5 = CLB 10.
"""

from __future__ import annotations

import datetime as dt
import json
import textwrap

import pytest

from service.cli.main import main as cli
from service.decisions import InlineDecider, Limits, what_would_change
from service.engine import load_compiled
from service.errors import FactsError, RulesetError
from service.rulesets import load_catalog
from tests.conftest import PROFILE

DRAW = "oinp.hcp.draw.tech-2019-07-12"  # CRS 439 to 459
DRAW_DAY = dt.date(2019, 7, 12)
# A software engineer of 34: IELTS reading 7.0 (CLB 9), writing 6.5 (CLB 8), listening 8.0
# (CLB 9), speaking 7.0 (CLB 9); assessed bachelor's; 1 year in Canada, 3 abroad.
# Core: 83 + 120 + (31 + 23 + 31 + 31) + 40 = 359. Transferability: education (13 language +
# 13 Canadian work = 26) + foreign work (25 language + 25 Canadian work = 50) = 76. CRS 435.
IELTS = {**PROFILE, "age": 34,
         "first_language": {"test": "ielts", "reading": 7.0, "writing": 6.5, "listening": 8.0,
                            "speaking": 7.0}}


@pytest.fixture(scope="module")
def decider(catalog, engine):
    return InlineDecider(catalog, engine)


def facts_changed(answer: dict) -> list[list[str]]:
    return [[f["fact"] for f in change["facts"]] for change in answer["changes"]]


def test_ielts_writing_half_a_band_brings_a_tech_draw_candidate_into_the_range(catalog, decider):
    answer = what_would_change(catalog, decider, DRAW, IELTS, DRAW_DAY)
    assert answer["scores"]["crs"] == 435 and not answer["met"]
    assert [r["rule"] for r in answer["not_met"]] == ["crs-range"]
    # Writing 7.0 is CLB 9: core +8 (31 - 23); CLB 9 in all four lifts education with language
    # from 13 to 25 (+12), foreign work with language is capped at 50 with Canadian work: 455.
    # No other single declared change lands in 439-459: reading 7.5 stays CLB 9 (+0);
    # listening 8.5 or speaking 7.5 is CLB 10 (+3: 438); a second year in Canada adds 13 core
    # and 12 transferability (460); NCLC 7 in French adds 12 + 30 (477); a nomination adds 600.
    assert facts_changed(answer) == [["first_language.writing"]]
    [change] = answer["changes"]
    assert change["facts"][0] | {"title": None} == {
        "change": "first-ielts-writing", "fact": "first_language.writing", "title": None,
        "from": 6.5, "to": 7.0, "steps": 1}
    assert change["scores"]["crs"] == {"from": 435, "to": 455}
    assert change["met"] and change["outcome"] == "meets_draw_criteria"
    assert [r["rule"] for r in change["fixes"]] == ["crs-range"]
    assert change["text"]["en"] == (
        "With IELTS writing 7 instead of 6.5, the Comprehensive Ranking System score would be "
        "455 instead of 435 and the outcome would be “Meets the criteria of the 2019-07-12 tech "
        "draw”.")
    assert change["text"]["fr"].startswith(
        "Avec le résultat IELTS en expression écrite à 7 au lieu de 6,5, la note serait de 455 "
        "au lieu de 435")
    assert answer["search"]["complete"] and answer["search"]["stopped_by"] is None
    assert answer["search"]["decisions"] <= 200


def test_age_is_never_lowered_and_each_ability_is_its_own_answer(catalog, decider):
    # 37 (66 points) with CLB 9 in all four: 66 + 120 + 124 + 40 = 350 core, 88 transferability:
    # 438, one point below the range. CLB 10 in any one ability is +3 (441); lowering the age
    # would do it too, but age is not a declared change.
    facts = {**PROFILE, "age": 37}
    answer = what_would_change(catalog, decider, DRAW, facts, DRAW_DAY)
    assert answer["scores"]["crs"] == 438
    assert facts_changed(answer) == [[f"first_language.{a}"] for a in
                                     ("reading", "writing", "listening", "speaking")]
    assert {c["scores"]["crs"]["to"] for c in answer["changes"]} == {441}
    assert all(f["from"] == 9 and f["to"] == 10 for c in answer["changes"] for f in c["facts"])
    # One point above the range (33: 88 points, 460): no declared change lowers a score.
    above = what_would_change(catalog, decider, DRAW, {**PROFILE, "age": 33}, DRAW_DAY)
    assert above["scores"]["crs"] == 460 and above["changes"] == []
    # Every single change, then pairs until the bound: none lowers a score.
    assert above["search"]["decisions"] == 200 and above["search"]["stopped_by"] == "decisions"
    assert above["summary"]["en"].startswith("No change found before the search stopped. The "
                                             "search stopped early, after 200 decisions")
    assert "age" not in {f["fact"] for a in (answer, above) for c in a["changes"]
                         for f in c["facts"]}


def test_a_candidate_failing_hcp_only_for_lack_of_an_eca_gets_the_assessment(catalog, decider):
    facts = {**PROFILE, "education_assessed": False}
    answer = what_would_change(catalog, decider, "oinp.hcp", facts, dt.date(2019, 7, 15))
    assert "education-assessed" in [r["rule"] for r in answer["not_met"]]
    first = answer["changes"][0]
    assert [f["change"] for f in first["facts"]] == ["education-assessed"]
    assert first["facts"][0]["from"] is False and first["facts"][0]["to"] is True
    assert first["met"] and first["outcome"] == "meets_criteria"
    # The requirement reads education_assessed alone: no other fact can meet it.
    assert facts_changed(answer) == [["education_assessed"]]
    assert first["text"]["en"].startswith(
        "With an Educational Credential Assessment of the highest credential, ")
    assert first["text"]["fr"].startswith(
        "Avec une évaluation des diplômes d'études (EDE) du titre le plus élevé, ")


def test_settlement_funds_go_up_to_the_amount_the_table_asks_for(catalog, decider):
    # IRCC proof of funds in force from 2019-01-17: CAD 12,669 for a family of one. With 10,000
    # the HCP stream's funds requirement fails (the CEC route, one year in Canada, needs none).
    facts = {**PROFILE, "settlement_funds_cad": 10_000}
    answer = what_would_change(catalog, decider, "oinp.hcp", facts, dt.date(2019, 7, 15))
    assert [r["rule"] for r in answer["not_met"]] == ["settlement-funds"]
    [change] = answer["changes"]
    assert [(f["change"], f["from"], f["to"]) for f in change["facts"]] == [
        ("settlement-funds", 10_000, 12_669)]
    assert change["met"] and change["scores"]["crs"]["from"] == change["scores"]["crs"]["to"]
    assert change["text"]["en"].startswith("With settlement funds (CAD) 12,669 instead of "
                                           "10,000, the outcome would be")
    assert change["text"]["fr"].startswith("Avec les fonds d'établissement (CAD) à 12\u00a0669 "
                                           "au lieu de 10\u00a0000, le résultat serait")


def test_a_profile_that_breaks_a_contract_check_is_never_suggested(catalog, decider):
    # A two-year diploma without a stated degree fails HCP's degree requirement; stating any
    # degree would break education-degree-agrees (a degree above the education level given).
    facts = {**PROFILE, "education": "two_year_post_secondary", "education_degree": None}
    answer = what_would_change(catalog, decider, "oinp.hcp", facts, dt.date(2019, 7, 15))
    assert "education" in [r["rule"] for r in answer["not_met"]]
    assert answer["search"]["skipped_profiles"] >= 3
    assert "education_degree" not in {f["fact"] for c in answer["changes"] for f in c["facts"]}
    with pytest.raises(FactsError):  # what the skipped profiles would have been told
        catalog.validate(catalog.in_force("oinp.hcp", dt.date(2019, 7, 15)),
                         {**facts, "education_degree": "bachelors"}, dt.date(2019, 7, 15))


def test_the_bounds_stop_the_search_and_the_answer_says_so(catalog, decider):
    facts = {**PROFILE, "age": 37}
    few = what_would_change(catalog, decider, DRAW, facts, DRAW_DAY, Limits(decisions=5))
    assert few["search"]["decisions"] == 5 and not few["search"]["complete"]
    assert few["search"]["stopped_by"] == "decisions"
    assert "The search stopped early, after 5 decisions" in few["summary"]["en"]
    assert "La recherche s'est arrêtée avant la fin, après 5 décisions" in few["summary"]["fr"]
    none = what_would_change(catalog, decider, DRAW, facts, DRAW_DAY, Limits(ms=0))
    assert none["search"] | {"elapsed_ms": 0} == {
        "decisions": 1, "elapsed_ms": 0, "skipped_profiles": 0, "complete": False,
        "stopped_by": "time", "max_decisions": 200, "max_ms": 0}
    assert none["changes"] == []


def test_a_met_outcome_has_nothing_to_change(catalog, decider):
    answer = what_would_change(catalog, decider, DRAW, PROFILE | {"age": 34}, DRAW_DAY)
    assert answer["met"] and answer["changes"] == [] and answer["search"]["decisions"] == 1
    assert answer["summary"]["fr"] == ("Toutes les exigences sont satisfaites : il n'y a rien à "
                                       "changer.")


def test_bad_facts_raise_the_facts_error(catalog, decider):
    with pytest.raises(FactsError) as err:
        what_would_change(catalog, decider, DRAW, {**PROFILE, "age": "old"}, DRAW_DAY)
    assert "age" in err.value.extra["errors"]


# ------------------------------------------------------------------ the contract's changes
MINI_CONTRACT = """\
    id: mini
    title: {{en: Mini, fr: Mini}}
    reference: https://example.org
    facts:
      candidate_id: {{type: string}}
      age: {{type: integer, min: 0, max: 120}}
      years: {{type: integer, min: 0, max: 10, default: 0}}
      offer: {{type: boolean, default: false}}
      score: {{type: number, min: 0, max: 9, required: false, nullable: true}}
      level: {{type: string, enum: [low, mid, high], required: false, nullable: true}}
      born: {{type: date, required: false, nullable: true}}
    checks:
      - id: no-offer-before-two-years
        field: offer
        require: offer == false or years >= 2
        message: {{en: an offer needs two years, fr: une offre demande deux ans}}
        reference: https://example.org
    changes:
{changes}
"""
MINI_CHANGES = """\
      - id: years
        fact: years
        title: {en: the years of work, fr: les années de travail}
        step: 1
      - id: offer
        fact: offer
        title: {en: a job offer, fr: une offre d'emploi}
        when: offer == false
        set: true
"""
MINI_RULESET = """\
    id: test.mini
    version: "1"
    effective: {from: 2020-01-01}
    title: {en: Mini, fr: Mini}
    reference: https://example.org
    contract: mini
    rules:
      - id: adult
        title: {en: An adult, fr: Un adulte}
        reference: https://example.org
        require: age >= 18
      - id: experience
        title: {en: Three years of work or an offer, fr: Trois ans de travail ou une offre}
        reference: https://example.org
        require: years >= 3 or offer
"""


def mini(tmp_path, changes: str = MINI_CHANGES):
    root = tmp_path / "rulesets"
    (root / "contracts").mkdir(parents=True)
    (root / "contracts" / "mini.yaml").write_text(textwrap.dedent(MINI_CONTRACT.format(
        changes=textwrap.indent(textwrap.dedent(changes), " " * 6))), encoding="utf-8")
    (root / "mini.yaml").write_text(textwrap.dedent(MINI_RULESET), encoding="utf-8")
    return root


def test_only_declared_facts_change_in_their_declared_direction(tmp_path):
    catalog, engine = load_compiled(mini(tmp_path))
    decider = InlineDecider(catalog, engine)
    day = dt.date(2020, 1, 1)
    # Too young: age is not declared, so nothing is suggested however small the change.
    young = what_would_change(catalog, decider, "test.mini",
                              {"candidate_id": "a", "age": 17, "years": 3}, day)
    assert young["changes"] == [] and young["search"]["complete"]
    # (the requirement reads age alone: nothing is even tried)
    assert young["search"]["decisions"] == 1
    assert young["summary"] == {
        "en": "No declared change can meet “An adult”: what it reads is not among the facts "
              "that may change.",
        "fr": "Aucun changement déclaré ne peut satisfaire l'exigence « Un adulte » : ce "
              "qu'elle lit n'est pas parmi les faits qui peuvent changer."}
    # One year short: a year more (1 step). The offer alone breaks the contract's check (an
    # offer needs two years) and is skipped, never suggested.
    short = what_would_change(catalog, decider, "test.mini",
                              {"candidate_id": "b", "age": 30, "years": 1, "level": "low"}, day)
    assert [[(f["fact"], f["from"], f["to"], f["steps"]) for f in c["facts"]]
            for c in short["changes"]] == [[("years", 1, 3, 2)]]
    assert short["search"]["skipped_profiles"] >= 1
    assert short["changes"][0]["text"] == {
        "en": "With the years of work 3 instead of 1, the outcome would be “Eligible”.",
        "fr": "Avec les années de travail à 3 au lieu de 1, le résultat serait « Admissible »."}
    # Two years: the offer (1 step) and one more year (1 step) are both answers, one per fact.
    two = what_would_change(catalog, decider, "test.mini",
                            {"candidate_id": "c", "age": 30, "years": 2}, day)
    assert facts_changed(two) == [["years"], ["offer"]]
    assert [c["steps"] for c in two["changes"]] == [1, 1]


def test_pairs_are_tried_when_no_single_fact_does_it(tmp_path):
    changes = MINI_CHANGES.replace("step: 1\n", "step: 1\n        max: 2\n")
    catalog, engine = load_compiled(mini(tmp_path, changes))
    answer = what_would_change(catalog, InlineDecider(catalog, engine), "test.mini",
                               {"candidate_id": "d", "age": 30, "years": 1},
                               dt.date(2020, 1, 1))
    # Years stop at 2 (short of 3); the offer needs 2 years: only both together.
    assert facts_changed(answer) == [["years", "offer"]]
    assert answer["changes"][0]["steps"] == 2


def test_when_nothing_declared_is_enough_the_answer_says_so(tmp_path):
    only_years = MINI_CHANGES.split("      - id: offer")[0].replace("step: 1\n",
                                                                  "step: 1\n        max: 2\n")
    catalog, engine = load_compiled(mini(tmp_path, only_years))
    answer = what_would_change(catalog, InlineDecider(catalog, engine), "test.mini",
                               {"candidate_id": "e", "age": 30, "years": 0},
                               dt.date(2020, 1, 1))
    assert answer["changes"] == [] and answer["search"]["complete"]
    assert answer["search"]["decisions"] == 3  # as sent, then 1 and 2 years
    assert answer["summary"]["en"] == ("No declared change of one fact, or of two facts "
                                       "together, changes this outcome.")


@pytest.mark.parametrize("change, key, line, message", [
    ("{id: a, fact: yeers, title: {en: a, fr: a}, step: 1}", "changes[a].fact", 19,
     "unknown fact 'yeers'; did you mean 'years'?"),
    ("{id: a, fact: years, title: {en: a, fr: a}, step: 0}", "changes[a].step", 19,
     "a step moves a fact up: it is above 0"),
    ("{id: a, fact: years, title: {en: a, fr: a}, step: 0.5}", "changes[a].step", 19,
     "'years' is a whole number: the step is one too"),
    ("{id: a, fact: level, title: {en: a, fr: a}, step: 1}", "changes[a].step", 19,
     "'level' is a string: only a number moves by a step"),
    ("{id: a, fact: level, title: {en: a, fr: a}, set: top}", "changes[a].set", 19,
     "'top' is not a value of 'level' (one of low, mid, high)"),
    ("{id: a, fact: score, title: {en: a, fr: a}, values: [7, 6.5]}", "changes[a].values", 19,
     "the values go up, each above the one before"),
    ("{id: a, fact: born, title: {en: a, fr: a}, set: 2030-01-01}", "changes[a].fact", 19,
     "'born' is a date: a date is never suggested"),
    ("{id: a, fact: score, title: {en: a}, step: 0.5}", "changes[a].title", 19,
     "missing the fr text"),
    ("{id: a, fact: level, title: {en: a, fr: a}, by: shortfall}", "changes[a].by", 19,
     "'level' is a string: only a number moves up by a derived fact"),
])
def test_a_bad_change_is_refused_with_file_line_and_key(tmp_path, change, key, line, message):
    root = mini(tmp_path, f"- {change}\n")
    with pytest.raises(RulesetError) as err:
        load_catalog(root)
    # (a contract that fails its schema is not loaded: the ruleset that names it says so too)
    [found] = [p for p in err.value.problems if p.file == "rulesets/contracts/mini.yaml"]
    assert (found.line, found.key) == (line, key)
    assert message in found.message


def test_the_bundled_contract_declares_no_change_of_what_cannot_change(catalog):
    changes = catalog.in_force(DRAW, DRAW_DAY).changes
    facts = {c.fact.split(".")[0] for c in changes}
    assert not facts & {"age", "marital_status", "primary_noc", "noc_version",
                        "intends_to_reside_in", "profile_submitted_at", "candidate_id"}
    assert all(c.kind != "step" or c.step > 0 for c in changes)
    assert all(c.title["en"] and c.title["fr"] for c in changes)


# ---------------------------------------------------------------------------------------- CLI
def test_the_cli_explains_what_would_change(tmp_path, capsys):
    path = tmp_path / "candidate.json"
    path.write_text(json.dumps(IELTS), encoding="utf-8")
    assert cli(["explain", DRAW, str(path), "--as-of", "2019-07-12", "--what-would-change"]) == 0
    out = capsys.readouterr().out
    assert "What would change the outcome:" in out
    assert "1. With IELTS writing 7 instead of 6.5, the Comprehensive Ranking System score " \
           "would be 455 instead of 435" in out
    assert "[first_language.writing 6.5 -> 7.0; steps: 1]" in out
    assert cli(["explain", DRAW, str(path), "--as-of", "2019-07-12", "--what-would-change",
                "--lang", "fr"]) == 0
    assert "Ce qui changerait le résultat :" in capsys.readouterr().out
    assert cli(["explain", DRAW, str(path), "--as-of", "2019-07-12", "--what-would-change",
                "--json", "--lang", "fr"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["changes"][0]["text"].startswith("Avec le résultat IELTS en expression écrite")
    assert answer["changes"][0]["scores"]["crs"] == {"from": 435, "to": 455}


def test_the_declared_scale_steps_are_the_levels_of_the_language_charts(catalog):
    """TEF, TCF and PTE results move through the lowest score of each level of their charts:
    the contract's values and the charts of express-entry.language 2024-01-30 agree."""
    charts = {t["id"]: t for t in catalog.version("express-entry.language",
                                                  "2024-01-30").raw["tables"]}
    checked = 0
    for change in catalog.in_force(DRAW, DRAW_DAY).changes:
        if change.kind != "values" or not change.fact.endswith(
                ("reading", "writing", "listening", "speaking")):
            continue
        test = change.id.split("-", 1)[1].rsplit("-", 1)[0]  # pte, tef-699, tef-old, tcf
        rows = charts[f"first-{test}-{change.fact.split('.')[-1]}"]["rows"]
        floors = sorted(next(r[k] if k != "range" else r[k][0] for k in
                             ("range", "equals", "at_least") if k in r)
                        for r in rows if r["value"] > 0)
        assert list(change.values) == floors, change.id
        checked += 1
    assert checked == 2 * 4 * 4  # first and second language, 4 abilities, 4 charts


def test_the_engine_process_gives_the_same_answer_as_the_engine_in_process(catalog, decider):
    """As served, the decider is a supervised engine process: batches cross a pipe with only
    what the search reads of each decision (summary_of)."""
    from service.decisions import ProcessDecider

    from .conftest import RULESETS

    served = ProcessDecider(catalog, RULESETS)
    try:
        answer = what_would_change(catalog, served, DRAW, IELTS, DRAW_DAY)
    finally:
        served.close()
    inline = what_would_change(catalog, decider, DRAW, IELTS, DRAW_DAY)
    assert answer["changes"] == inline["changes"]
    assert answer["search"]["decisions"] == inline["search"]["decisions"]
