"""Every why-not a bundled ruleset gives is written for a person (issue 19): it names facts by
their titles and values as words, never by the identifiers of the ruleset files."""

from __future__ import annotations

import datetime as dt
import re
import shutil

import pytest

from service.checks.cases import CaseFileSchema, case_files, deep_merge
from service.decisions import TextSource, catalog_texts, decide, with_texts
from service.decisions import why_nots as written_why_nots
from service.decisions.why_not import Words, because_text, show
from service.engine import compiled
from service.errors import DecisionError
from service.rulesets import kept_version, load_catalog, load_yaml
from service.rulesets.model import flatten_facts
from tests.apps import RULESETS
from tests.conftest import PROFILE as PROFILE_FOR_WORDS


def _identifiers(catalog) -> set[str]:
    """Names only a ruleset file uses: dotted fact paths, snake_case facts and constants."""
    names: set[str] = set()
    for v in catalog.all_versions():
        names.update(flatten_facts(v.facts))
        names.update(v.derives)
        names.update(v.constants)
    return {n for n in names if "." in n or "_" in n}


def _raw_values(catalog) -> set[str]:
    """Enum values as written in the files (``two_year_post_secondary``, ``teer_0_1``)."""
    values: set[str] = set()
    for v in catalog.all_versions():
        for spec in list(flatten_facts(v.facts).values()):
            values.update(str(e) for e in spec.enum or () if "_" in str(e))
        for spec in v.derives.values():
            values.update(str(e) for e in spec.get("enum") or () if "_" in str(e))
    return values


@pytest.fixture(scope="module")
def why_nots(catalog, engine) -> list[tuple[str, str, str, str]]:
    out = []
    for path in case_files(RULESETS):
        loaded = CaseFileSchema().load(load_yaml(path, str(path))[0])
        for case in loaded["cases"]:
            facts = deep_merge(loaded.get("base") or {}, case.get("facts") or {})
            for day in case["as_of"]:
                try:
                    d = decide(catalog, engine, loaded["ruleset"], facts, day)
                except DecisionError:
                    continue
                d = with_texts(d, catalog_texts(catalog))
                out += [(case["name"], r["rule"], lang, r["because"][lang])
                        for r in d["requirements"] if not r["met"] for lang in ("en", "fr")]
    return out


def test_no_why_not_shows_an_identifier(catalog, why_nots):
    assert len(why_nots) > 500
    names = _identifiers(catalog) | _raw_values(catalog)
    pattern = re.compile(r"(?<![\w.])(" + "|".join(sorted(map(re.escape, names), key=len,
                                                            reverse=True)) + r")(?![\w])")
    shown = sorted({(rule, lang, text, m.group(1)) for _, rule, lang, text in why_nots
                    for m in [pattern.search(text)] if m})
    assert not shown, "\n".join(f"{rule} [{lang}] shows '{name}': {text}"
                                for rule, lang, text, name in shown[:20])


def test_a_derived_fact_is_traced_to_what_the_candidate_gave():
    words = Words(titles={"occupation.tech_2016": {"en": "Tech occupation", "fr": "Profession "
                                                   "technologique"},
                          "primary_noc": {"en": "Primary occupation", "fr": "Profession "
                                          "principale"}},
                  sources={"occupation.tech_2016": {"primary_noc": "6311"}})
    reason = {"fact": "occupation.tech_2016", "value": "none", "op": "in",
              "expected": ["2173", "0213"], "constant": "tech_nocs", "missing": False}
    assert because_text(reason, words) == {
        "en": "Tech occupation: none (from Primary occupation: 6311), needs 2173 or 0213.",
        "fr": "Profession technologique\u00a0: none (d'après Profession principale\u00a0: 6311), "
              "il faut 2173 ou 0213."}


def test_an_or_shows_only_the_alternative_that_applies():
    """A candidate in a TEER 0 or 1 job is told the CLB 7 it needs, not what a TEER 2 job
    would need (CEC, 2022-11-16)."""
    words = Words(titles={"first_clb.min": {"en": "Lowest CLB", "fr": "NCLC le plus bas"},
                          "occupation.teer_group": {"en": "TEER group", "fr": "Groupe FEER"}})
    reason = {"any": [
        {"fact": "first_clb.min", "value": 6, "op": ">=", "expected": 7, "constant": None,
         "missing": False},
        {"all": [{"fact": "occupation.teer_group", "value": "teer_0_1", "op": "==",
                  "expected": "teer_2_3", "constant": None, "missing": False}]}]}
    assert because_text(reason, words)["en"] == "Lowest CLB: 6, needs at least 7."


def test_values_read_as_words_in_each_language():
    assert show(12669, "fr") == "12\u00a0669" and show(12669, "en") == "12,669"
    assert show(6.5, "fr") == "6,5" and show(779.96, "en") == "779.9"  # cut, never rounded up
    assert show("2026-01-01", "fr") == "1er janvier 2026"
    assert show("2026-01-01", "en") == "January 1, 2026"
    assert show(["0213", "2147", "2172"], "fr") == "0213, 2147 et 2172"
    assert show(True, "fr") == "oui" and show(None, "en") == "not given"


def test_an_or_whose_alternatives_are_all_for_other_candidates_says_what_they_need():
    """A TEER 4 job: neither the CLB 7 nor the CLB 5 alternative applies; the candidate is told
    the TEER groups the alternatives are for, once."""
    words = Words(titles={"first_clb.min": {"en": "Lowest CLB", "fr": "NCLC le plus bas"},
                          "occupation.teer_group": {"en": "TEER group", "fr": "Groupe FEER"}},
                  values={"occupation.teer_group": {
                      "teer_0_1": {"en": "0 or 1", "fr": "0 ou 1"},
                      "teer_2_3": {"en": "2 or 3", "fr": "2 ou 3"},
                      "teer_4_5": {"en": "4 or 5", "fr": "4 ou 5"}}})
    guard = {"fact": "occupation.teer_group", "value": "teer_4_5", "op": "==",
             "constant": None, "missing": False}
    reason = {"any": [{**guard, "expected": "teer_0_1"}, {**guard, "expected": "teer_2_3"}]}
    assert because_text(reason, words) == {
        "en": "TEER group: 4 or 5, needs 0 or 1 or 2 or 3.",
        "fr": "Groupe FEER\u00a0: 4 ou 5, il faut 0 ou 1 ou 2 ou 3."}


def test_a_replay_compares_why_not_trees_not_their_wording():
    """Decisions logged before a why-not was reworded still replay as identical; a different
    tree (another value, another failed part) does not."""
    from service.live.decision_service import _compared

    requirement = {"rule": "language", "ruleset": "oinp.hcp", "met": False,
                   "why_not": {"fact": "first_clb.min", "value": 6, "op": ">=", "expected": 7,
                               "constant": "min_clb", "missing": False},
                   "because": {"en": "first_clb.min = 6, needs >= min_clb (7)", "fr": "..."}}
    decision = {"decision_id": "a", "decided_at": "t", "requirements": [requirement],
                "fired": [], "rulesets": [{"id": "oinp.hcp", "version": "2019-07-11",
                                           "sha256": "0" * 64}]}
    reworded = {**decision, "decision_id": "b", "requirements": [
        {**requirement, "because": {"en": "Lowest CLB: 6, needs at least 7.", "fr": "..."}}]}
    assert _compared(decision) == _compared(reworded)
    other = {**decision, "requirements": [
        {**requirement, "why_not": {**requirement["why_not"], "value": 5}}]}
    assert _compared(decision) != _compared(other)


def test_the_candidates_own_occupation_and_none_of_the_six_in_words(catalog, engine):
    """The issue's example: NOC 6311 in the 2019 tech draw names the candidate's occupation with
    its title and says "none of the six", never the raw value ``none``."""
    d = with_texts(decide(catalog, engine, "oinp.hcp.tech-draw",
                          {**PROFILE_FOR_WORDS, "primary_noc": "6311"}, dt.date(2019, 7, 15)),
                   catalog_texts(catalog))
    [tech] = [r["because"] for r in d["requirements"] if r["rule"] == "tech-occupation"]
    assert tech["en"] == (
        "The NOC 2016 tech occupation (OINP tech draws, 2019) the primary occupation corresponds "
        "to: none of the six (from NOC version of the occupation code: NOC 2016; Primary "
        "occupation (NOC code): 6311 (Food service supervisors)), needs 2173, 2174, 2147, 2175, "
        "2172, or 0213.")
    assert tech["fr"].startswith(
        "Profession technologique de la CNP 2016 (tirages technologiques du POCI, 2019) à "
        "laquelle correspond la profession principale\u00a0: aucune des six (d'après ")
    assert "6311 (Superviseurs/superviseures des services alimentaires)" in tech["fr"]


def test_a_decision_keeps_ids_and_values_and_is_written_in_the_language_asked_for(catalog,
                                                                                 engine):
    """What is decided and logged holds the why-not trees and the facts read, never sentences;
    written for one language, the sentences are those of both languages for that language."""
    facts = {**PROFILE_FOR_WORDS, "primary_noc": "1111", "intends_to_reside_in": "BC"}
    d = decide(catalog, engine, "express-entry.assessment", facts, dt.date(2019, 7, 15))
    unmet = [r for r in d["requirements"] if not r["met"]]
    assert unmet and all("because" not in r and r["why_not"] and "matched" in r for r in unmet)
    both = written_why_nots(d, catalog_texts(catalog))
    assert set(both) == {(r["ruleset"], r["rule"]) for r in unmet}
    for lang in ("en", "fr"):
        assert written_why_nots(d, catalog_texts(catalog), (lang,)) == {
            key: {lang: text[lang]} for key, text in both.items()}


def test_a_logged_decision_reads_in_the_words_of_the_version_it_used(catalog, engine, tmp_path):
    """Once the ruleset files changed (here a fact's title and a ``because:`` text), a logged
    decision is written from the version it names as the decision log keeps it, never from the
    files loaded now; a decision made now reads the new words."""
    root = tmp_path / "rulesets"
    shutil.copytree(RULESETS, root)
    contract = root / "contracts" / "candidate-profile.yaml"
    text = contract.read_text(encoding="utf-8")
    old_title = "Province or territory where the candidate intends to live"
    assert old_title in text
    contract.write_text(text.replace(old_title, "Where the candidate will live"),
                        encoding="utf-8")
    changed = load_catalog(root)
    facts = {**PROFILE_FOR_WORDS, "intends_to_reside_in": "BC"}
    day = dt.date(2019, 7, 15)
    logged = decide(catalog, engine, "oinp.hcp", facts, day)
    assert all(changed.by_sha256(r["sha256"]) is None for r in logged["rulesets"]
               if r["id"] == "oinp.hcp")  # the version it used is no longer loaded

    kept = {v.sha256: v.canonical for v in catalog.all_versions()}  # what the log keeps
    texts = TextSource(changed, lambda sha256: kept_version(kept[sha256]) if sha256 in kept
                       else None)
    reside = _because(with_texts(logged, texts), "reside-in-ontario")
    assert reside == _because(with_texts(logged, catalog_texts(catalog)), "reside-in-ontario")
    assert reside["en"] == f"{old_title}: British Columbia, needs Ontario."
    # Without the kept copy the rule's key stands in for its title, and the sentence loses the
    # words of the version (the tree still says what failed).
    lost = _because(with_texts(logged, catalog_texts(changed)), "reside-in-ontario")
    assert lost["en"] != reside["en"]
    now = with_texts(decide(changed, compiled(changed), "oinp.hcp", facts, day),
                     catalog_texts(changed))
    assert _because(now, "reside-in-ontario")["en"] == \
        "Where the candidate will live: British Columbia, needs Ontario."


def _because(decision, rule):
    [because] = [r["because"] for r in decision["requirements"] if r["rule"] == rule]
    return because


def test_a_requirement_on_one_alternative_says_that_alternatives_own_why_not(catalog, engine):
    """A round type reads one category of express-entry.categories (met_when: any) as
    ``categories.healthcare.met``: met or not as that category alone, and, when not met, its
    why-not is the category's own, in both languages, not the list of every category missed."""
    facts = {"candidate_id": "C-ALT", "age": 30, "marital_status": "single",
             "education": "bachelors", "education_assessed": True,
             "first_language": {"test": "clb", "reading": 9, "writing": 9, "listening": 9,
                                "speaking": 9},
             "canadian_work_years": 1, "foreign_work_years": 3, "primary_noc": "21231",
             "noc_version": "2021", "intends_to_reside_in": "ON", "settlement_funds_cad": 20000,
             "work_history": [{"noc": "21231", "noc_version": "2021", "start": "2022-06-01",
                               "end": None, "hours_per_week": 40, "in_canada": True}]}
    stem = decide(catalog, engine, "express-entry.round-type.stem", facts, dt.date(2023, 7, 5))
    assert stem["outcome"] == "eligible_for_the_round_type"
    healthcare = with_texts(decide(catalog, engine, "express-entry.round-type.healthcare", facts,
                                   dt.date(2023, 7, 5)), catalog_texts(catalog))
    by_rule = {(r["ruleset"], r["rule"]): r for r in healthcare["requirements"]}
    own = by_rule[("express-entry.categories", "healthcare")]
    category = by_rule[("express-entry.round-type.healthcare", "category")]
    assert not category["met"] and category["matched"] == {"categories.healthcare.met": False}
    for lang in ("en", "fr"):
        mine, theirs = category["because"][lang], own["because"][lang]  # as a sentence
        assert mine == theirs[:1].upper() + theirs[1:].rstrip(".") + "."
    assert "STEM" not in category["because"]["en"]  # the category met is not listed
