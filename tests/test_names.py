"""Names of things (issue 19, item 3): occupation titles as classification data and the words for
enum values, loaded and checked with the rulesets (every problem as file:line: key), looked up in
both languages, shown by the CLI and the API."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap

import pytest
import yaml

from service.errors import RulesetError
from service.rulesets import load_catalog
from service.rulesets.names import of_value, spec_at

from .apps import bearer, rulesets_without_french
from .conftest import PROFILE, ROOT, RULESETS

CLASSIFICATION = """\
    id: noc-test
    version: "test"
    title: {en: Test classification, fr: Classification d'essai}
    digits: 4
    reference: https://example.org/noc
    codes:
      "2173": {en: Software engineers and designers,
               fr: Ingénieurs/ingénieures et concepteurs/conceptrices en logiciel}
    """.rstrip(" ")


def problems(root) -> list[tuple[str, int | None, str, str]]:
    with pytest.raises(RulesetError) as err:
        load_catalog(root)
    return [(p.file, p.line, p.key, p.message) for p in err.value.problems]


# --------------------------------------------------------------------------- classifications
def test_a_code_of_the_wrong_shape_is_refused_at_its_line(ruleset_dir):
    ruleset_dir("classifications/noc-test.yaml", CLASSIFICATION + """\
      "217": {en: Computer and information systems professionals, fr: Professionnels}
      0213: {en: Computer and information systems managers, fr: Gestionnaires}
    """)
    found = problems(ruleset_dir.root)
    where = "rulesets/classifications/noc-test.yaml"
    assert (where, 9, "codes.217", "a code of noc-test has 4 digits, written as text ('217' is "
            "not; quote codes: 0213 unquoted is read as a number)") in found
    # YAML reads 0213 as an octal number (139): refused, never a title for another code.
    assert any(f == where and ln == 10 and k == "codes.139" for f, ln, k, _ in found), found


def test_a_code_without_its_french_title_or_a_note_saying_why_is_refused(ruleset_dir):
    ruleset_dir("classifications/noc-test.yaml", CLASSIFICATION + """\
      "2174": {en: Computer programmers and interactive media developers}
      "2175": {en: Web designers and developers, note: no official French title read}
    """)
    assert problems(ruleset_dir.root) == [(
        "rulesets/classifications/noc-test.yaml", 9, "codes.2174.fr",
        "missing the fr title: give the official French title, or a note saying that no "
        "source read gives it")]


def test_a_constant_of_noc_codes_must_title_every_code(ruleset_dir):
    ruleset_dir("classifications/noc-test.yaml", CLASSIFICATION)
    ruleset_dir("test/tech-2019-01-01.yaml", """\
        id: test.tech
        version: "2019-01-01"
        effective: {from: 2019-01-01}
        title: {en: Tech, fr: Technologie}
        reference: https://example.org
        contract: candidate-profile
        constants:
          tech:
            items: noc-test
            value: ["2173", "2174"]
            reference: https://example.org/tech
          other:
            items: noc-2061
            value: ["2173"]
            reference: https://example.org/tech
        rules:
          - id: tech
            title: {en: Tech occupation, fr: Profession technologique}
            reference: https://example.org
            require: primary_noc in tech
        """)
    where = "rulesets/test/tech-2019-01-01.yaml"
    found = problems(ruleset_dir.root)
    assert (where, 10, "constants.tech.value[1]", "'2174' has no title in noc-test "
            "(rulesets/classifications/noc-test.yaml): add the code with its English and French "
            "titles there") in found
    assert any(f == where and ln == 13 and k == "constants.other.items"
               and m.startswith("no classification 'noc-2061' in classifications/")
               for f, ln, k, m in found), found
    assert len(found) == 2


# -------------------------------------------------------------------------------- enum titles
MINI = """\
    id: mini
    title: {en: Mini, fr: Mini}
    reference: https://example.org
    facts:
      colour:
        type: string
        enum: [red, green, blue]
        titles:
          red: {en: red, fr: rouge}
          green: {en: green, fr: vert}
          bleu: {en: blue, fr: bleu}
      size: {type: string, titles: {small: {en: small, fr: petit}}}
      code:
        type: string
        codes: {by: size, classifications: {"2016": noc-2016}}
      offer:
        type: string
        codes: {classification: noc-2061}
    """


def test_enum_titles_give_every_value_its_words_and_name_no_other(tmp_path):
    root = tmp_path / "rulesets"
    (root / "contracts").mkdir(parents=True)
    shutil.copytree(RULESETS / "classifications", root / "classifications")
    (root / "contracts" / "mini.yaml").write_text(textwrap.dedent(MINI), encoding="utf-8")
    found = problems(root)
    where = "rulesets/contracts/mini.yaml"
    assert (where, 11, "facts.colour.titles.bleu",
            "'bleu' is not a value of the enum; did you mean 'blue'?") in found
    assert (where, 12, "facts.size.titles",
            "titles name the values of an enum: this fact has no enum") in found
    assert len(found) == 2  # the schema stops at these; the codes are checked once they pass

    fixed = MINI.replace("bleu: {en: blue", "blue: {en: blue").replace(
        "size: {type: string, titles: {small: {en: small, fr: petit}}}",
        "size: {type: string, enum: [small]}")
    (root / "contracts" / "mini.yaml").write_text(textwrap.dedent(fixed), encoding="utf-8")
    found = problems(root)
    assert (where, 15, "facts.code.codes.classifications",
            "no classification for size = 'small'") in found
    assert (where, 15, "facts.code.codes.classifications.2016",
            "'2016' is not a value of size") in found
    assert any(f == where and ln == 18 and k == "facts.offer.codes.classification"
               and m.startswith("no classification 'noc-2061' in classifications/")
               for f, ln, k, m in found), found

    untitled = fixed.replace("          green: {en: green, fr: vert}\n", "")
    (root / "contracts" / "mini.yaml").write_text(textwrap.dedent(untitled), encoding="utf-8")
    assert (where, 8, "facts.colour.titles", "no title for 'green' (titles give every value "
            "of the enum its words)") in problems(root)


def test_every_enum_of_the_candidate_profile_has_its_words():
    contract = yaml.safe_load((RULESETS / "contracts" / "candidate-profile.yaml").read_text())

    def walk(specs, prefix=""):
        for name, spec in specs.items():
            if spec.get("enum"):
                yield prefix + name, spec
            yield from walk(spec.get("fields") or {}, f"{prefix}{name}.")

    enums = dict(walk(contract["facts"]))
    assert {"education", "marital_status", "first_language.test", "intends_to_reside_in",
            "arranged_employment", "spouse.education"} <= set(enums)
    for path, spec in enums.items():
        assert set(spec.get("titles") or {}) == {str(v) for v in spec["enum"]}, path


def test_every_noc_code_a_ruleset_or_case_names_has_a_title(catalog):
    """Every 4- or 5-digit code written in a ruleset or a case file (a profile's occupation, a
    job offer's, a list, a table row) has an English title, and French or a note why not."""
    quoted = re.compile(r"""['"]([0-9]{4,5})['"]""")
    one = re.compile(r"""(?:primary_noc|\bnoc)\s*:\s*['"]([0-9]{4,5})['"]""")
    lists = re.compile(r"(?:value|in):\s*\[([^\]]*)\]")
    named = set()
    for path in RULESETS.rglob("*.yaml"):
        if "classifications" not in path.parts and "contracts" not in path.parts:
            text = path.read_text(encoding="utf-8")
            named |= set(one.findall(text))
            named |= {c for found in lists.findall(text) for c in quoted.findall(found)}
    assert {"2173", "0213", "21231", "21211", "72200"} <= named
    missing = [c for c in sorted(named) if catalog.code_title(c, "en") is None]
    assert not missing, missing


# ------------------------------------------------------------------------------------ lookups
def test_occupation_titles_and_enum_words_in_both_languages(catalog):
    assert catalog.occupation_title("2173", "2016", "en") == "Software engineers and designers"
    assert catalog.occupation_title("2173", "noc-2016", "fr") == (
        "Ingénieurs/ingénieures et concepteurs/conceptrices en logiciel")
    assert catalog.occupation_title("21231", "2021", "en") == "Software engineers and designers"
    assert catalog.occupation_title("21231", "2021", "fr") == (
        "Ingénieurs/ingénieures et concepteurs/conceptrices en logiciel")
    assert catalog.occupation_title("00013", "noc-2021", "fr") == (
        "Cadres supérieurs/cadres supérieures - santé, enseignement, services sociaux et "
        "communautaires et associations mutuelles")
    assert catalog.occupation_title("9999", "2016", "en") is None
    assert catalog.value_title("education", "bachelors", "en") == (
        "bachelor's degree or a program of three years or more")
    assert catalog.value_title("education", "bachelors", "fr") == (
        "baccalauréat OU programme de trois ans ou plus")
    assert catalog.value_title("spouse.education", "doctoral", "fr") == "doctorat (Ph. D.)"
    assert catalog.value_title("second_language.test", "tef", "en") == "TEF Canada"
    assert catalog.value_title("intends_to_reside_in", "QC", "fr") == "Québec"
    assert catalog.value_title("education", "bachelorz", "en") is None

    facts = catalog.facts_for(catalog.version("express-entry.crs", "2019-07-11"))
    assert of_value(spec_at(facts, "marital_status"), "common_law", "fr") == "conjoint de fait"
    assert of_value(spec_at(facts, "first_language.test"), "clb", "en").startswith(
        "English levels given directly")
    assert of_value(spec_at(facts, "age"), 29, "en") is None
    assert spec_at(facts, "first_language.nope") is None


def test_fact_words_name_the_occupation_by_its_version_and_the_job_offer_by_its_own(catalog):
    top = catalog.version("oinp.hcp.tech-draw", "2019-07-11")
    words = catalog.fact_words(top, {**PROFILE, "noc_version": "2016"}, "fr")
    assert words["primary_noc"] == (
        "2173 Ingénieurs/ingénieures et concepteurs/conceptrices en logiciel")
    assert words["education"] == "baccalauréat OU programme de trois ans ou plus"
    assert words["intends_to_reside_in"] == "Ontario" and "age" not in words
    # The same digits under the other version are another code: no title is guessed.
    assert "primary_noc" not in catalog.fact_words(top, {**PROFILE, "noc_version": "2021"},
                                                   "en")
    offer = catalog.fact_words(None, {"ontario_job_offer": {"noc": "21231"}}, "en")
    assert offer == {"ontario_job_offer.noc": "21231 Software engineers and designers"}


def test_the_titles_are_part_of_what_identifies_the_folder(tmp_path, catalog):
    root = tmp_path / "rulesets"
    shutil.copytree(RULESETS, root)
    path = root / "classifications" / "noc-2016.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "Software engineers and designers", "Software engineers and software designers"),
        encoding="utf-8")
    changed = load_catalog(root)
    assert changed.fingerprint() != catalog.fingerprint()
    assert [f for f in changed.fingerprint() if f[0].startswith("classifications/")] != [
        f for f in catalog.fingerprint() if f[0].startswith("classifications/")]
    # the rulesets themselves are unchanged: only the names moved
    assert {v.sha256 for v in changed.all_versions()} == {
        v.sha256 for v in catalog.all_versions()}


# ------------------------------------------------------------------------------ CLI and API
@pytest.mark.parametrize("lang, occupation, education", [
    ("en", "primary_noc: 2173 Software engineers and designers",
     "education: bachelor's degree or a program of three years or more"),
    ("fr", "primary_noc: 2173 Ingénieurs/ingénieures et concepteurs/conceptrices en logiciel",
     "education: baccalauréat OU programme de trois ans ou plus")])
def test_the_cli_explanation_names_the_occupation_and_the_values(tmp_path, lang, occupation,
                                                                  education):
    facts = tmp_path / "candidate.json"
    facts.write_text(json.dumps(PROFILE), encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "service.cli", "explain",
                             "oinp.hcp.tech-draw", str(facts), "--as-of", "2019-07-15",
                             "--lang", lang], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert occupation in lines and education in lines


def test_the_api_gives_the_names_in_the_language_asked_for(client):
    english = client.get("/v1/names", headers=bearer("auditor"))
    assert english.status_code == 200 and english.headers["Content-Language"] == "en"
    body = english.get_json()
    noc2016 = next(c for c in body["classifications"] if c["id"] == "noc-2016")
    assert noc2016["codes"]["2173"] == "Software engineers and designers"
    assert body["values"]["education"]["bachelors"] == (
        "bachelor's degree or a program of three years or more")
    french = client.get("/v1/names", headers={**bearer("auditor"), "Accept-Language": "fr"})
    body = french.get_json()
    noc2021 = next(c for c in body["classifications"] if c["id"] == "noc-2021")
    assert noc2021["codes"]["21231"] == (
        "Ingénieurs/ingénieures et concepteurs/conceptrices en logiciel")
    assert body["values"]["intends_to_reside_in"]["BC"] == "Colombie-Britannique"
    detail = client.get("/v1/rulesets/express-entry.noc", headers=bearer("auditor")).get_json()
    assert detail["current"]["constants"]["tech_nocs_2016"]["items"] == "noc-2016"
    assert detail["current"]["facts"]["marital_status"]["titles"]["common_law"] == (
        "common-law partner")


def test_a_code_whose_official_french_title_no_source_gave_is_null_never_made_up(tmp_path,
                                                                                   make_app):
    root = rulesets_without_french(tmp_path, "21231")
    catalog = load_catalog(root)
    assert catalog.occupation_title("21231", "2021", "en") == "Software engineers and designers"
    assert catalog.occupation_title("21231", "2021", "fr") is None
    client = make_app(rulesets_dir=str(root)).test_client()
    french = client.get("/v1/names", headers={**bearer("auditor"), "Accept-Language": "fr"})
    body = french.get_json()
    noc2021 = next(c for c in body["classifications"] if c["id"] == "noc-2021")
    assert noc2021["codes"]["21231"] is None
    assert noc2021["codes"]["21232"] == (
        "Développeurs/développeuses et programmeurs/programmeuses de logiciels")
