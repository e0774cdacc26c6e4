"""The decision page of an assessment with the Express Entry categories: it says which categories
the candidate is eligible for, and lists every category with its why-not."""

from __future__ import annotations

import html as html_lib

from tests.http_api.test_assessment_api import ACCOUNTANT
from tests.pages.conftest import decide, sign_in


def page_text(client, path: str, lang: str = "en") -> str:
    response = client.get(path, headers={"Accept-Language": lang})
    assert response.status_code == 200
    return html_lib.unescape(response.get_data(as_text=True))


def test_the_page_names_the_categories_met_and_each_why_not(app):
    client = app.test_client()
    met = decide(client, ACCOUNTANT, ruleset="express-entry.assessment", as_of="2024-06-03")
    none = decide(client, {**ACCOUNTANT, "candidate_id": "C-020502", "second_language": None},
                  ruleset="express-entry.assessment", as_of="2024-06-03")
    sign_in(client, "auditor")
    title = "Express Entry category-based selection - the categories a candidate is eligible for"
    html = page_text(client, f"/decisions/{met}")
    facts_list = html.split('class="facts-list"')[1].split("</dl>")[0]
    assert f"<dt>{title}</dt>" in facts_list
    met_by = facts_list.split(f"<dt>{title}</dt>")[1].split("</dd>")[0]
    assert "French-language proficiency" in met_by and "<code" in met_by and "french" in met_by
    assert "STEM" not in met_by
    requirements = html.split('id="requirements"')[1]
    assert "express-entry.categories" in requirements and "6 months" in requirements

    html = page_text(client, f"/decisions/{none}")
    facts_list = html.split('class="facts-list"')[1].split("</dl>")[0]
    assert "None met (each one's why-not is under Requirements)" in facts_list
    french = page_text(client, f"/decisions/{none}", "fr")
    assert "Aucune satisfaite" in french.split('class="facts-list"')[1].split("</dl>")[0]
