"""Case names in both official languages (issue 19, item 6): a case's ``name`` is
``{en: ..., fr: ...}`` as every text of the rulesets, or one plain text read as English only (a
case file written by hand in one language). Reports and matching use the English; pages pick
the language they are read in."""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest

from service.checks.cases import CaseFileSchema, case_name, format_report, name_in, run_cases
from service.cli import main
from service.rulesets import load_yaml
from tests.apps import RULESETS

HEADER = """\
ruleset: express-entry.noc
base: {candidate_id: C-NOC, age: 30, marital_status: single, education: bachelors, education_assessed: true, first_language: {test: clb, reading: 9, writing: 9, listening: 9, speaking: 9}, intends_to_reside_in: "ON"}
cases:
"""  # noqa: E501
BOTH = """\
  - name:
      en: A software engineer coded 2173 in NOC 2016 is skill level A
      fr: Un ingénieur logiciel codé 2173 dans la CNP 2016 est de niveau de compétence A
    as_of: 2020-01-01
    facts: {primary_noc: "2173", noc_version: "2016"}
    expect: {derived: {occupation.noc2016_level: A}}
"""


def case_file(tmp_path, body: str, name: str = "names.cases.yaml"):
    path = tmp_path / name
    path.write_text(HEADER + textwrap.dedent(body), encoding="utf-8")
    return path


def load(path):
    data, _ = load_yaml(path, path.name)
    return CaseFileSchema().load(data)


def problems(catalog, engine, path) -> list[str]:
    report = run_cases(catalog, engine, [path], check_coverage=False)
    return [f"{p.line}: {p.key}: {p.message}" for p in report.problems]


def test_a_name_in_english_and_french_loads_as_both(tmp_path):
    [case] = load(case_file(tmp_path, BOTH))["cases"]
    assert case["name"] == {
        "en": "A software engineer coded 2173 in NOC 2016 is skill level A",
        "fr": "Un ingénieur logiciel codé 2173 dans la CNP 2016 est de niveau de compétence A"}
    assert name_in(case["name"], "fr").startswith("Un ingénieur logiciel")
    assert case_name(case, dt.date(2020, 1, 1)) == case["name"]["en"]  # reports: English


def test_a_plain_name_is_read_as_english_only(tmp_path):
    [case] = load(case_file(tmp_path, BOTH.replace(
        "  - name:\n      en: A software engineer coded 2173 in NOC 2016 is skill level A\n"
        "      fr: Un ingénieur logiciel codé 2173 dans la CNP 2016 est de niveau de compétence A",
        "  - name: A software engineer coded 2173 in NOC 2016 is skill level A")))["cases"]
    assert case["name"] == {"en": "A software engineer coded 2173 in NOC 2016 is skill level A"}
    # a French page shows the English, as a code without its French title shows the code
    assert name_in(case["name"], "fr") == case["name"]["en"]


@pytest.mark.parametrize(("name", "message"), [
    ("{en: A software engineer coded 2173 is skill level A}",
     "5: cases[0].name: missing the fr text (a text needs en and fr)"),
    ("{en: A software engineer coded 2173 is skill level A, fr: ''}",
     "5: cases[0].name: missing the fr text (a text needs en and fr)"),
    ("{en: A software engineer coded 2173 is skill level A, fr: Un ingénieur logiciel codé "
     "2173 est de niveau A, de: Ein Softwareingenieur}",
     "5: cases[0].name: unknown language de (a text needs en and fr)"),
    ("{en: Too short, fr: Un ingénieur logiciel codé 2173 est de niveau A}",
     "5: cases[0].name: shorter than minimum length 10 (the en text): name the case in a "
     "sentence"),
    ("{en: A software engineer coded 2173 is skill level A, fr: Trop bref}",
     "5: cases[0].name: shorter than minimum length 10 (the fr text): name the case in a "
     "sentence"),
    ("Too short", "5: cases[0].name: shorter than minimum length 10 (the en text): name the "
                  "case in a sentence"),
    ("[A software engineer, Un ingénieur logiciel]",
     "5: cases[0].name: must give the text in English and French: {en: ..., fr: ...}"),
])
def test_a_broken_name_is_refused_with_its_file_line_and_key(catalog, engine, tmp_path, name,
                                                              message):
    path = case_file(tmp_path, f"""\
      # a comment line, so that the case starts on line 5
      - name: {name}
        as_of: 2020-01-01
        facts: {{primary_noc: "2173", noc_version: "2016"}}
        expect: {{derived: {{occupation.noc2016_level: A}}}}
    """)
    assert problems(catalog, engine, path) == [message]


def test_the_name_of_a_case_decided_on_several_days_names_the_day_in_each_language(
        catalog, engine, tmp_path):
    path = case_file(tmp_path, BOTH.replace("as_of: 2020-01-01", "as_of: [2020-01-01, 2021-06-15]"))
    report = run_cases(catalog, engine, [path], check_coverage=False)
    first, second = report.results
    assert first.name == "A software engineer coded 2173 in NOC 2016 is skill level A " \
                         "(as of 2020-01-01)"
    assert first.names["fr"] == "Un ingénieur logiciel codé 2173 dans la CNP 2016 est de " \
                                "niveau de compétence A (au 1er janvier 2020)"
    assert second.name_in("fr").endswith("(au 15 juin 2021)") and second.as_of == "2021-06-15"
    assert report.english_only == []


def test_the_report_names_failing_cases_in_english_and_notes_the_english_only(
        catalog, engine, tmp_path):
    path = case_file(tmp_path, BOTH.replace("noc2016_level: A", "noc2016_level: B") + """\
  - name: A retail salesperson coded 6421 in NOC 2016 is skill level C
    as_of: 2020-01-01
    facts: {primary_noc: "6421", noc_version: "2016"}
    expect: {derived: {occupation.noc2016_level: C}}
""")
    report = run_cases(catalog, engine, [path], check_coverage=False)
    assert [r.passed for r in report.results] == [False, True]
    assert report.results[1].name_in("fr") == report.results[1].name  # English only: English
    text = format_report(report)
    assert f"FAIL {path}:4: A software engineer coded 2173 in NOC 2016 is skill level A" in text
    assert "Un ingénieur" not in text
    assert f"note {path}: 1 case(s) named in English only, with no French name (line 10)" in text


def test_decisions_test_reports_in_english(tmp_path, capsys):
    path = case_file(tmp_path, BOTH.replace("noc2016_level: A", "noc2016_level: B"))
    assert main(["test", str(path), "--rulesets", str(RULESETS)]) == 1
    out = capsys.readouterr().out
    assert "A software engineer coded 2173 in NOC 2016 is skill level A" in out
    assert "derived.occupation.noc2016_level: expected 'B', got 'A'" in out
    assert "Un ingénieur" not in out and "English only" not in out
