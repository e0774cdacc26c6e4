"""The decision page links to "what would change the outcome", computed on request from the
logged facts and shown in the page's language; nothing is logged."""

from __future__ import annotations

from tests.conftest import PROFILE
from tests.pages.conftest import decide

# Without an Educational Credential Assessment the HCP stream's requirement fails: the
# assessment is the one change that meets it (tests/test_what_would_change.py).
NO_ECA = {**PROFILE, "candidate_id": "C-000300", "education_assessed": False}


def test_the_decision_page_links_to_what_would_change(app, auditor):
    decision_id = decide(app.test_client(), NO_ECA)
    page = auditor.get(f"/decisions/{decision_id}").get_data(as_text=True)
    link = f"/decisions/{decision_id}/what-would-change"
    assert f'href="{link}"' in page
    store = app.extensions["decisions"].store
    before = store.count()
    response = auditor.get(link)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<h1>What would change the outcome</h1>" in html
    assert ("With an Educational Credential Assessment of the highest credential, ") in html
    assert "<code>education_assessed</code>: no → yes" in html
    assert "Nothing on this page is written to the decision log." in html
    french = auditor.get(link, headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "<h1>Ce qui changerait le résultat</h1>" in french
    assert "Avec une évaluation des diplômes d&#39;études (EDE) du titre le plus élevé" in french
    assert store.count() == before


def test_a_met_decision_has_no_link(app, auditor):
    decision_id = decide(app.test_client(), {**PROFILE, "candidate_id": "C-000301"})
    page = auditor.get(f"/decisions/{decision_id}").get_data(as_text=True)
    assert "/what-would-change" not in page
