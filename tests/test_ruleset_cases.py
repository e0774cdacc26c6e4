"""The rulesets' own test cases (`*.cases.yaml` beside the rulesets) as pytest items, one per case
and day, as OpenFisca runs its YAML tests: a failing case shows in pytest's report under its
file and name, with what was expected and what the engine gave. `decisions test rulesets` runs
the same cases (and `make test` runs both)."""

from __future__ import annotations

import pytest

from service.checks.cases import CaseFileSchema, case_files, case_name, format_report, run_cases
from service.rulesets import load_yaml
from tests.apps import RULESETS


def _listed() -> list[tuple[str, str]]:
    """(file, case name) of every case, read from the case files alone (no engine at
    collection time)."""
    out = []
    for path in case_files(RULESETS):
        display = str(path.relative_to(RULESETS.parent))
        loaded = CaseFileSchema().load(load_yaml(path, display)[0])
        out += [(display, case_name(case, day)) for case in loaded["cases"]
                for day in case["as_of"]]
    return out


CASES = _listed()


@pytest.fixture(scope="module")
def report(catalog, engine):
    return run_cases(catalog, engine, case_files(RULESETS))


@pytest.fixture(scope="module")
def results(report):
    return {(r.file, r.name): r for r in report.results}


def test_the_bundled_rulesets_hold_cases():
    assert len(CASES) > 100


@pytest.mark.parametrize(("file", "name"), CASES, ids=[f"{f}::{n}" for f, n in CASES])
def test_case(results, file, name):
    result = results[(file, name)]
    assert result.error is None, f"{file}:{result.line}: {name}: {result.error}"
    assert result.passed, f"{file}:{result.line}: {name}\n" + "\n".join(
        f"    {m.field}: expected {m.expected!r}, got {m.actual!r}" for m in result.mismatches)


def test_every_rule_is_covered_and_every_case_file_is_valid(report):
    assert not report.problems, [str(p) for p in report.problems]
    assert not report.uncovered, format_report(report)


def test_a_rule_id_two_rulesets_of_a_decision_share_is_named_by_ruleset():
    """Rule ids are unique within a ruleset only: the Express Entry education category and
    Ontario's education criterion meet in one assessment. A case names such a rule as
    RULESET:rule; the id alone is a mismatch, never a guess at which one was meant."""
    from service.checks.cases import compare

    decision = {
        "outcome": "eligible", "scores": {}, "derived": {},
        "requirements": [{"rule": "education", "ruleset": "express-entry.categories",
                          "met": False},
                         {"rule": "education", "ruleset": "oinp.hcp", "met": True},
                         {"rule": "stem", "ruleset": "express-entry.categories", "met": False}],
        "fired": [{"rule": "education", "ruleset": "oinp.hcp"}]}
    known = {"education": {"express-entry.categories", "oinp.hcp"},
             "stem": {"express-entry.categories"}}
    qualified = {"requirements": {"express-entry.categories:education": "not_met",
                                  "oinp.hcp:education": "met", "stem": "not_met"},
                 "fired": ["oinp.hcp:education"],
                 "not_fired": ["express-entry.categories:education"]}
    assert compare(qualified, decision, known) == []
    alone = compare({"requirements": {"education": "met"}, "fired": ["education"]}, decision,
                    known)
    assert [m.field for m in alone] == ["fired.education", "requirements.education"]
    assert all("ambiguous: 2 rulesets of the decision have 'education' "
               "(express-entry.categories:education, oinp.hcp:education)" in m.actual
               for m in alone)
    wrong = compare({"requirements": {"oinp.hcp:stem": "met"}}, decision, known)
    assert [(m.field, m.actual) for m in wrong] == [
        ("requirements.oinp.hcp:stem", "no such rule"),
        ("requirements.oinp.hcp:stem", "no such requirement")]


CASE_FILES = [str(path.relative_to(RULESETS.parent)) for path in case_files(RULESETS)]


@pytest.mark.parametrize("file", CASE_FILES)
def test_every_bundled_case_is_named_in_english_and_french(file):
    """Every text a person reads is in both official languages: a case file may name a case in
    English only (read as English, for a team that writes cases by hand in one language), the
    bundled ones name each case in both, and the French is written, not copied."""
    data, lines = load_yaml(RULESETS.parent / file, file)
    loaded = CaseFileSchema().load(data)
    english_only = [f"{file}:{lines.get(('cases', i))}: {case['name']['en']}"
                    for i, case in enumerate(loaded["cases"]) if "fr" not in case["name"]]
    assert not english_only, f"{len(english_only)} case(s) without a French name:\n" + \
        "\n".join(english_only[:10])
    copied = [f"{file}:{lines.get(('cases', i))}" for i, case in enumerate(loaded["cases"])
              if case["name"]["fr"] == case["name"]["en"]]
    assert not copied, f"French names that are the English: {copied[:10]}"
