"""Problem details in both languages (issue 19): an error whose detail is written from a
template (``DecisionError.said``) is answered in French from the template's translation, with
the same values; every such template in the code has its French in the ``messages`` catalogue,
with the same placeholders."""

from __future__ import annotations

import ast
import re

from babel.messages.pofile import read_po

from tests.apps import bearer
from tests.conftest import ROOT

PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def said_templates() -> dict[str, str]:
    """Every template given to ``.said(...)`` in service/, with where it is."""
    found = {}
    for path in (ROOT / "service").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr == "said" and node.args:
                template = node.args[0]
                assert isinstance(template, ast.Constant) and isinstance(template.value, str), \
                    f"{path}:{node.lineno}: a template is a literal text (it is a msgid)"
                found[template.value] = f"{path.relative_to(ROOT)}:{node.lineno}"
    return found


def test_every_template_of_a_problem_detail_has_its_french_with_the_same_placeholders():
    templates = said_templates()
    assert len(templates) >= 40
    with open(ROOT / "service/translations/fr/LC_MESSAGES/messages.po", "rb") as fh:
        catalog = read_po(fh, locale="fr")
    missing, wrong = [], []
    for template, where in sorted(templates.items()):
        entry = catalog.get(template)
        if entry is None or not entry.string or entry.fuzzy:
            missing.append(f"{where}: {template}")
        elif set(PLACEHOLDER.findall(entry.string)) != set(PLACEHOLDER.findall(template)):
            wrong.append(f"{where}: {template} -> {entry.string}")
    assert not missing, "add to messages.po:\n" + "\n".join(missing)
    assert not wrong, "placeholders differ:\n" + "\n".join(wrong)


def test_a_404_and_a_401_are_explained_in_french_when_french_is_asked_for(client):
    fr = {"Accept-Language": "fr"}
    unknown = client.post("/v1/decisions", json={"ruleset": "oinp.hcp.tech-drw", "facts": {}},
                          headers={**bearer("decider"), **fr}).get_json()
    assert unknown["status"] == 404
    assert unknown["detail"] == ("aucun ensemble de règles « oinp.hcp.tech-drw » ; vouliez-vous "
                                 "dire « oinp.hcp.tech-draw » ?"), unknown
    english = client.post("/v1/decisions", json={"ruleset": "oinp.hcp.tech-drw", "facts": {}},
                          headers=bearer("decider")).get_json()
    assert english["detail"] == "no ruleset 'oinp.hcp.tech-drw'; did you mean " \
        "'oinp.hcp.tech-draw'?"
    missing = client.get("/v1/decisions/nothing-here", headers={**bearer("auditor"), **fr})
    assert missing.get_json()["detail"] == "aucune décision « nothing-here » dans le journal"
    anonymous = client.get("/v1/decisions", headers=fr).get_json()
    assert anonymous["status"] == 401 and "jeton" in anonymous["detail"]


def test_a_said_error_keeps_its_words_between_processes():
    """Errors come back from the engine process pickled: the template must come with them."""
    import pickle

    from service.errors import EngineUnavailableError
    from service.i18n import detail_in

    error = EngineUnavailableError.said("the engine process died while starting (exit code "
                                        "{code})", code=-11)
    back = pickle.loads(pickle.dumps(error))
    assert (back.detail, back.words, back.status) == (error.detail, error.words, 503)
    assert detail_in(back, "fr") == "le processus du moteur s'est arrêté au démarrage (code " \
        "de sortie -11)"
    assert detail_in(back, "en") == error.detail
