"""Names of things on the pages (issue 19, item 3): occupation codes with their NOC titles and enum
values as words, in both official languages, on the ruleset and decision pages."""

from __future__ import annotations

import re
from html import unescape

from tests.apps import rulesets_without_french
from tests.conftest import PROFILE
from tests.pages.conftest import decide, sign_in


def words(response) -> str:
    """The page as a person reads it: tags out, entities decoded, white space joined."""
    html = response.get_data(as_text=True)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def test_the_noc_ruleset_lists_its_codes_with_their_titles_in_both_languages(auditor):
    english = words(auditor.get("/rulesets/express-entry.noc?version=2019-07-11"))
    assert "21231 Software engineers and designers" in english
    assert "2173 Software engineers and designers" in english
    assert "0213 Computer and information systems managers" in english
    assert "21211 Data scientists" in english
    # a table row that names a code: the grid shows its title (and the NOC 2016 code it gives)
    assert "21233 Web designers" in english and "2175 Web designers and developers" in english

    french = words(auditor.get("/rulesets/express-entry.noc?version=2019-07-11",
                               headers={"Accept-Language": "fr"}))
    assert "2173 Ingénieurs/ingénieures et concepteurs/conceptrices en logiciel" in french
    assert "0213 Gestionnaires des systèmes informatiques" in french
    assert "21231 Ingénieurs/ingénieures et concepteurs/conceptrices en logiciel" in french
    assert "21211 Scientifiques des données" in french
    assert "Software engineers and designers" not in french


def test_a_code_without_its_official_french_title_is_shown_alone(make_app, tmp_path):
    """Every bundled code has its CNP title; one without (a code added before its French title
    was found, with the note the format asks for) shows the code, never a translation."""
    app = make_app(rulesets_dir=str(rulesets_without_french(tmp_path, "21231")))
    client = app.test_client()
    sign_in(client, "auditor")
    french = words(client.get("/rulesets/express-entry.noc?version=2019-07-11",
                              headers={"Accept-Language": "fr"}))
    assert "21231 (titre officiel non disponible dans cette langue)" in french
    assert "Software engineers and designers" not in french
    assert "21232 Développeurs/développeuses et programmeurs/programmeuses de logiciels" in french


def test_the_tech_draw_of_2019_names_its_six_occupations(auditor):
    french = words(auditor.get("/rulesets/oinp.hcp.tech-draw?version=2019-07-11",
                               headers={"Accept-Language": "fr"}))
    assert ("2147 Ingénieurs informaticiens/ingénieures informaticiennes (sauf "
            "ingénieurs/ingénieures et concepteurs/conceptrices en logiciel)") in french


def test_the_decision_page_shows_the_occupation_and_the_values_in_words(auditor, seeded):
    page = f"/decisions/{seeded['met']}"
    english = words(auditor.get(page))
    assert "primary_noc 2173 Software engineers and designers" in english
    assert "education bachelors bachelor's degree or a program of three years or more" in english
    assert "intends_to_reside_in ON Ontario" in english
    assert "test = clb English levels given directly" in english  # inside first_language
    # the rule that matched the occupation says which one it is
    assert "occupation.tech_2016 = 2173 Software engineers and designers" in english

    french = words(auditor.get(page, headers={"Accept-Language": "fr"}))
    assert ("primary_noc 2173 Ingénieurs/ingénieures et concepteurs/conceptrices en logiciel"
            in french)
    assert "education bachelors baccalauréat OU programme de trois ans ou plus" in french
    assert "marital_status single célibataire" in french
    # derived facts too: the NOC 2016 skill level the rulesets read from the code
    assert "occupation.noc2016_level A niveau de compétence A" in french
    assert "occupation.tech_2016 2173 Ingénieurs/ingénieures" in french


def test_a_noc_2021_occupation_is_named_by_its_noc_and_cnp_titles(app, auditor):
    decision = decide(app.test_client(), {**PROFILE, "candidate_id": "C-000321",
                                          "primary_noc": "21231", "noc_version": "2021"})
    english = words(auditor.get(f"/decisions/{decision}"))
    assert "primary_noc 21231 Software engineers and designers" in english
    french = words(auditor.get(f"/decisions/{decision}", headers={"Accept-Language": "fr"}))
    assert ("primary_noc 21231 Ingénieurs/ingénieures et concepteurs/conceptrices en logiciel"
            in french)
    assert "noc_version 2021 CNP 2021" in french
